// tether::cause(ctx), ported case by case from Go's TestCause table, plus TestCauseRace,
// TestWithCancelSimultaneouslyCanceledParent's cause check, and the deadline-cause
// variants (WithDeadlineCause / WithTimeoutCause). Deadline cases run on ManualClock.
//
// Rules (Go's): the first cancel wins both err and cause; a parent cancelled first gives its
// cause to every child; a child cancelled first keeps its own; "no cause" means the cause is
// err() itself.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using context_test::BoundedThread;
using context_test::make_cause;
using tether::testing::ManualClock;

constexpr auto kForever = std::chrono::seconds(1000000);

// The Go test's causes, each with its own code so a mix-up cannot pass.
tether::Cause parent_cause() { return make_cause(std::errc::connection_aborted, "parentCause"); }
tether::Cause child_cause() { return make_cause(std::errc::connection_reset, "childCause"); }
tether::Cause too_slow() { return make_cause(std::errc::timed_out, "tooSlow"); }
tether::Cause finished_early() { return make_cause(std::errc::interrupted, "finishedEarly"); }

// Expects cause(ctx) to be the given cause (same code and message).
void expect_cause(const tether::Context& ctx, const tether::Cause& want) {
  const tether::Cause got = tether::cause(ctx);
  ASSERT_TRUE(got) << "no cause; want " << want.message();
  EXPECT_EQ(got.code(), want.code()) << got.message();
  EXPECT_EQ(got.message(), want.message());
}

// Expects cause(ctx) to be "no cause given": a cause holding exactly err().
void expect_cause_is_err(const tether::Context& ctx, tether::errc err) {
  EXPECT_EQ(ctx.err(), err);
  const tether::Cause got = tether::cause(ctx);
  ASSERT_TRUE(got);
  EXPECT_EQ(got.code(), tether::make_error_code(err)) << got.message();
}

TEST(Cause, BackgroundAndTodoHaveNoErrAndNoCause) {
  EXPECT_FALSE(tether::background().err());
  EXPECT_FALSE(tether::cause(tether::background()));
  EXPECT_FALSE(tether::todo().err());
  EXPECT_FALSE(tether::cause(tether::todo()));
}

TEST(Cause, IsEmptyWhileTheContextIsAlive) {
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  EXPECT_FALSE(tether::cause(ctx));
}

TEST(Cause, WithCancelCancelledHasCauseCanceled) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  expect_cause_is_err(ctx, tether::errc::canceled);
}

TEST(Cause, WithCancelCauseRecordsTheCause) {
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  cancel(parent_cause());
  EXPECT_EQ(ctx.err(), tether::errc::canceled) << "err() stays canceled; the cause says why";
  expect_cause(ctx, parent_cause());
}

TEST(Cause, WithCancelCauseWithEmptyCauseHasCauseCanceled) {
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  cancel(tether::Cause());
  expect_cause_is_err(ctx, tether::errc::canceled);
}

TEST(Cause, FirstCancelWinsErrAndCause) {
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  cancel(parent_cause());
  cancel(child_cause());
  cancel();
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  expect_cause(ctx, parent_cause());
}

TEST(Cause, ParentCancelledFirstGivesChildrenTheParentsCause) {
  auto [parent, cancel_parent] = tether::with_cancel_cause(tether::background());
  auto [ctx, cancel_child] = tether::with_cancel_cause(parent);
  cancel_parent(parent_cause());
  cancel_child(child_cause());
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  expect_cause(ctx, parent_cause());
}

TEST(Cause, ChildCancelledFirstKeepsItsOwnCause) {
  auto [parent, cancel_parent] = tether::with_cancel_cause(tether::background());
  auto [ctx, cancel_child] = tether::with_cancel_cause(parent);
  cancel_child(child_cause());
  cancel_parent(parent_cause());
  expect_cause(ctx, child_cause());
  expect_cause(parent, parent_cause());
}

TEST(Cause, ParentCauseBeforeChildWithoutCauseGivesParentCause) {
  auto [parent, cancel_parent] = tether::with_cancel_cause(tether::background());
  auto [ctx, cancel_child] = tether::with_cancel(parent);
  cancel_parent(parent_cause());
  cancel_child();
  expect_cause(ctx, parent_cause());
}

TEST(Cause, ChildWithoutCauseCancelledBeforeParentCauseKeepsCanceled) {
  auto [parent, cancel_parent] = tether::with_cancel_cause(tether::background());
  auto [ctx, cancel_child] = tether::with_cancel(parent);
  cancel_child();
  cancel_parent(parent_cause());
  expect_cause_is_err(ctx, tether::errc::canceled);
}

TEST(Cause, ChildCauseAfterParentWithoutCauseIsCanceled) {
  auto [parent, cancel_parent] = tether::with_cancel(tether::background());
  auto [ctx, cancel_child] = tether::with_cancel_cause(parent);
  cancel_parent();
  cancel_child(child_cause());
  expect_cause_is_err(ctx, tether::errc::canceled);
}

TEST(Cause, ChildCauseBeforeParentWithoutCauseIsKept) {
  auto [parent, cancel_parent] = tether::with_cancel(tether::background());
  auto [ctx, cancel_child] = tether::with_cancel_cause(parent);
  cancel_child(child_cause());
  cancel_parent();
  expect_cause(ctx, child_cause());
}

TEST(Cause, ParentsCauseReachesValueChildrenAndGrandchildren) {
  auto [parent, cancel_parent] = tether::with_cancel_cause(tether::background());
  const tether::Key<int> key{"k"};
  tether::Context value = tether::with_value(parent, key, 1);
  auto [grandchild, gc_cancel] = tether::with_cancel(value);
  cancel_parent(parent_cause());
  expect_cause(value, parent_cause());
  expect_cause(grandchild, parent_cause());
}

// ---- deadlines ----------------------------------------------------------------------------

TEST(Cause, ZeroTimeoutHasCauseDeadlineExceeded) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 0s);
  cancel();
  expect_cause_is_err(ctx, tether::errc::deadline_exceeded);
}

TEST(Cause, TimeoutCancelledHasCauseCanceled) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), kForever);
  cancel();
  expect_cause_is_err(ctx, tether::errc::canceled);
}

TEST(Cause, TimeoutCauseAtZeroTimeoutIsTheGivenCause) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout_cause(tether::background(), 0s, too_slow());
  cancel();
  EXPECT_EQ(ctx.err(), tether::errc::deadline_exceeded);
  expect_cause(ctx, too_slow());
}

TEST(Cause, TimeoutCauseCancelledBeforeExpiryIsCanceled) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout_cause(tether::background(), kForever, too_slow());
  cancel();
  expect_cause_is_err(ctx, tether::errc::canceled);
}

TEST(Cause, TimeoutCauseIsGivenWhenTheTimerFires) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout_cause(tether::background(), 2s, too_slow());
  clock.advance(2s);
  EXPECT_EQ(ctx.err(), tether::errc::deadline_exceeded);
  expect_cause(ctx, too_slow());
}

TEST(Cause, DeadlineCauseIsGivenWhenTheDeadlinePasses) {
  ManualClock clock;
  auto [ctx, cancel] =
      tether::with_deadline_cause(tether::background(), clock.now() + 3s, too_slow());
  clock.advance(3s);
  EXPECT_EQ(ctx.err(), tether::errc::deadline_exceeded);
  expect_cause(ctx, too_slow());
}

TEST(Cause, DeadlineCauseCancelledBeforeExpiryIsCanceled) {
  ManualClock clock;
  auto [ctx, cancel] =
      tether::with_deadline_cause(tether::background(), clock.now() + 3s, too_slow());
  cancel();
  clock.advance(3s);
  expect_cause_is_err(ctx, tether::errc::canceled);
}

TEST(Cause, DeadlineCauseInThePastIsTheGivenCause) {
  ManualClock clock;
  auto [ctx, cancel] =
      tether::with_deadline_cause(tether::background(), clock.now() - 1s, too_slow());
  EXPECT_EQ(ctx.err(), tether::errc::deadline_exceeded);
  expect_cause(ctx, too_slow());
}

// with_deadline_cancel_cause: one node that ends by its deadline or by cancel(cause).
TEST(Cause, DeadlineCancelCauseRecordsTheCauseOfAnEarlyCancel) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_deadline_cancel_cause(tether::background(), clock.now() + 3s);
  EXPECT_EQ(ctx.deadline(), clock.now() + 3s);
  EXPECT_EQ(clock.pending_timers(), 1u);
  cancel(finished_early());
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  expect_cause(ctx, finished_early());
  EXPECT_EQ(clock.pending_timers(), 0u) << "the cancel disarms the deadline";
  clock.advance(3s);
  EXPECT_EQ(ctx.err(), tether::errc::canceled) << "the first end wins";
  expect_cause(ctx, finished_early());
}

TEST(Cause, DeadlineCancelCauseExpiresWithDeadlineExceeded) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_deadline_cancel_cause(tether::background(), clock.now() + 3s);
  auto [child, stop] = tether::with_cancel(ctx);
  clock.advance(2s);
  EXPECT_FALSE(ctx.err());
  clock.advance(1s);
  EXPECT_EQ(ctx.err(), tether::errc::deadline_exceeded);
  EXPECT_EQ(child.err(), tether::errc::deadline_exceeded);
  expect_cause_is_err(ctx, tether::errc::deadline_exceeded);
  cancel(finished_early());  // too late: changes nothing
  expect_cause_is_err(ctx, tether::errc::deadline_exceeded);
}

TEST(Cause, DeadlineCancelCauseWithoutADeadlineIsACancelCause) {
  ManualClock clock;
  auto [ctx, cancel] =
      tether::with_deadline_cancel_cause(tether::background(), tether::Clock::time_point::max());
  EXPECT_FALSE(ctx.deadline());
  EXPECT_EQ(clock.pending_timers(), 0u);
  cancel();
  expect_cause_is_err(ctx, tether::errc::canceled);
}

TEST(Cause, DeadlineCancelCauseKeepsAnEarlierParentDeadline) {
  ManualClock clock;
  auto [parent, pcancel] = tether::with_timeout(tether::background(), 1s);
  auto [ctx, cancel] = tether::with_deadline_cancel_cause(parent, clock.now() + 3s);
  EXPECT_EQ(ctx.deadline(), parent.deadline());
  EXPECT_EQ(clock.pending_timers(), 1u) << "the parent's timer only";
  cancel(child_cause());
  expect_cause(ctx, child_cause());
  EXPECT_FALSE(parent.err());
}

TEST(Cause, DeadlineCancelCauseOfADoneParentIsDoneWithItsCause) {
  ManualClock clock;
  auto [parent, pcancel] = tether::with_cancel_cause(tether::background());
  pcancel(parent_cause());
  auto [ctx, cancel] = tether::with_deadline_cancel_cause(parent, clock.now() + 3s);
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  expect_cause(ctx, parent_cause());
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(Cause, ExpiredTimeoutCauseReachesChildren) {
  ManualClock clock;
  auto [parent, cancel] = tether::with_timeout_cause(tether::background(), 1s, too_slow());
  auto [child, child_cancel] = tether::with_cancel(parent);
  clock.advance(1s);
  EXPECT_EQ(child.err(), tether::errc::deadline_exceeded);
  expect_cause(child, too_slow());
  auto [late, late_cancel] = tether::with_cancel(parent);
  // A child derived after expiry inherits the cause too.
  expect_cause(late, too_slow());
}

// Go: "WithTimeoutCause stacked".
TEST(Cause, StackedTimeoutCauseExpiredAtOnceKeepsItsCause) {
  ManualClock clock;
  auto [outer, cancel] = tether::with_cancel_cause(tether::background());
  auto [ctx, timeout_cancel] = tether::with_timeout_cause(outer, 0s, too_slow());
  cancel(finished_early());
  EXPECT_EQ(ctx.err(), tether::errc::deadline_exceeded);
  expect_cause(ctx, too_slow());
}

// Go: "WithTimeoutCause stacked canceled".
TEST(Cause, StackedTimeoutCauseCancelledByParentTakesTheParentsCause) {
  ManualClock clock;
  auto [outer, cancel] = tether::with_cancel_cause(tether::background());
  auto [ctx, timeout_cancel] = tether::with_timeout_cause(outer, kForever, too_slow());
  cancel(finished_early());
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  expect_cause(ctx, finished_early());
}

// ---- without_cancel -----------------------------------------------------------------------

TEST(Cause, WithoutCancelHasNoErrAndNoCause) {
  tether::Context ctx = tether::without_cancel(tether::background());
  EXPECT_FALSE(ctx.err());
  EXPECT_FALSE(tether::cause(ctx));
}

TEST(Cause, WithoutCancelOfACancelledParentHasNoCause) {
  auto [parent, cancel] = tether::with_cancel_cause(tether::background());
  tether::Context ctx = tether::without_cancel(parent);
  cancel(finished_early());
  EXPECT_FALSE(ctx.err());
  EXPECT_FALSE(tether::cause(ctx));
}

TEST(Cause, WithoutCancelOfAnExpiredParentHasNoCause) {
  ManualClock clock;
  auto [parent, cancel] = tether::with_timeout_cause(tether::background(), 0s, too_slow());
  tether::Context ctx = tether::without_cancel(parent);
  cancel();
  EXPECT_FALSE(ctx.err());
  EXPECT_FALSE(tether::cause(ctx));
}

// ---- races ---------------------------------------------------------------------------------

// Go's TestCauseRace: poll cause() (not done()) while another thread cancels, so the
// publication of the cause is checked, not just of err().
TEST(Cause, CauseIsPublishedWithTheCancellation) {
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  BoundedThread t("cancel with cause", [f = cancel.func()] {
    f(make_cause(std::errc::operation_not_permitted, "TestCauseRace"));
  });
  tether::Context watched = ctx;
  ASSERT_TRUE(context_test::eventually([&watched] { return bool(tether::cause(watched)); }));
  const tether::Cause got = tether::cause(ctx);
  EXPECT_EQ(got.code(), std::make_error_code(std::errc::operation_not_permitted));
  EXPECT_EQ(got.message(), "TestCauseRace");
  t.join();
}

TEST(Cause, ErrNeverAppearsBeforeItsCause) {
  for (int i = 0; i < 200; ++i) {
    auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
    BoundedThread t("cancel with cause",
                    [f = cancel.func()] { f(make_cause(std::errc::io_error, "why")); });
    tether::Context watched = ctx;
    ASSERT_TRUE(context_test::eventually([&watched] { return bool(watched.err()); }));
    // Once err() is visible, cause() must already be the final one.
    EXPECT_EQ(tether::cause(ctx).message(), "why") << "iteration " << i;
    t.join();
  }
}

// Go's TestWithCancelSimultaneouslyCanceledParent.
TEST(Cause, ChildDerivedWhileParentIsBeingCancelledGetsTheParentsCause) {
  for (int i = 0; i < 100; ++i) {
    auto [parent, pcancel] = tether::with_cancel_cause(tether::background());
    BoundedThread t("cancel parent",
                    [f = pcancel.func()] { f(make_cause(std::errc::io_error, "Because!")); });
    auto [child, cancel] = tether::with_cancel(parent);
    ASSERT_TRUE(child.done().wait_for(context_test::kHangBound)) << "iteration " << i;
    EXPECT_EQ(child.err(), tether::errc::canceled);
    EXPECT_EQ(tether::cause(child).message(), "Because!") << "iteration " << i;
    t.join();
    EXPECT_EQ(tether::testing::registered_children(parent), 0u);
  }
}

}  // namespace

TEST(Cause, CanBeMadeFromAPortableErrorCondition) {
  tether::Cause c(std::errc::connection_reset, "client disconnected");
  EXPECT_EQ(c.code(), std::make_error_code(std::errc::connection_reset));
  EXPECT_EQ(c.message(), "client disconnected");
}
