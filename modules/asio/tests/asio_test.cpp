// tether::asio: a context cancels Asio operations (sockets, timers, coroutines).
#include <gtest/gtest.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>
#include <thread>

#include "tether/asio.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using boost::system::error_code;
using Socket = net::local::stream_protocol::socket;

// Two connected sockets on one io_context.
struct SocketPair {
  net::io_context ioc;
  Socket a{ioc};
  Socket b{ioc};
  SocketPair() { net::local::connect_pair(a, b); }
};

TEST(AsioBindContext, CancelFromAnotherThreadAbortsPendingRead) {
  SocketPair s;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::array<char, 16> buf{};
  std::optional<error_code> result;
  s.a.async_read_some(net::buffer(buf), tether::asio::bind_context(
                                            ctx, [&](error_code ec, std::size_t) { result = ec; }));
  std::thread canceller([c = cancel.func()] { c(); });
  s.ioc.run_for(10s);
  canceller.join();
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, net::error::operation_aborted);
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
}

TEST(AsioBindContext, AlreadyDoneContextAbortsTheOperation) {
  SocketPair s;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  std::array<char, 16> buf{};
  std::optional<error_code> result;
  s.a.async_read_some(net::buffer(buf), tether::asio::bind_context(
                                            ctx, [&](error_code ec, std::size_t) { result = ec; }));
  s.ioc.run_for(10s);
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, net::error::operation_aborted);
}

TEST(AsioBindContext, CompletedOperationUnregistersFromContext) {
  SocketPair s;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::array<char, 16> buf{};
  std::optional<error_code> result;
  s.a.async_read_some(net::buffer(buf), tether::asio::bind_context(
                                            ctx, [&](error_code ec, std::size_t) { result = ec; }));
  EXPECT_EQ(tether::testing::registered_children(ctx), 1u);
  net::write(s.b, net::buffer("hi", 2));
  s.ioc.run_for(10s);
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result);
  EXPECT_EQ(tether::testing::registered_children(ctx), 0u);
  cancel();  // a late cancel reaches nothing
  s.ioc.restart();
  EXPECT_EQ(s.ioc.poll(), 0u);
}

TEST(AsioBindContext, DestroyedUnrunOperationUnregistersFromContext) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  {
    SocketPair s;
    std::array<char, 16> buf{};
    s.a.async_read_some(net::buffer(buf),
                        tether::asio::bind_context(ctx, [](error_code, std::size_t) {}));
    EXPECT_EQ(tether::testing::registered_children(ctx), 1u);
  }  // the io_context destroys the pending handler without running it
  EXPECT_EQ(tether::testing::registered_children(ctx), 0u);
}

TEST(AsioBindContext, DeadlineAbortsPendingRead) {
  tether::testing::ManualClock clock;
  SocketPair s;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 5s);
  std::array<char, 16> buf{};
  std::optional<error_code> result;
  s.a.async_read_some(net::buffer(buf), tether::asio::bind_context(
                                            ctx, [&](error_code ec, std::size_t) { result = ec; }));
  EXPECT_EQ(s.ioc.poll(), 0u);
  clock.advance(5s);  // fires the deadline here; the cancellation is posted to ioc
  s.ioc.run_for(10s);
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, net::error::operation_aborted);
  EXPECT_EQ(ctx.err(), tether::errc::deadline_exceeded);
}

TEST(AsioBindContext, ExplicitExecutorIsUsedForTheCancellation) {
  SocketPair s;
  auto strand = net::make_strand(s.ioc);
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::array<char, 16> buf{};
  std::optional<error_code> result;
  s.a.async_read_some(net::buffer(buf),
                      tether::asio::bind_context(
                          ctx, strand, net::bind_executor(strand, [&](error_code ec, std::size_t) {
                            EXPECT_TRUE(strand.running_in_this_thread());
                            result = ec;
                          })));
  cancel();
  s.ioc.run_for(10s);
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, net::error::operation_aborted);
}

TEST(AsioBindContext, HandlersOwnSlotStillCancels) {
  SocketPair s;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  net::cancellation_signal own;
  std::array<char, 16> buf{};
  std::optional<error_code> result;
  s.a.async_read_some(net::buffer(buf),
                      tether::asio::bind_context(
                          ctx, net::bind_cancellation_slot(
                                   own.slot(), [&](error_code ec, std::size_t) { result = ec; })));
  net::post(s.ioc, [&] { own.emit(net::cancellation_type::terminal); });
  s.ioc.run_for(10s);
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, net::error::operation_aborted);
  EXPECT_FALSE(ctx.err());
}

TEST(AsioAsyncWait, TimerWaitEndsWhenContextIsCancelled) {
  net::io_context ioc;
  net::steady_timer timer(ioc, 1h);
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::optional<error_code> result;
  tether::asio::async_wait(timer, ctx, [&](error_code ec) { result = ec; });
  std::thread canceller([c = cancel.func()] { c(); });
  ioc.run_for(10s);
  canceller.join();
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, net::error::operation_aborted);
}

TEST(AsioAsyncWait, TimerWaitCompletesNormallyWhileContextIsAlive) {
  net::io_context ioc;
  net::steady_timer timer(ioc, 1ms);
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::optional<error_code> result;
  tether::asio::async_wait(timer, ctx, [&](error_code ec) { result = ec; });
  ioc.run_for(10s);
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result);
  EXPECT_EQ(tether::testing::registered_children(ctx), 0u);
}

TEST(AsioAsyncWaitDone, CompletesWhenContextIsCancelled) {
  net::io_context ioc;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::optional<error_code> result;
  tether::asio::async_wait_done(ctx, net::bind_executor(ioc, [&](error_code ec) { result = ec; }));
  std::thread canceller([c = cancel.func()] { c(); });
  ioc.run_for(10s);  // the pending wait keeps run() from returning early
  canceller.join();
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result);
}

TEST(AsioAsyncWaitDone, KeepsIoContextRunningUntilDone) {
  net::io_context ioc;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  bool called = false;
  tether::asio::async_wait_done(ctx, net::bind_executor(ioc, [&](error_code) { called = true; }));
  EXPECT_EQ(ioc.poll(), 0u);
  EXPECT_FALSE(ioc.stopped());  // outstanding work: run() would wait
  cancel();
  ioc.run_for(10s);
  EXPECT_TRUE(called);
}

TEST(AsioAsyncWaitDone, DestroyingIoContextDestroysPendingWait) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  bool called = false;
  {
    net::io_context ioc;
    tether::asio::async_wait_done(ctx, net::bind_executor(ioc, [&](error_code) { called = true; }));
    EXPECT_EQ(ioc.poll(), 0u);
  }  // the pending wait is destroyed with its io_context, not run
  cancel();
  EXPECT_FALSE(called);
}

net::awaitable<void> read_or_done(tether::Context ctx, Socket& sock, int& winner) {
  using namespace net::experimental::awaitable_operators;
  std::array<char, 16> buf{};
  auto r = co_await (sock.async_read_some(net::buffer(buf), net::use_awaitable) ||
                     tether::asio::async_wait_done(ctx, net::use_awaitable));
  winner = static_cast<int>(r.index());
}

TEST(AsioCoroutine, ContextWinsRaceAgainstRead) {
  SocketPair s;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  int winner = -1;
  net::co_spawn(s.ioc, read_or_done(ctx, s.a, winner), net::detached);
  std::thread canceller([c = cancel.func()] { c(); });
  s.ioc.run_for(10s);
  canceller.join();
  EXPECT_EQ(winner, 1);
}

TEST(AsioCoroutine, ReadWinsRaceAndTheWaitIsCancelled) {
  SocketPair s;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  int winner = -1;
  net::co_spawn(s.ioc, read_or_done(ctx, s.a, winner), net::detached);
  net::write(s.b, net::buffer("x", 1));
  s.ioc.run_for(10s);
  EXPECT_EQ(winner, 0);
  EXPECT_TRUE(s.ioc.stopped());  // ran out of work: no wait is left pending
  EXPECT_FALSE(ctx.err());
}

net::awaitable<error_code> bound_read(tether::Context ctx, Socket& sock) {
  std::array<char, 16> buf{};
  auto [ec, n] = co_await sock.async_read_some(
      net::buffer(buf), tether::asio::bind_context(ctx, net::as_tuple(net::use_awaitable)));
  co_return ec;
}

TEST(AsioCoroutine, BoundAwaitableReadIsAbortedByContext) {
  SocketPair s;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::optional<error_code> result;
  net::co_spawn(s.ioc, bound_read(ctx, s.a), [&](std::exception_ptr e, error_code ec) {
    EXPECT_FALSE(e);
    result = ec;
  });
  std::thread canceller([c = cancel.func()] { c(); });
  s.ioc.run_for(10s);
  canceller.join();
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, net::error::operation_aborted);
}

}  // namespace
