// after_func, ported from Go's afterfunc tests (TestAfterFuncCalledAfterCancel,
// TestAfterFuncCalledAfterTimeout, TestAfterFuncCalledImmediately,
// TestAfterFuncNotCalledAfterStop) and DESIGN.md §4.
//
// One deliberate difference from Go: Go runs an AfterFunc in its own goroutine
// (TestAfterFuncCalledAsynchronously), while tether runs it on the thread that cancels,
// after the whole subtree is cancelled and with no lock held (see after_func in
// context.hpp) — so "it has run by the time cancel() returns" is tested here instead.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <optional>
#include <stdexcept>
#include <thread>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using context_test::BoundedThread;
using context_test::DestructionProbe;
using context_test::kHangBound;
using tether::testing::registered_children;

TEST(AfterFunc, RunsOnceAfterCancelNotBefore) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  int ran = 0;
  tether::Registration stop = tether::after_func(ctx, [&ran] { ++ran; });
  EXPECT_EQ(ran, 0) << "not called before the context is done";
  cancel();
  EXPECT_EQ(ran, 1) << "called by the time cancel() returns";
  cancel();
  EXPECT_EQ(ran, 1) << "called once";
  EXPECT_FALSE(stop.stop()) << "stop() after the run prevented nothing";
}

TEST(AfterFunc, RunsWhenTheDeadlinePasses) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  int ran = 0;
  tether::Registration stop = tether::after_func(ctx, [&ran] { ++ran; });
  clock.advance(999ms);
  EXPECT_EQ(ran, 0);
  clock.advance(1ms);
  EXPECT_EQ(ran, 1) << "called before advance() returns";
}

TEST(AfterFunc, OnADoneContextRunsAtOnceOnTheCallingThread) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  int ran = 0;
  std::thread::id ran_on;
  tether::Registration stop = tether::after_func(ctx, [&] {
    ++ran;
    ran_on = std::this_thread::get_id();
  });
  EXPECT_EQ(ran, 1) << "ran before after_func returned";
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_FALSE(stop.stop());
  EXPECT_EQ(registered_children(ctx), 0u);
}

TEST(AfterFunc, RunsOnTheThreadThatCancels) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::promise<std::thread::id> ran_on;
  tether::Registration stop =
      tether::after_func(ctx, [&ran_on] { ran_on.set_value(std::this_thread::get_id()); });
  std::thread::id canceller_id;
  BoundedThread t("cancel", [f = cancel.func(), &canceller_id] {
    canceller_id = std::this_thread::get_id();
    f();
  });
  t.join();
  auto got = ran_on.get_future();
  ASSERT_EQ(got.wait_for(0s), std::future_status::ready) << "ran before the canceller returned";
  EXPECT_EQ(got.get(), canceller_id);
}

// Go's TestAfterFuncNotCalledAfterStop.
TEST(AfterFunc, StopBeforeDoneReturnsTrueAndPreventsTheRun) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  int ran = 0;
  tether::Registration stop = tether::after_func(ctx, [&ran] { ++ran; });
  EXPECT_TRUE(stop.stop());
  cancel();
  EXPECT_EQ(ran, 0);
  EXPECT_FALSE(stop.stop()) << "already stopped";
}

TEST(AfterFunc, SecondStopReturnsFalse) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::Registration stop = tether::after_func(ctx, [] {});
  EXPECT_TRUE(stop.stop());
  EXPECT_FALSE(stop.stop());
  EXPECT_FALSE(stop.stop_and_wait());
}

TEST(AfterFunc, StopThroughACopyOfTheRegistrationCountsOnce) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  int ran = 0;
  tether::Registration a = tether::after_func(ctx, [&ran] { ++ran; });
  tether::Registration b = a;
  EXPECT_TRUE(b.stop());
  EXPECT_FALSE(a.stop());
  cancel();
  EXPECT_EQ(ran, 0);
}

TEST(AfterFunc, OnBackgroundNeverRunsAndStopReturnsTrue) {
  int ran = 0;
  tether::Registration stop = tether::after_func(tether::background(), [&ran] { ++ran; });
  EXPECT_EQ(ran, 0);
  EXPECT_EQ(registered_children(tether::background()), 0u);
  EXPECT_TRUE(stop.stop()) << "stop() prevented a run (that would never have happened)";
  EXPECT_FALSE(stop.stop());
}

TEST(AfterFunc, OnWithoutCancelNeverRunsEvenWhenTheOriginalParentIsCancelled) {
  auto [parent, cancel] = tether::with_cancel(tether::background());
  int ran = 0;
  tether::Registration stop = tether::after_func(tether::without_cancel(parent), [&ran] { ++ran; });
  cancel();
  EXPECT_EQ(ran, 0);
  EXPECT_TRUE(stop.stop());
}

TEST(AfterFunc, OnBackgroundHoldsNothingOnceTheHandleDrops) {
  std::atomic<int> destroyed{0};
  {
    tether::Registration stop =
        tether::after_func(tether::background(), [probe = DestructionProbe(&destroyed)] {});
  }
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(AfterFunc, CallbackIsDestroyedOnceAfterItRan) {
  std::atomic<int> destroyed{0};
  {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    tether::Registration stop = tether::after_func(ctx, [probe = DestructionProbe(&destroyed)] {});
    cancel();
  }
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(AfterFunc, CallbackIsDestroyedOnceAfterItWasStopped) {
  std::atomic<int> destroyed{0};
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  {
    tether::Registration stop = tether::after_func(ctx, [probe = DestructionProbe(&destroyed)] {});
    EXPECT_TRUE(stop.stop());
  }
  EXPECT_EQ(destroyed.load(), 1) << "stopped and unreferenced: freed before the context is";
}

TEST(AfterFunc, DroppingTheRegistrationDoesNotStopTheCallback) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  int ran = 0;
  (void)tether::after_func(ctx, [&ran] { ++ran; });
  cancel();
  EXPECT_EQ(ran, 1);
}

TEST(AfterFunc, PendingRegistrationCountsAsAChildAndStopUnregistersIt) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::Registration stop = tether::after_func(ctx, [] {});
  EXPECT_EQ(registered_children(ctx), 1u);
  EXPECT_TRUE(stop.stop());
  EXPECT_EQ(registered_children(ctx), 0u);
}

TEST(AfterFunc, PendingRegistrationKeepsADroppedContextCancellableByItsParent) {
  auto [parent, cancel] = tether::with_cancel(tether::background());
  int ran = 0;
  {
    auto d = tether::with_cancel(parent);
    (void)tether::after_func(d.ctx, [&ran] { ++ran; });
    (void)d.cancel.release();
  }
  EXPECT_EQ(registered_children(parent), 1u) << "the registration keeps the child linked";
  cancel();
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(registered_children(parent), 0u);
}

TEST(AfterFunc, RunsAfterTheWholeSubtreeIsCancelled) {
  auto [root, cancel] = tether::with_cancel(tether::background());
  auto [child, child_cancel] = tether::with_cancel(root);
  auto [grandchild, gc_cancel] = tether::with_cancel(child);
  tether::Context watched = grandchild;
  bool grandchild_done_when_root_callback_ran = false;
  tether::Registration stop = tether::after_func(root, [&] {
    grandchild_done_when_root_callback_ran = watched.err() == tether::errc::canceled;
  });
  cancel();
  EXPECT_TRUE(grandchild_done_when_root_callback_ran);
}

TEST(AfterFunc, CallbackOnADescendantRunsWhenTheRootIsCancelled) {
  auto [root, cancel] = tether::with_cancel(tether::background());
  auto [child, child_cancel] = tether::with_cancel(root);
  int ran = 0;
  tether::Registration stop = tether::after_func(child, [&ran] { ++ran; });
  cancel();
  EXPECT_EQ(ran, 1);
}

// ---- callbacks that cancel: no deadlock ----------------------------------------------------

TEST(AfterFunc, CallbackCancellingAnotherContextDoesNotDeadlock) {
  auto [a, cancel_a] = tether::with_cancel(tether::background());
  auto [b, cancel_b] = tether::with_cancel(tether::background());
  tether::Registration stop = tether::after_func(a, [f = cancel_b.func()] { f(); });
  cancel_a();
  EXPECT_EQ(b.err(), tether::errc::canceled);
}

TEST(AfterFunc, CallbackCancellingItsOwnParentDoesNotDeadlock) {
  auto [parent, cancel_parent] = tether::with_cancel(tether::background());
  auto [child, cancel_child] = tether::with_cancel(parent);
  auto [sibling, cancel_sibling] = tether::with_cancel(parent);
  tether::Registration stop = tether::after_func(child, [f = cancel_parent.func()] { f(); });
  cancel_child();
  EXPECT_EQ(parent.err(), tether::errc::canceled);
  EXPECT_EQ(sibling.err(), tether::errc::canceled);
}

TEST(AfterFunc, CallbackCancellingTheAncestorWhoseCancelIsRunningDoesNotDeadlock) {
  auto [parent, cancel_parent] = tether::with_cancel(tether::background());
  auto [child, cancel_child] = tether::with_cancel(parent);
  int ran = 0;
  tether::Registration stop = tether::after_func(child, [&ran, f = cancel_parent.func()] {
    ++ran;
    f();  // re-entrant: the parent's cancel is what is running us
  });
  cancel_parent();
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(child.err(), tether::errc::canceled);
}

TEST(AfterFunc, CallbackCancellingItsOwnContextIsHarmless) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  int ran = 0;
  tether::Registration stop = tether::after_func(ctx, [&ran, f = cancel.func()] {
    ++ran;
    f();
  });
  cancel();
  EXPECT_EQ(ran, 1);
}

TEST(AfterFunc, MutuallyCancellingCallbacksRunOnceEach) {
  auto [a, cancel_a] = tether::with_cancel(tether::background());
  auto [b, cancel_b] = tether::with_cancel(tether::background());
  int ran_a = 0;
  int ran_b = 0;
  tether::Registration ra = tether::after_func(a, [&ran_a, f = cancel_b.func()] {
    ++ran_a;
    f();
  });
  tether::Registration rb = tether::after_func(b, [&ran_b, f = cancel_a.func()] {
    ++ran_b;
    f();
  });
  cancel_a();
  EXPECT_EQ(ran_a, 1);
  EXPECT_EQ(ran_b, 1);
  EXPECT_EQ(a.err(), tether::errc::canceled);
  EXPECT_EQ(b.err(), tether::errc::canceled);
}

TEST(AfterFunc, CallbackMayRegisterAndDeriveFromTheDoneContext) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::Context self = ctx;
  int inner_ran = 0;
  bool derived_done = false;
  tether::Registration stop = tether::after_func(ctx, [&] {
    (void)tether::after_func(self, [&inner_ran] { ++inner_ran; });
    auto [derived, derived_cancel] = tether::with_cancel(self);
    derived_done = derived.err() == tether::errc::canceled;
  });
  cancel();
  EXPECT_EQ(inner_ran, 1);
  EXPECT_TRUE(derived_done);
}

TEST(AfterFunc, CallbackMayStopItsOwnRegistrationWithoutWaiting) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::Registration reg;
  std::optional<bool> stopped;
  reg = tether::after_func(ctx, [&] { stopped = reg.stop_and_wait(); });
  cancel();  // would deadlock if stop_and_wait waited for itself
  ASSERT_TRUE(stopped.has_value());
  EXPECT_FALSE(*stopped) << "the callback had already started";
}

// ---- stop_and_wait ----------------------------------------------------------------------

TEST(AfterFunc, StopAndWaitBeforeDoneReturnsTrueAndPreventsTheRun) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  int ran = 0;
  tether::Registration stop = tether::after_func(ctx, [&ran] { ++ran; });
  EXPECT_TRUE(stop.stop_and_wait());
  cancel();
  EXPECT_EQ(ran, 0);
}

// The callback runs on a canceller thread and holds on until the main thread has called
// stop_and_wait(). It then lingers for kLinger before finishing: a stop_and_wait that did not
// wait would return inside that window and see `finished == false`. The verdict never depends
// on timing (a correct implementation always passes, a non-waiting one always fails); kLinger
// is only how long the correct path takes, because "is blocked" has no observable signal.
TEST(AfterFunc, StopAndWaitWaitsForACallbackRunningOnAnotherThread) {
  constexpr auto kLinger = 100ms;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::promise<void> started;
  std::atomic<bool> stop_called{false};
  std::atomic<bool> finished{false};
  std::promise<void> unblock;  // set only after stop_and_wait returned
  std::shared_future<void> unblocked = unblock.get_future().share();
  tether::Registration reg = tether::after_func(ctx, [&, unblocked] {
    started.set_value();
    context_test::eventually([&] { return stop_called.load(); });
    unblocked.wait_for(kLinger);
    finished = true;
  });
  BoundedThread canceller("cancel (runs the callback)", [f = cancel.func()] { f(); });
  ASSERT_EQ(started.get_future().wait_for(kHangBound), std::future_status::ready);

  stop_called = true;
  const bool prevented = reg.stop_and_wait();
  const bool finished_at_return = finished.load();
  unblock.set_value();
  canceller.join();

  EXPECT_FALSE(prevented) << "the callback had already started";
  EXPECT_TRUE(finished_at_return) << "stop_and_wait returned while the callback was running";
}

TEST(AfterFunc, StopRacingCancelEitherPreventsOrRunsExactlyOnce) {
  for (int i = 0; i < 100; ++i) {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    std::atomic<int> ran{0};
    tether::Registration reg = tether::after_func(ctx, [&ran] { ran.fetch_add(1); });
    std::promise<void> go;
    std::shared_future<void> go_f = go.get_future().share();
    BoundedThread canceller("cancel", [f = cancel.func(), go_f] {
      go_f.wait();
      f();
    });
    go.set_value();
    const bool prevented = reg.stop_and_wait();
    canceller.join();
    EXPECT_EQ(ran.load(), prevented ? 0 : 1) << "iteration " << i;
  }
}

TEST(AfterFunc, RegisterRacingCancelRunsExactlyOnce) {
  for (int i = 0; i < 100; ++i) {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    std::atomic<int> ran{0};
    std::promise<void> go;
    std::shared_future<void> go_f = go.get_future().share();
    BoundedThread canceller("cancel", [f = cancel.func(), go_f] {
      go_f.wait();
      f();
    });
    go.set_value();
    tether::Registration reg = tether::after_func(ctx, [&ran] { ran.fetch_add(1); });
    canceller.join();
    EXPECT_EQ(ran.load(), 1) << "iteration " << i;
  }
}

// ---- a callback that throws ---------------------------------------------------------------

TEST(AfterFuncDeathTest, ThrowingCallbackTerminatesWithTheExceptionMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto d = tether::with_cancel(tether::background());
        (void)tether::after_func(d.ctx, [] { throw std::runtime_error("boom from callback"); });
        d.cancel();
      },
      "boom from callback");
}

TEST(AfterFuncDeathTest, ThrowingCallbackOnADoneContextTerminatesToo) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto d = tether::with_cancel(tether::background());
        d.cancel();
        (void)tether::after_func(d.ctx, [] { throw std::runtime_error("immediate boom"); });
      },
      "immediate boom");
}

}  // namespace
