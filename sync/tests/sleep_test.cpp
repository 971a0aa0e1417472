// sleep_for / sleep_until / wait(ctx, lock, cv, pred): tether/sync/sleep.hpp.
// Deadlines run on ManualClock: nothing here sleeps in real time.
#include "tether/sync/sleep.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <system_error>

#include "concurrency_test_support.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using concurrency_test::BoundedThread;
using tether::testing::ManualClock;

TEST(SleepFor, ReturnsEmptyWhenTheDurationElapses) {
  ManualClock clock;
  std::error_code result = make_error_code(tether::errc::canceled);
  BoundedThread sleeper([&] { result = tether::sleep_for(tether::background(), 5s); });
  clock.wait_for_pending(1);  // the sleeper's timer is armed
  clock.advance(5s);
  sleeper.join();
  EXPECT_FALSE(result);
}

TEST(SleepFor, DoesNotReturnBeforeTheDurationElapses) {
  ManualClock clock;
  BoundedThread sleeper([&] { (void)tether::sleep_for(tether::background(), 5s); });
  clock.wait_for_pending(1);
  clock.advance(4s);
  EXPECT_EQ(clock.pending_timers(), 1u);  // still asleep: its deadline has not fired
  clock.advance(1s);
  EXPECT_TRUE(sleeper.finished_within(concurrency_test::kBound));
}

TEST(SleepFor, ReturnsCanceledWhenTheContextIsCancelledFirst) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::error_code result;
  BoundedThread sleeper([&, c = ctx] { result = tether::sleep_for(c, 1h); });
  clock.wait_for_pending(1);
  cancel();
  sleeper.join();
  EXPECT_EQ(result, tether::errc::canceled);
}

TEST(SleepFor, ReturnsDeadlineExceededWhenTheContextDeadlineComesFirst) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  std::error_code result;
  BoundedThread sleeper([&, c = ctx] { result = tether::sleep_for(c, 5s); });
  clock.advance(1s);
  sleeper.join();
  EXPECT_EQ(result, tether::errc::deadline_exceeded);
}

TEST(SleepFor, ReturnsTheErrorAtOnceWhenTheContextIsAlreadyDone) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  EXPECT_EQ(tether::sleep_for(ctx, 1h), tether::errc::canceled);
}

TEST(SleepFor, ZeroDurationReturnsEmptyAtOnce) {
  EXPECT_FALSE(tether::sleep_for(tether::background(), 0s));
}

TEST(SleepUntil, WakesAtTheTimePointOfTethersClock) {
  ManualClock clock;
  const auto wake = tether::now() + 3s;
  std::error_code result = make_error_code(tether::errc::canceled);
  BoundedThread sleeper([&] { result = tether::sleep_until(tether::background(), wake); });
  clock.wait_for_pending(1);
  clock.advance(3s);
  sleeper.join();
  EXPECT_FALSE(result);
}

TEST(SleepUntil, PastTimePointReturnsEmptyAtOnce) {
  EXPECT_FALSE(tether::sleep_until(tether::background(), tether::now() - 1s));
}

TEST(WaitOnConditionVariable, ReturnsEmptyWhenThePredicateBecomesTrue) {
  std::mutex mu;
  std::condition_variable_any cv;
  bool ready = false;
  std::error_code result = make_error_code(tether::errc::canceled);
  BoundedThread waiter([&] {
    std::unique_lock lock(mu);
    result = tether::wait(tether::background(), lock, cv, [&] { return ready; });
    EXPECT_TRUE(lock.owns_lock());
  });
  {
    std::lock_guard lock(mu);
    ready = true;
  }
  cv.notify_all();
  waiter.join();
  EXPECT_FALSE(result);
}

TEST(WaitOnConditionVariable, ReturnsTheContextErrorWhenTheContextEndsFirst) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::mutex mu;
  std::condition_variable_any cv;
  std::error_code result;
  BoundedThread waiter([&, c = ctx] {
    std::unique_lock lock(mu);
    result = tether::wait(c, lock, cv, [] { return false; });
  });
  cancel();
  waiter.join();
  EXPECT_EQ(result, tether::errc::canceled);
}

TEST(WaitOnConditionVariable, WakesWhenCancelledByAThreadHoldingTheMutex) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::mutex mu;
  std::condition_variable_any cv;
  bool waiting = false;
  std::error_code result;
  BoundedThread waiter([&, c = ctx] {
    std::unique_lock lock(mu);
    waiting = true;
    cv.notify_all();
    result = tether::wait(c, lock, cv, [] { return false; });
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return waiting; });  // the waiter is inside tether::wait now
  cancel();                                // must not need `mu` to wake it
  lock.unlock();
  waiter.join();
  EXPECT_EQ(result, tether::errc::canceled);
}

TEST(WaitOnConditionVariable, TruePredicateWinsOverADoneContext) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  EXPECT_FALSE(tether::wait(ctx, lock, cv, [] { return true; }));
}

}  // namespace
