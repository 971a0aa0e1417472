// after_func callbacks that reach back into tether while a cancellation is running them.
#include <gtest/gtest.h>

#include <atomic>

#include "tether/context.hpp"

namespace {

TEST(AfterFuncReentrancy, StopAndWaitOnASiblingQueuedOnTheSameThreadDoesNotDeadlock) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::atomic<int> runs{0};
  tether::Registration first, second;
  // Registered first, so run last (the children list is LIFO); whichever runs first finds
  // the other already detached by the same cancellation and queued on this thread.
  first = tether::after_func(ctx, [&] {
    ++runs;
    EXPECT_FALSE(second.stop_and_wait());
  });
  second = tether::after_func(ctx, [&] {
    ++runs;
    EXPECT_FALSE(first.stop_and_wait());
  });
  cancel();
  EXPECT_EQ(runs.load(), 2);
}

TEST(AfterFuncReentrancy, ACallbackMayCancelItsOwnContextAgainAndDeriveFromIt) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::CancelFunc again = cancel.func();
  bool child_done = false;
  auto reg = tether::after_func(ctx, [&, c = ctx] {
    again();  // already done: returns at once
    auto [child, child_cancel] = tether::with_cancel(c);
    child_done = child.err() == tether::errc::canceled;
  });
  cancel();
  EXPECT_TRUE(child_done);
}

TEST(AfterFuncReentrancy, ACallbackMayRegisterAnotherCallbackThatRunsAtOnce) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  int inner = 0;
  tether::Registration inner_reg;
  auto reg = tether::after_func(
      ctx, [&, c = ctx] { inner_reg = tether::after_func(c, [&] { ++inner; }); });
  cancel();
  EXPECT_EQ(inner, 1);
}

}  // namespace
