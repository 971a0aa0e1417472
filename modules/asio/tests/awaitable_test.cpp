// tether/asio/awaitable.hpp: done, sleep_for and run_blocking in Asio coroutines.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <thread>

#include "tether/asio/awaitable.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;

// Runs `a` to completion on a one-thread io_context; returns its value (or rethrows).
template <class T>
T run(net::io_context& ioc, net::awaitable<T> a) {
  std::optional<T> result;
  std::exception_ptr error;
  net::co_spawn(ioc, std::move(a), [&](std::exception_ptr e, T v) {
    error = e;
    result = std::move(v);
  });
  ioc.run_for(30s);
  if (error) std::rethrow_exception(error);
  EXPECT_TRUE(result) << "the coroutine did not complete";
  return result ? std::move(*result) : T{};
}

net::awaitable<bool> wait_done(tether::Context ctx) {
  co_await tether::asio::done(ctx);
  co_return ctx.err() == tether::errc::canceled;
}

TEST(AsioAwaitable, DoneCompletesWhenTheContextIsCancelledFromAnotherThread) {
  net::io_context ioc;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::thread canceller([c = cancel.func()] { c(); });
  EXPECT_TRUE(run(ioc, wait_done(ctx)));
  canceller.join();
  EXPECT_EQ(tether::testing::registered_children(ctx), 0u);
}

TEST(AsioAwaitable, DoneOnAContextAlreadyDoneReturnsAtOnce) {
  net::io_context ioc;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  EXPECT_TRUE(run(ioc, wait_done(ctx)));
}

net::awaitable<int> done_or_sleep(tether::Context waited, tether::Context sleeper) {
  using namespace net::experimental::awaitable_operators;
  auto r = co_await (tether::asio::done(waited) || tether::asio::sleep_for(sleeper, 1ms));
  co_return static_cast<int>(r.index());
}

TEST(AsioAwaitable, DoneThatLosesAnOrRaceIsCancelledAndLeavesNothingRegistered) {
  net::io_context ioc;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  EXPECT_EQ(run(ioc, done_or_sleep(ctx, tether::background())), 1);
  EXPECT_FALSE(ctx.err());
  EXPECT_EQ(tether::testing::registered_children(ctx), 0u);
}

net::awaitable<std::error_code> sleep(tether::Context ctx, std::chrono::milliseconds d) {
  co_return co_await tether::asio::sleep_for(ctx, d);
}

TEST(AsioAwaitable, SleepForReturnsNothingWhenTheTimePasses) {
  net::io_context ioc;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  EXPECT_EQ(run(ioc, sleep(ctx, 1ms)), std::error_code{});
  EXPECT_EQ(tether::testing::registered_children(ctx), 0u);
}

TEST(AsioAwaitable, SleepForReturnsCanceledWhenTheContextIsCancelledFirst) {
  net::io_context ioc;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::thread canceller([c = cancel.func()] { c(); });
  EXPECT_EQ(run(ioc, sleep(ctx, 1h)), tether::errc::canceled);
  canceller.join();
}

TEST(AsioAwaitable, SleepForReturnsDeadlineExceededAtTheContextsDeadline) {
  tether::testing::ManualClock clock;
  net::io_context ioc;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 5s);
  std::optional<std::error_code> result;
  net::co_spawn(ioc, sleep(ctx, 1h), [&](std::exception_ptr, std::error_code ec) { result = ec; });
  ioc.poll();  // the coroutine is now suspended in the sleep
  EXPECT_FALSE(result);
  clock.advance(5s);  // the deadline's cancellation is posted to ioc
  ioc.run_for(30s);
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, tether::errc::deadline_exceeded);
}

net::awaitable<bool> blocking_on_pool(tether::Context ctx, net::thread_pool& pool) {
  const auto io_thread = std::this_thread::get_id();
  std::thread::id call_thread;
  std::error_code seen =
      co_await tether::asio::run_blocking(ctx, pool.get_executor(), [&](const tether::Context& c) {
        call_thread = std::this_thread::get_id();
        c.done().wait();  // blocks until the context ends
        return c.err();
      });
  co_return seen == tether::errc::canceled&& call_thread !=
      io_thread&& std::this_thread::get_id() == io_thread;
}

TEST(AsioAwaitable, RunBlockingRunsOnThePoolHandsItTheContextAndResumesOnTheCoroutinesThread) {
  net::thread_pool pool(1);
  net::io_context ioc;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::thread canceller([c = cancel.func()] { c(); });
  EXPECT_TRUE(run(ioc, blocking_on_pool(ctx, pool)));
  canceller.join();
  pool.join();
}

net::awaitable<bool> blocking_that_throws(tether::Context ctx, net::thread_pool& pool) {
  try {
    co_await tether::asio::run_blocking(ctx, pool.get_executor(), [](const tether::Context&) {
      throw std::runtime_error("disk on fire");
    });
  } catch (const std::runtime_error& e) {
    co_return std::string(e.what()) == "disk on fire";
  }
  co_return false;
}

TEST(AsioAwaitable, RunBlockingRethrowsTheCallsException) {
  net::thread_pool pool(1);
  net::io_context ioc;
  EXPECT_TRUE(run(ioc, blocking_that_throws(tether::background(), pool)));
  pool.join();
}

}  // namespace
