// tether::curl::perform(): one transfer on the calling thread, against real sockets on
// 127.0.0.1 (test_server.hpp).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "curl_test_support.hpp"
#include "test_server.hpp"
#include "tether/curl.hpp"

using namespace std::chrono_literals;
using tether_test::Easy;
using tether_test::ms_since;
using tether_test::TestServer;

namespace {

// A port nobody listens on: bound, then closed.
std::uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Signals once: the first body chunk arrived.
struct FirstChunk {
  std::mutex mu;
  std::condition_variable cv;
  bool seen = false;
  void notify() {
    {
      std::lock_guard lock(mu);
      seen = true;
    }
    cv.notify_all();
  }
  bool wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return seen; });
  }
};

}  // namespace

TEST(CurlPerform, CompletesWithTheBodyAndNoError) {
  TestServer server;
  Easy easy(server.url("/hello"));
  std::string body;
  auto ec = tether::curl::perform(tether::background(), easy,
                                  {.on_body = [&](std::string_view b) { body.append(b); }});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(body, "hello");
  EXPECT_EQ(easy.status(), 200);
}

TEST(CurlPerform, ServerThatNeverAnswersEndsAtTheDeadlineWithDeadlineExceeded) {
  TestServer server;
  Easy easy(server.url("/silent"));
  const auto timeout = 300ms;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), timeout);
  tether_test::expect_ends_at_the_deadline(ctx, "perform",
                                           [&, c = ctx] { return tether::curl::perform(c, easy); });
  EXPECT_EQ(server.accepted(), 1);
}

TEST(CurlPerform, CancelMidDownloadEndsPromptlyAndTheServerSeesTheConnectionClose) {
  TestServer server;
  Easy easy(server.url("/slow?n=200&ms=10"));  // 2 s of body
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  FirstChunk first;
  std::chrono::steady_clock::time_point cancelled_at;
  std::thread canceller([&, cancel_fn = cancel.func()] {
    if (!first.wait(10s)) return;
    cancelled_at = std::chrono::steady_clock::now();
    cancel_fn();
  });
  std::size_t bytes = 0;
  auto ec = tether::curl::perform(ctx, easy, {.on_body = [&](std::string_view b) {
                                    bytes += b.size();
                                    first.notify();
                                  }});
  const auto returned_at = std::chrono::steady_clock::now();
  canceller.join();
  EXPECT_EQ(ec, tether::errc::canceled) << ec.message();
  EXPECT_GT(bytes, 0u);
  EXPECT_LT(bytes, 200u * 64);
  ASSERT_TRUE(server.wait_closed(1, 5s));
  const double end_ms = ms_since(cancelled_at, returned_at);
  const double close_ms = ms_since(cancelled_at, server.last_close());
  std::printf(
      "[ measure ] perform, cancel mid-download: returned after %.2f ms, server saw "
      "the close after %.2f ms\n",
      end_ms, close_ms);
  EXPECT_LT(end_ms, tether_test::kPromptly.count());
  EXPECT_LT(close_ms, tether_test::kPromptly.count());
}

TEST(CurlPerform, ContextAlreadyDoneMakesNoConnection) {
  TestServer server;
  Easy easy(server.url("/hello"));
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  EXPECT_EQ(tether::curl::perform(ctx, easy), tether::errc::canceled);
  auto [expired, c2] = tether::with_timeout(tether::background(), -1ms);
  EXPECT_EQ(tether::curl::perform(expired, easy), tether::errc::deadline_exceeded);
  // A transfer that does connect is the first connection the server sees.
  EXPECT_FALSE(
      tether::curl::perform(tether::background(), easy, {.on_body = [](std::string_view) {}}));
  EXPECT_EQ(server.accepted(), 1);
}

TEST(CurlPerform, HandleIsReusableAndACutOffConnectionIsNotReused) {
  TestServer server;
  Easy easy(server.url("/slow?n=200&ms=10"));
  {
    auto [ctx, cancel] = tether::with_timeout(tether::background(), 100ms);
    EXPECT_EQ(tether::curl::perform(ctx, easy, {.on_body = [](std::string_view) {}}),
              tether::errc::deadline_exceeded);
  }
  easy.url(server.url("/hello"));
  std::string body;
  auto ec = tether::curl::perform(tether::background(), easy,
                                  {.on_body = [&](std::string_view b) { body.append(b); }});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(body, "hello");
  EXPECT_EQ(server.accepted(), 2);  // a new connection: the cut-off one was closed
  EXPECT_GE(server.closed(), 1);
}

TEST(CurlPerform, ConnectionsAreReusedAcrossCallsOnOneThread) {
  TestServer server;
  Easy easy(server.url("/hello"));
  for (int i = 0; i < 3; ++i)
    EXPECT_FALSE(
        tether::curl::perform(tether::background(), easy, {.on_body = [](std::string_view) {}}));
  EXPECT_EQ(server.accepted(), 1);
}

TEST(CurlPerform, InvalidUrlIsACurlError) {
  Easy easy("nonsense://x");
  auto ec = tether::curl::perform(tether::background(), easy);
  EXPECT_EQ(ec, tether::curl::make_error_code(CURLE_UNSUPPORTED_PROTOCOL)) << ec.message();
  EXPECT_EQ(&ec.category(), &tether::curl::category());
  Easy malformed("http://[::1");
  auto ec2 = tether::curl::perform(tether::background(), malformed);
  EXPECT_EQ(ec2, tether::curl::make_error_code(CURLE_URL_MALFORMAT)) << ec2.message();
}

TEST(CurlPerform, UnreachableHostIsCouldntConnect) {
  Easy easy("http://127.0.0.1:" + std::to_string(unused_port()) + "/");
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 5s);
  auto ec = tether::curl::perform(ctx, easy);
  EXPECT_EQ(ec, tether::curl::make_error_code(CURLE_COULDNT_CONNECT)) << ec.message();
  EXPECT_NE(ec, tether::errc::canceled);
  EXPECT_NE(ec, tether::errc::deadline_exceeded);
}

TEST(CurlPerform, NullHandleIsBadFunctionArgument) {
  EXPECT_EQ(tether::curl::perform(tether::background(), nullptr),
            tether::curl::make_error_code(CURLE_BAD_FUNCTION_ARGUMENT));
}

TEST(CurlPerform, BodyCallbackThatThrowsIsRethrownAndTheHandleStaysUsable) {
  TestServer server;
  Easy easy(server.url("/slow?n=5&ms=1"));
  EXPECT_THROW((void)tether::curl::perform(
                   tether::background(), easy,
                   {.on_body = [](std::string_view) { throw std::runtime_error("no room"); }}),
               std::runtime_error);
  easy.url(server.url("/hello"));
  std::string body;
  EXPECT_FALSE(tether::curl::perform(tether::background(), easy,
                                     {.on_body = [&](std::string_view b) { body.append(b); }}));
  EXPECT_EQ(body, "hello");
}

TEST(CurlPerform, HandleTimeoutIsClearedAfterTheCall) {
  TestServer server;
  Easy easy(server.url("/slow?n=30&ms=10"));  // 300 ms
  {
    auto [ctx, cancel] = tether::with_timeout(tether::background(), 5s);
    EXPECT_FALSE(tether::curl::perform(ctx, easy, {.on_body = [](std::string_view) {}}));
  }
  // If CURLOPT_TIMEOUT_MS were left at a small value this would fail; it was reset to 0.
  auto [short_ctx, c2] = tether::with_timeout(tether::background(), 10ms);
  (void)tether::curl::perform(short_ctx, easy, {.on_body = [](std::string_view) {}});
  std::string body;
  EXPECT_FALSE(tether::curl::perform(tether::background(), easy,
                                     {.on_body = [&](std::string_view b) { body.append(b); }}));
  EXPECT_EQ(body.size(), 30u * 64);
}

TEST(CurlPerform, ErrorsCarryCurlsCategoryAndMessage) {
  auto ec = tether::curl::make_error_code(CURLE_COULDNT_CONNECT);
  EXPECT_STREQ(ec.category().name(), "curl");
  EXPECT_EQ(ec.message(), curl_easy_strerror(CURLE_COULDNT_CONNECT));
  EXPECT_FALSE(tether::curl::make_error_code(CURLE_OK));
  EXPECT_STREQ(tether::curl::make_error_code(CURLM_OUT_OF_MEMORY).category().name(), "curl.multi");
}

TEST(CurlPerform, LeavesNoDescriptorsBehindOnceItsThreadExits) {
  TestServer server;
  const std::string before_list = tether_test::describe_descriptors();
  const int before = tether_test::open_descriptors();
  std::thread worker([&] {
    for (int i = 0; i < 6; ++i) {
      // Slow bodies are cancelled at their first chunk, by the transfer's own thread: a
      // deadline would leave the timer thread holding the last context (and its eventfd)
      // for a moment after the call returns, which is not a leak but would be counted.
      const bool slow = i % 2 == 0;
      Easy easy(server.url(slow ? "/slow?n=100&ms=10" : "/hello"));
      auto [ctx, cancel] = tether::with_cancel(tether::background());
      auto ec = tether::curl::perform(
          ctx, easy, {.on_body = [cancel_fn = cancel.func(), slow](std::string_view) {
            if (slow) cancel_fn();
          }});
      EXPECT_EQ(ec, slow ? tether::errc::canceled : std::error_code()) << ec.message();
    }
  });
  worker.join();  // every connection was answered, so accepted; the thread's multi is gone
  ASSERT_TRUE(server.wait_closed(server.accepted(), 5s));
  EXPECT_EQ(tether_test::open_descriptors(), before) << "before:\n"
                                                     << before_list << "after:\n"
                                                     << tether_test::describe_descriptors();
}
