// tether::curl::Driver: many transfers on one thread, each under its own context.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "curl_test_support.hpp"
#include "test_server.hpp"
#include "tether/curl.hpp"

using namespace std::chrono_literals;
using tether_test::Easy;
using tether_test::ms_since;
using tether_test::TestServer;

TEST(CurlDriver, PerformRunsATransferAndReturnsItsResult) {
  TestServer server;
  tether::curl::Driver driver;
  Easy easy(server.url("/hello"));
  std::string body;
  auto ec = driver.perform(tether::background(), easy,
                           {.on_body = [&](std::string_view b) { body.append(b); }});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(body, "hello");
  EXPECT_EQ(driver.active(), 0u);
}

TEST(CurlDriver, ServerThatNeverAnswersEndsAtTheDeadlineWithDeadlineExceeded) {
  TestServer server;
  tether::curl::Driver driver;
  Easy easy(server.url("/silent"));
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 300ms);
  tether_test::expect_ends_at_the_deadline(ctx, "driver",
                                           [&, c = ctx] { return driver.perform(c, easy); });
}

TEST(CurlDriver, ContextAlreadyDoneIsReadyAtOnceWithoutConnecting) {
  TestServer server;
  tether::curl::Driver driver;
  Easy easy(server.url("/hello"));
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  auto t = driver.start(ctx, easy);
  EXPECT_TRUE(t.ready());
  EXPECT_EQ(t.wait(), tether::errc::canceled);
  EXPECT_FALSE(driver.perform(tether::background(), easy, {.on_body = [](std::string_view) {}}));
  EXPECT_EQ(server.accepted(), 1);
}

TEST(CurlDriver, CancellingOneTransferLeavesTheOthersRunning) {
  TestServer server;
  tether::curl::Driver driver;
  Easy slow1(server.url("/slow?n=20&ms=10")), slow2(server.url("/slow?n=20&ms=10"));
  auto [ctx1, cancel1] = tether::with_cancel(tether::background());
  std::size_t bytes2 = 0;
  auto t1 = driver.start(ctx1, slow1, {.on_body = [](std::string_view) {}});
  auto t2 = driver.start(tether::background(), slow2,
                         {.on_body = [&](std::string_view b) { bytes2 += b.size(); }});
  ASSERT_TRUE(server.wait_requests(2));
  cancel1();
  EXPECT_EQ(t1.wait(), tether::errc::canceled);
  EXPECT_FALSE(t2.wait());
  EXPECT_EQ(bytes2, 20u * 64);
}

TEST(CurlDriver, DestroyingAnUnfinishedTransferCancelsItAndReleasesTheHandle) {
  TestServer server;
  tether::curl::Driver driver;
  Easy easy(server.url("/slow?n=200&ms=10"));
  {
    auto t = driver.start(tether::background(), easy, {.on_body = [](std::string_view) {}});
    ASSERT_TRUE(server.wait_requests(1));
  }  // ~Transfer
  EXPECT_EQ(driver.active(), 0u);
  ASSERT_TRUE(server.wait_closed(1));
  easy.url(server.url("/hello"));
  EXPECT_FALSE(driver.perform(tether::background(), easy, {.on_body = [](std::string_view) {}}));
}

TEST(CurlDriver, DestroyingTheDriverEndsRunningTransfersWithCanceled) {
  TestServer server;
  Easy easy(server.url("/silent"));
  tether::curl::Transfer t;
  {
    tether::curl::Driver driver;
    t = driver.start(tether::background(), easy);
    ASSERT_TRUE(server.wait_requests(1));
  }
  EXPECT_TRUE(t.ready());
  EXPECT_EQ(t.wait(), tether::errc::canceled);
}

TEST(CurlDriver, BodyCallbackThatThrowsIsRethrownByWait) {
  TestServer server;
  tether::curl::Driver driver;
  Easy easy(server.url("/hello"));
  auto t = driver.start(tether::background(), easy,
                        {.on_body = [](std::string_view) { throw std::runtime_error("no room"); }});
  EXPECT_THROW((void)t.wait(), std::runtime_error);
  EXPECT_FALSE(driver.perform(tether::background(), easy, {.on_body = [](std::string_view) {}}));
}

TEST(CurlDriver, InvalidUrlIsACurlError) {
  tether::curl::Driver driver;
  Easy easy("nonsense://x");
  EXPECT_EQ(driver.perform(tether::background(), easy),
            tether::curl::make_error_code(CURLE_UNSUPPORTED_PROTOCOL));
  EXPECT_EQ(driver.perform(tether::background(), nullptr),
            tether::curl::make_error_code(CURLE_BAD_FUNCTION_ARGUMENT));
}

TEST(CurlDriver, StartIsSafeFromManyThreads) {
  TestServer server;
  tether::curl::Driver driver;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      Easy easy(server.url("/hello"));
      for (int j = 0; j < 5; ++j)
        if (!driver.perform(tether::background(), easy, {.on_body = [](std::string_view) {}}))
          ok.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
}

namespace {

tether_test::Detached fetch(tether::Context ctx, tether::curl::Driver& driver, CURL* easy,
                            std::promise<std::pair<std::error_code, std::thread::id>>& out) {
  std::error_code ec = co_await driver.start(ctx, easy, {.on_body = [](std::string_view) {}});
  out.set_value({ec, std::this_thread::get_id()});
}

tether_test::Detached fetch_twice(tether::curl::Driver& driver, CURL* a, CURL* b,
                                  std::promise<std::error_code>& out) {
  std::error_code first =
      co_await driver.start(tether::background(), a, {.on_body = [](std::string_view) {}});
  // On the driver thread now: starting (and awaiting) another transfer is fine.
  std::error_code second =
      co_await driver.start(tether::background(), b, {.on_body = [](std::string_view) {}});
  out.set_value(first ? first : second);
}

}  // namespace

TEST(CurlDriver, CoAwaitResumesOnTheDriverThreadWithTheResult) {
  TestServer server;
  tether::curl::Driver driver;
  Easy easy(server.url("/slow?n=5&ms=20"));  // 100 ms: still running when awaited
  std::promise<std::pair<std::error_code, std::thread::id>> done;
  auto result = done.get_future();
  fetch(tether::background(), driver, easy, done);
  auto [ec, thread] = result.get();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_NE(thread, std::this_thread::get_id());
}

TEST(CurlDriver, CoAwaitACancelledTransferGivesTheContextsError) {
  TestServer server;
  tether::curl::Driver driver;
  Easy easy(server.url("/silent"));
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 50ms);
  std::promise<std::pair<std::error_code, std::thread::id>> done;
  auto result = done.get_future();
  fetch(ctx, driver, easy, done);
  EXPECT_EQ(result.get().first, tether::errc::deadline_exceeded);
}

TEST(CurlDriver, CoAwaitedCoroutineMayStartMoreTransfers) {
  TestServer server;
  tether::curl::Driver driver;
  Easy a(server.url("/hello")), b(server.url("/hello"));
  std::promise<std::error_code> done;
  auto result = done.get_future();
  fetch_twice(driver, a, b, done);
  EXPECT_FALSE(result.get());
}

namespace {

// A coroutine whose frame the test owns (and may destroy while it is suspended).
struct Owned {
  struct promise_type {
    Owned get_return_object() noexcept {
      return Owned{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> handle;
};

Owned await_forever(tether::curl::Driver& driver, CURL* easy, std::atomic<bool>& resumed) {
  (void)co_await driver.start(tether::background(), easy);
  resumed.store(true);
}

}  // namespace

TEST(CurlDriver, DestroyingASuspendedCoroutineCancelsItsTransferWithoutResumingIt) {
  TestServer server;
  tether::curl::Driver driver;
  Easy easy(server.url("/silent"));
  std::atomic<bool> resumed{false};
  Owned coro = await_forever(driver, easy, resumed);
  ASSERT_TRUE(server.wait_requests(1));
  EXPECT_EQ(driver.active(), 1u);
  coro.handle.destroy();  // ~Transfer inside the frame: cancel, wait for the driver
  EXPECT_EQ(driver.active(), 0u);
  ASSERT_TRUE(server.wait_closed(1));
  EXPECT_FALSE(resumed.load());
}

TEST(CurlDriver, CancellingAParentEndsEveryTransferDerivedFromIt) {
  TestServer server;
  tether::curl::Driver driver;
  auto [parent, cancel_parent] = tether::with_cancel(tether::background());
  std::vector<std::unique_ptr<Easy>> handles;
  std::vector<tether::ScopedCancel> cancels;
  std::vector<tether::curl::Transfer> transfers;
  for (int i = 0; i < 10; ++i) {
    handles.push_back(std::make_unique<Easy>(server.url("/silent")));
    auto [child, cancel_child] = tether::with_timeout(parent, 1h);  // each its own context
    cancels.push_back(std::move(cancel_child));
    transfers.push_back(driver.start(child, *handles.back()));
  }
  ASSERT_TRUE(server.wait_requests(10));
  cancel_parent();
  for (auto& t : transfers) EXPECT_EQ(t.wait(), tether::errc::canceled);
  EXPECT_EQ(driver.active(), 0u);
  EXPECT_TRUE(server.wait_closed(10));
}
