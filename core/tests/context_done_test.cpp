// Done: the waitable view of a context (Go's `<-ctx.Done()`): ready(), wait(), wait_for(),
// wait_until() and fd(). Waits are bounded; the only real-time waits are the tiny timeouts
// that prove wait_for on a never-done context returns false (only the boolean is asserted).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <future>
#include <memory>
#include <vector>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using context_test::BoundedThread;
using context_test::kHangBound;

// poll() for readability; timeout in milliseconds (0 = just look).
bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  const int n = ::poll(&p, 1, timeout_ms);
  return n == 1 && (p.revents & POLLIN) != 0;
}

constexpr int kPollBoundMs = static_cast<int>(std::chrono::milliseconds(kHangBound).count());

TEST(Done, ReadyTracksErr) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::Done done = ctx.done();
  EXPECT_FALSE(done.ready());
  cancel();
  EXPECT_TRUE(done.ready()) << "a Done taken before the cancel sees it";
  EXPECT_TRUE(ctx.done().ready());
}

TEST(Done, WaitForOnBackgroundReturnsFalseAfterTheTimeout) {
  EXPECT_FALSE(tether::background().done().wait_for(1ms));
  EXPECT_FALSE(tether::todo().done().wait_for(1us));
}

TEST(Done, WaitUntilOnBackgroundReturnsFalseAfterTheDeadline) {
  EXPECT_FALSE(tether::background().done().wait_until(std::chrono::steady_clock::now() + 1ms));
  EXPECT_FALSE(tether::background().done().wait_until(std::chrono::system_clock::now() + 1ms));
}

TEST(Done, WaitForWithZeroOrNegativeTimeoutDoesNotBlock) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  EXPECT_FALSE(ctx.done().wait_for(0s));
  EXPECT_FALSE(ctx.done().wait_for(-1s));
  EXPECT_FALSE(ctx.done().wait_until(std::chrono::steady_clock::now() - 1h));
  cancel();
  EXPECT_TRUE(ctx.done().wait_for(0s));
  EXPECT_TRUE(ctx.done().wait_for(-1s));
}

TEST(Done, WaitForWithAHugeTimeoutReturnsOnceDone) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  EXPECT_TRUE(ctx.done().wait_for(std::chrono::hours::max()));
  EXPECT_TRUE(ctx.done().wait_until(std::chrono::steady_clock::time_point::max()));
}

TEST(Done, WaitOnWithoutCancelTimesOut) {
  auto [parent, cancel] = tether::with_cancel(tether::background());
  tether::Context detached = tether::without_cancel(parent);
  cancel();
  EXPECT_FALSE(detached.done().wait_for(1ms));
}

TEST(Done, WaitReturnsAfterCancelFromAnotherThread) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::Context waited = ctx;
  std::promise<void> waiting;
  BoundedThread waiter("wait()", [waited, &waiting] {
    waiting.set_value();
    waited.done().wait();
  });
  ASSERT_EQ(waiting.get_future().wait_for(kHangBound), std::future_status::ready);
  cancel();
  EXPECT_TRUE(waiter.finished_within(kHangBound)) << "wait() did not return after cancel";
  waiter.join();
}

TEST(Done, WaitForReturnsTrueWhenCancelledFromAnotherThread) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::Context waited = ctx;
  std::promise<bool> result;
  BoundedThread waiter("wait_for()",
                       [waited, &result] { result.set_value(waited.done().wait_for(kHangBound)); });
  cancel();
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(kHangBound), std::future_status::ready);
  EXPECT_TRUE(f.get());
  waiter.join();
}

TEST(Done, ManyWaitersAreAllWokenByOneCancel) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::Context waited = ctx;
  std::vector<std::unique_ptr<BoundedThread>> waiters;
  for (int i = 0; i < 16; ++i) {
    waiters.push_back(
        std::make_unique<BoundedThread>("waiter", [waited] { waited.done().wait(); }));
  }
  cancel();
  for (auto& w : waiters) EXPECT_TRUE(w->finished_within(kHangBound));
  for (auto& w : waiters) w->join();
}

TEST(Done, WaitOnAValueChildIsWokenByItsAncestor) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  const tether::Key<int> key{"k"};
  tether::Context child = tether::with_value(ctx, key, 1);
  BoundedThread waiter("wait on value child", [child] { child.done().wait(); });
  cancel();
  EXPECT_TRUE(waiter.finished_within(kHangBound));
}

// ---- fd() ----------------------------------------------------------------------------------

TEST(Done, FdBecomesReadableAfterCancelNotBefore) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  const int fd = ctx.done().fd();
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(readable(fd, 0)) << "not readable before the cancel";
  cancel();
  EXPECT_TRUE(readable(fd, kPollBoundMs)) << "readable after the cancel";
  EXPECT_TRUE(readable(fd, 0)) << "and stays readable (level-triggered, like a closed channel)";
}

TEST(Done, FdIsTheSameOnEveryCall) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  const int fd = ctx.done().fd();
  EXPECT_EQ(ctx.done().fd(), fd);
  tether::Context copy = ctx;
  EXPECT_EQ(copy.done().fd(), fd);
}

TEST(Done, FdOfAnAlreadyDoneContextIsReadable) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  const int fd = ctx.done().fd();
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(readable(fd, kPollBoundMs));
}

TEST(Done, FdBecomesReadableWhenAnAncestorIsCancelled) {
  auto [root, cancel] = tether::with_cancel(tether::background());
  auto [child, child_cancel] = tether::with_cancel(root);
  const int fd = child.done().fd();
  EXPECT_FALSE(readable(fd, 0));
  cancel();
  EXPECT_TRUE(readable(fd, kPollBoundMs));
}

TEST(Done, FdBecomesReadableWhenTheDeadlinePasses) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  const int fd = ctx.done().fd();
  clock.advance(999ms);
  EXPECT_FALSE(readable(fd, 0));
  clock.advance(1ms);
  EXPECT_TRUE(readable(fd, kPollBoundMs));
}

TEST(Done, FdWakesAPollerOnAnotherThread) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  const int fd = ctx.done().fd();
  std::promise<bool> result;
  BoundedThread poller("poll", [fd, &result] { result.set_value(readable(fd, kPollBoundMs)); });
  cancel();
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(kHangBound), std::future_status::ready);
  EXPECT_TRUE(f.get());
}

TEST(Done, FdOfBackgroundIsValidAndNeverReadable) {
  const int fd = tether::background().done().fd();
  ASSERT_GE(fd, 0);
  EXPECT_NE(::fcntl(fd, F_GETFD), -1) << "a valid, open descriptor";
  EXPECT_FALSE(readable(fd, 0));
  EXPECT_FALSE(readable(fd, 1));
}

TEST(Done, FdOfWithoutCancelIsNeverReadableEvenAfterParentCancel) {
  auto [parent, cancel] = tether::with_cancel(tether::background());
  tether::Context detached = tether::without_cancel(parent);
  const int fd = detached.done().fd();
  ASSERT_GE(fd, 0);
  cancel();
  EXPECT_FALSE(readable(fd, 0));
  EXPECT_EQ(fd, tether::background().done().fd()) << "never-done contexts share one descriptor";
}

TEST(Done, DistinctContextsHaveDistinctFds) {
  auto [a, cancel_a] = tether::with_cancel(tether::background());
  auto [b, cancel_b] = tether::with_cancel(tether::background());
  const int fa = a.done().fd();
  const int fb = b.done().fd();
  EXPECT_NE(fa, fb);
  cancel_a();
  EXPECT_TRUE(readable(fa, kPollBoundMs));
  EXPECT_FALSE(readable(fb, 0));
}

}  // namespace
