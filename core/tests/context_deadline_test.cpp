// Deadlines and timeouts, ported from Go's TestDeadline, TestTimeout, TestCanceledTimeout and
// DESIGN.md §4 ("Bad input"). Every test runs on tether::testing::ManualClock,
// created first: time moves only by advance(), which fires due deadlines before it returns,
// so nothing here sleeps or measures real time.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using context_test::BoundedThread;
using tether::testing::ManualClock;
using tether::testing::registered_children;

const tether::Key<int> kLayer{"layer"};

void expect_deadline_exceeded(const tether::Context& ctx, const char* what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(ctx.err(), tether::errc::deadline_exceeded);
  EXPECT_TRUE(ctx.done().ready());
}

TEST(Deadline, TimeoutContextIsAliveUntilTheClockReachesItsDeadline) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 5s);
  EXPECT_EQ(clock.pending_timers(), 1u);
  clock.advance(4s);
  EXPECT_FALSE(ctx.err());
  EXPECT_FALSE(ctx.done().ready());
  clock.advance(999ms);
  EXPECT_FALSE(ctx.err());
  clock.advance(1ms);  // exactly at the deadline
  expect_deadline_exceeded(ctx, "ctx");
  EXPECT_EQ(clock.pending_timers(), 0u) << "a fired timer is no longer pending";
}

TEST(Deadline, WithDeadlineExpiresAtTheGivenTimePoint) {
  ManualClock clock;
  const tether::Clock::time_point at = clock.now() + 3s;
  auto [ctx, cancel] = tether::with_deadline(tether::background(), at);
  ASSERT_TRUE(ctx.deadline().has_value());
  EXPECT_EQ(*ctx.deadline(), at);
  clock.advance_to(at - 1ns);
  EXPECT_FALSE(ctx.err());
  clock.advance_to(at);
  expect_deadline_exceeded(ctx, "ctx");
}

TEST(Deadline, TimeoutDeadlineIsNowPlusTimeout) {
  ManualClock clock;
  clock.advance(7s);  // the timeout counts from the manual clock's current time
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 250ms);
  ASSERT_TRUE(ctx.deadline().has_value());
  EXPECT_EQ(*ctx.deadline(), clock.now() + 250ms);
}

TEST(Deadline, TimerExpiryCancelsTheWholeSubtreeWithDeadlineExceeded) {
  ManualClock clock;
  auto [parent, cancel] = tether::with_timeout(tether::background(), 1s);
  auto [child, child_cancel] = tether::with_cancel(parent);
  tether::Context value = tether::with_value(child, kLayer, 1);
  auto [grandchild, gc_cancel] = tether::with_cancel_cause(value);
  int ran = 0;
  tether::Registration r = tether::after_func(grandchild, [&ran] { ++ran; });

  clock.advance(1s);

  expect_deadline_exceeded(parent, "parent");
  expect_deadline_exceeded(child, "child");
  expect_deadline_exceeded(value, "value");
  expect_deadline_exceeded(grandchild, "grandchild");
  EXPECT_EQ(tether::cause(grandchild).code(), tether::errc::deadline_exceeded);
  EXPECT_EQ(ran, 1) << "callbacks below a fired deadline run before advance() returns";
  EXPECT_EQ(registered_children(parent), 0u);
}

TEST(Deadline, DerivedContextsInheritTheDeadline) {
  ManualClock clock;
  auto [parent, cancel] = tether::with_timeout(tether::background(), 10s);
  auto [child, child_cancel] = tether::with_cancel(parent);
  tether::Context value = tether::with_value(parent, kLayer, 1);
  ASSERT_TRUE(parent.deadline().has_value());
  EXPECT_EQ(child.deadline(), parent.deadline());
  EXPECT_EQ(value.deadline(), parent.deadline());
}

// ---- deadlines that are already past ------------------------------------------------------

TEST(Deadline, DeadlineInThePastIsExceededAtOnce) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_deadline(tether::background(), clock.now() - 1ms);
  expect_deadline_exceeded(ctx, "ctx");
  EXPECT_EQ(tether::cause(ctx).code(), tether::errc::deadline_exceeded);
  EXPECT_EQ(clock.pending_timers(), 0u) << "no timer for a deadline already past";
}

TEST(Deadline, DeadlineEqualToNowIsExceededAtOnce) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_deadline(tether::background(), clock.now());
  expect_deadline_exceeded(ctx, "ctx");
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(Deadline, ZeroTimeoutIsExceededAtOnce) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 0s);
  expect_deadline_exceeded(ctx, "ctx");
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(Deadline, NegativeTimeoutIsExceededAtOnce) {
  ManualClock clock;
  auto [a, cancel_a] = tether::with_timeout(tether::background(), -1s);
  auto [b, cancel_b] = tether::with_timeout(tether::background(), std::chrono::nanoseconds::min());
  auto [c, cancel_c] = tether::with_timeout(tether::background(), std::chrono::hours::min());
  auto [d, cancel_d] =
      tether::with_timeout(tether::background(), std::chrono::duration<double>(-0.5));
  expect_deadline_exceeded(a, "-1s");
  expect_deadline_exceeded(b, "nanoseconds::min()");
  expect_deadline_exceeded(c, "hours::min()");
  expect_deadline_exceeded(d, "-0.5s as double");
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(Deadline, PastDeadlineUnderCancellableParentLeavesParentAlive) {
  ManualClock clock;
  auto [parent, stop] = tether::with_cancel(tether::background());
  auto [ctx, cancel] = tether::with_timeout(parent, 0s);
  expect_deadline_exceeded(ctx, "ctx");
  EXPECT_FALSE(parent.err());
  EXPECT_EQ(registered_children(parent), 0u) << "a child born done is not registered";
}

// ---- child deadlines relative to the parent's ---------------------------------------------

TEST(Deadline, ChildDeadlineLaterThanParentsArmsNoTimer) {
  ManualClock clock;
  auto [parent, cancel] = tether::with_timeout(tether::background(), 1s);
  const std::size_t pending = clock.pending_timers();
  auto [child, child_cancel] = tether::with_timeout(parent, 2s);

  EXPECT_EQ(clock.pending_timers(), pending) << "the parent's timer already bounds the child";
  EXPECT_EQ(child.deadline(), parent.deadline());
  EXPECT_TRUE(
      context_test::glob_match("context.Background.WithDeadline(*).WithCancel", child.describe()));
  EXPECT_EQ(registered_children(parent), 1u);

  clock.advance(1s);
  expect_deadline_exceeded(child, "child");
}

// Go: `if cur, ok := parent.Deadline(); ok && cur.Before(d) { return WithCancel(parent) }`
// — only a strictly earlier parent deadline makes the child a plain cancel context.
TEST(Deadline, ChildDeadlineEqualToParentsArmsItsOwnTimerAsInGo) {
  ManualClock clock;
  const tether::Clock::time_point at = clock.now() + 1s;
  auto [parent, cancel] = tether::with_deadline(tether::background(), at);
  const std::size_t pending = clock.pending_timers();
  auto [child, child_cancel] = tether::with_deadline(parent, at);
  EXPECT_EQ(clock.pending_timers(), pending + 1);
  EXPECT_EQ(child.deadline(), parent.deadline());
  EXPECT_NE(child.describe().find(".WithDeadline("), child.describe().rfind(".WithDeadline("))
      << child.describe();
}

TEST(Deadline, ChildDeadlineEarlierThanParentsArmsItsOwnTimer) {
  ManualClock clock;
  auto [parent, cancel] = tether::with_timeout(tether::background(), 10s);
  const std::size_t pending = clock.pending_timers();
  auto [child, child_cancel] = tether::with_timeout(parent, 2s);
  EXPECT_EQ(clock.pending_timers(), pending + 1);
  ASSERT_TRUE(child.deadline().has_value());
  EXPECT_EQ(*child.deadline(), clock.now() + 2s);

  clock.advance(2s);
  expect_deadline_exceeded(child, "child");
  EXPECT_FALSE(parent.err()) << "a child's deadline never reaches up";
  EXPECT_EQ(registered_children(parent), 0u) << "the expired child unregisters";
}

// Go's TestDeadline "WithDeadline+otherContext+WithDeadline": the earlier parent deadline
// wins even through value layers.
TEST(Deadline, ParentDeadlineBoundsChildThroughValueLayers) {
  ManualClock clock;
  auto [parent, cancel] = tether::with_timeout(tether::background(), 1s);
  tether::Context value = tether::with_value(parent, kLayer, 1);
  auto [child, child_cancel] = tether::with_timeout(value, 1000h);
  EXPECT_EQ(child.deadline(), parent.deadline());
  clock.advance(1s);
  expect_deadline_exceeded(child, "child");
}

// ---- canceled vs deadline_exceeded ----------------------------------------------------------

// Go's TestCanceledTimeout.
TEST(Deadline, CancellingATimeoutContextGivesCanceledNotDeadlineExceeded) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 2s);
  cancel();
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  EXPECT_TRUE(ctx.done().ready());
  EXPECT_EQ(clock.pending_timers(), 0u) << "cancel disarms the timer";
  clock.advance(10s);
  EXPECT_EQ(ctx.err(), tether::errc::canceled) << "the deadline passing later changes nothing";
  EXPECT_EQ(tether::cause(ctx).code(), tether::errc::canceled);
}

TEST(Deadline, CancelAfterExpiryKeepsDeadlineExceeded) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  clock.advance(1s);
  cancel();
  expect_deadline_exceeded(ctx, "ctx");
  EXPECT_EQ(tether::cause(ctx).code(), tether::errc::deadline_exceeded);
}

TEST(Deadline, ParentCancelBeforeExpiryGivesChildCanceled) {
  ManualClock clock;
  auto [parent, cancel] = tether::with_cancel(tether::background());
  auto [child, child_cancel] = tether::with_timeout(parent, 1s);
  cancel();
  EXPECT_EQ(child.err(), tether::errc::canceled);
  EXPECT_EQ(clock.pending_timers(), 0u);
  clock.advance(2s);
  EXPECT_EQ(child.err(), tether::errc::canceled);
}

TEST(Deadline, DerivingFromExpiredParentGivesDeadlineExceededChild) {
  ManualClock clock;
  auto [parent, cancel] = tether::with_timeout(tether::background(), 1s);
  clock.advance(1s);
  auto [child, child_cancel] = tether::with_cancel(parent);
  tether::Context value = tether::with_value(parent, kLayer, 1);
  auto [timer_child, timer_cancel] = tether::with_timeout(parent, 1h);
  expect_deadline_exceeded(child, "with_cancel");
  expect_deadline_exceeded(value, "with_value");
  expect_deadline_exceeded(timer_child, "with_timeout");
  EXPECT_EQ(clock.pending_timers(), 0u);
}

// ---- "never" and overflow: saturate, never wrap ------------------------------------------

TEST(Deadline, TimePointMaxMeansNoDeadlineAndNoTimer) {
  ManualClock clock;
  const std::size_t pending = clock.pending_timers();
  auto [ctx, cancel] =
      tether::with_deadline(tether::background(), tether::Clock::time_point::max());
  EXPECT_FALSE(ctx.deadline().has_value());
  EXPECT_EQ(clock.pending_timers(), pending);
  EXPECT_EQ(ctx.describe(), "context.Background.WithCancel");
  EXPECT_FALSE(ctx.err());
  cancel();
  EXPECT_EQ(ctx.err(), tether::errc::canceled) << "still an ordinary cancellable context";
}

TEST(Deadline, OverflowingTimeoutMeansNoDeadlineAndNoTimer) {
  ManualClock clock;
  const std::size_t pending = clock.pending_timers();
  auto [a, ca] = tether::with_timeout(tether::background(), std::chrono::hours::max());
  auto [b, cb] = tether::with_timeout(tether::background(), std::chrono::nanoseconds::max());
  auto [c, cc] = tether::with_timeout(
      tether::background(), std::chrono::seconds(std::numeric_limits<std::int64_t>::max()));
  auto [d, cd] = tether::with_timeout(tether::background(), std::chrono::duration<double>(1e300));
  for (const tether::Context* ctx : {&a, &b, &c, &d}) {
    EXPECT_FALSE(ctx->deadline().has_value()) << ctx->describe();
    EXPECT_FALSE(ctx->err());
  }
  EXPECT_EQ(clock.pending_timers(), pending);
  clock.advance(24h * 365 * 100);  // a century later: still alive (no wrapped deadline)
  for (const tether::Context* ctx : {&a, &b, &c, &d}) EXPECT_FALSE(ctx->err());
}

TEST(Deadline, OverflowingTimeoutAfterAdvanceStillSaturates) {
  ManualClock clock;
  clock.advance(24h * 365);
  auto [ctx, cancel] = tether::with_timeout(tether::background(), std::chrono::nanoseconds::max());
  EXPECT_FALSE(ctx.deadline().has_value());
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(Deadline, LargeRepresentableTimeoutIsKeptExactly) {
  ManualClock clock;
  const auto century = std::chrono::duration_cast<std::chrono::nanoseconds>(24h * 365 * 100);
  auto [ctx, cancel] = tether::with_timeout(tether::background(), century);
  ASSERT_TRUE(ctx.deadline().has_value());
  EXPECT_EQ(*ctx.deadline(), clock.now() + century);
  EXPECT_EQ(clock.pending_timers(), 1u);
}

TEST(Deadline, SubNanosecondTimeoutRoundsUpAndIsNotExceededAtOnce) {
  ManualClock clock;
  auto [ctx, cancel] =
      tether::with_timeout(tether::background(), std::chrono::duration<double>(1e-12));
  EXPECT_FALSE(ctx.err()) << "a positive timeout is never already exceeded";
  clock.advance(1ns);
  expect_deadline_exceeded(ctx, "ctx");
}

// ---- the manual clock and the shared timer service --------------------------------------

TEST(Deadline, ManualClockIsTethersClock) {
  const tether::Clock::time_point start{std::chrono::hours(1000)};
  ManualClock clock(start);
  EXPECT_EQ(clock.now(), start);
  EXPECT_EQ(tether::now(), start);
  clock.advance(90s);
  EXPECT_EQ(tether::now(), start + 90s);
}

TEST(Deadline, AdvanceToAnEarlierTimeIsIgnored) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  const tether::Clock::time_point t = clock.now();
  clock.advance_to(t - 1h);
  EXPECT_EQ(clock.now(), t);
  EXPECT_FALSE(ctx.err());
}

TEST(Deadline, DeadlinesFireInDeadlineOrderWithinOneAdvance) {
  ManualClock clock;
  std::vector<int> order;
  auto [c3, x3] = tether::with_timeout(tether::background(), 3s);
  auto [c1, x1] = tether::with_timeout(tether::background(), 1s);
  auto [c2, x2] = tether::with_timeout(tether::background(), 2s);
  auto r3 = tether::after_func(c3, [&order] { order.push_back(3); });
  auto r1 = tether::after_func(c1, [&order] { order.push_back(1); });
  auto r2 = tether::after_func(c2, [&order] { order.push_back(2); });
  EXPECT_EQ(clock.pending_timers(), 3u);
  clock.advance(10s);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(Deadline, AdvanceFiresOnlyWhatIsDue) {
  ManualClock clock;
  auto [early, x1] = tether::with_timeout(tether::background(), 1s);
  auto [late, x2] = tether::with_timeout(tether::background(), 5s);
  clock.advance(2s);
  expect_deadline_exceeded(early, "early");
  EXPECT_FALSE(late.err());
  EXPECT_EQ(clock.pending_timers(), 1u);
}

TEST(Deadline, ThousandTimersAllFireAndNoneRemainPending) {
  ManualClock clock;
  std::vector<tether::Context> contexts;
  std::vector<tether::ScopedCancel> cancels;
  for (int i = 0; i < 1000; ++i) {
    auto d = tether::with_timeout(tether::background(),
                                  std::chrono::milliseconds(1 + (i * 7919) % 1000));
    contexts.push_back(d.ctx);
    cancels.push_back(std::move(d.cancel));
  }
  EXPECT_EQ(clock.pending_timers(), 1000u);
  // Cancel every third one early: their timers must leave the heap.
  for (std::size_t i = 0; i < cancels.size(); i += 3) cancels[i]();
  EXPECT_EQ(clock.pending_timers(), 1000u - 334u);
  clock.advance(1s);
  for (std::size_t i = 0; i < contexts.size(); ++i) {
    EXPECT_EQ(contexts[i].err(), i % 3 == 0
                                     ? tether::make_error_code(tether::errc::canceled)
                                     : tether::make_error_code(tether::errc::deadline_exceeded))
        << "context " << i;
  }
  EXPECT_EQ(clock.pending_timers(), 0u);
}

// Disarming is lazy (src/timer.cpp, Shard): a cancelled deadline's heap entry stays until
// it reaches the end or the root of the heap, or until three quarters of the heap are cancelled
// entries and the heap is compacted. These three check that whatever the order of the
// cancels, exactly the live deadlines stay armed and fire, in deadline order, and that a
// freed context is never reached through a stale entry (the handles of the cancelled
// ones are dropped before time moves; ASan would catch a use after free).

// Timeouts of 1..n ms, each recording its number when its deadline fires; created in
// order of deadline, or in the order of a shuffled seed (so the heap is not just sorted).
struct NumberedTimeouts {
  explicit NumberedTimeouts(int n, unsigned shuffle_seed = 0)
      : registrations(static_cast<std::size_t>(n)), cancels(static_cast<std::size_t>(n)) {
    std::vector<int> order(static_cast<std::size_t>(n));
    for (int i = 1; i <= n; ++i) order[static_cast<std::size_t>(i - 1)] = i;
    if (shuffle_seed != 0) std::shuffle(order.begin(), order.end(), std::mt19937(shuffle_seed));
    for (int i : order) {
      auto d = tether::with_timeout(tether::background(), std::chrono::milliseconds(i));
      registrations[static_cast<std::size_t>(i - 1)] =
          tether::after_func(d.ctx, [this, i, ctx = d.ctx] {
            if (ctx.err() == tether::errc::deadline_exceeded) fired.push_back(i);
          });
      cancels[static_cast<std::size_t>(i - 1)] = d.cancel.release();
    }
  }
  NumberedTimeouts(const NumberedTimeouts&) = delete;
  NumberedTimeouts& operator=(const NumberedTimeouts&) = delete;
  ~NumberedTimeouts() {
    for (auto& c : cancels) c();  // runs the callbacks still pending (they record nothing)
  }
  /// Cancels timeout number i and drops every handle to it, so its node is freed.
  void cancel_and_drop(int i) {
    cancels[static_cast<std::size_t>(i - 1)]();
    cancels[static_cast<std::size_t>(i - 1)] = tether::CancelFunc();
    registrations[static_cast<std::size_t>(i - 1)] = tether::Registration();
  }
  std::vector<int> fired;
  std::vector<tether::Registration> registrations;
  std::vector<tether::CancelFunc> cancels;
};

std::vector<int> numbers(int from, int to) {
  std::vector<int> v;
  for (int i = from; i <= to; ++i) v.push_back(i);
  return v;
}

TEST(Deadline, CancellingTheEarliestFirstLeavesExactlyTheRestArmedAndInOrder) {
  ManualClock clock;
  NumberedTimeouts t(1000);
  for (int i = 1; i <= 800; ++i) t.cancel_and_drop(i);  // past three quarters: compacted
  EXPECT_EQ(clock.pending_timers(), 200u);
  clock.advance(1s);
  EXPECT_EQ(t.fired, numbers(801, 1000));
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(Deadline, DroppingTheCancelledFrontKeepsLaterCancelsAndArmsRight) {
  // A sorted heap cancelled oldest first: compaction drops the cancelled front without
  // rewriting the kept nodes' positions (Shard::drop_disarmed_prefix). Every later arm,
  // cancel and compaction must still find the right entries: 1000 timeouts, 1..800
  // cancelled (the front dropped at 750); then 300 earlier deadlines armed in front of the
  // rest (sifted up through it), most of them and 801..900 cancelled (a second compaction,
  // of an unsorted heap this time).
  ManualClock clock;
  NumberedTimeouts late(1000);
  for (int i = 1; i <= 800; ++i) late.cancel_and_drop(i);
  EXPECT_EQ(clock.pending_timers(), 200u);
  NumberedTimeouts early(300);
  std::vector<int> early_expected;
  for (int i = 1; i <= 300; ++i) {
    if (i % 10 == 0) {
      early_expected.push_back(i);
    } else {
      early.cancel_and_drop(i);
    }
  }
  for (int i = 801; i <= 900; ++i) late.cancel_and_drop(i);
  EXPECT_EQ(clock.pending_timers(), 100u + early_expected.size());
  clock.advance(2s);
  EXPECT_EQ(early.fired, early_expected);
  EXPECT_EQ(late.fired, numbers(901, 1000));
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(Deadline, CompactingAHeapBuiltOutOfOrderKeepsExactlyTheRestArmedAndInOrder) {
  // Created in shuffled order (the heap is not sorted), 800 of 1000 cancelled in another
  // shuffled order: the compaction at three quarters must rebuild the heap order.
  const unsigned seed = context_test::test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  ManualClock clock;
  NumberedTimeouts t(1000, seed | 1);
  std::vector<int> order = numbers(1, 1000);
  std::shuffle(order.begin(), order.end(), std::mt19937(seed + 1));
  std::vector<bool> cancelled(1001, false);
  for (std::size_t k = 0; k < 800; ++k) {
    cancelled[static_cast<std::size_t>(order[k])] = true;
    t.cancel_and_drop(order[k]);
  }
  EXPECT_EQ(clock.pending_timers(), 200u);
  std::vector<int> expected;
  for (int i = 1; i <= 1000; ++i)
    if (!cancelled[static_cast<std::size_t>(i)]) expected.push_back(i);
  clock.advance(1s);
  EXPECT_EQ(t.fired, expected);
}

TEST(Deadline, CancellingTheLatestFirstLeavesExactlyTheRestArmedAndInOrder) {
  ManualClock clock;
  NumberedTimeouts t(1000);
  for (int i = 1000; i > 400; --i) t.cancel_and_drop(i);
  EXPECT_EQ(clock.pending_timers(), 400u);
  clock.advance(1s);
  EXPECT_EQ(t.fired, numbers(1, 400));
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(Deadline, RandomCancelsAndAdvancesFireExactlyTheLiveDeadlinesInOrder) {
  const unsigned seed = context_test::test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  ManualClock clock;
  NumberedTimeouts t(2000, seed | 1);
  std::vector<bool> cancelled(2001, false);
  std::vector<int> expected;
  int now_ms = 0;
  for (int step = 0; step < 40; ++step) {
    // Cancel a random batch of the still-pending ones, then move time a little.
    for (int k = 0; k < 30; ++k) {
      int i = std::uniform_int_distribution<int>(now_ms + 1, 2000)(rng);
      if (!cancelled[i]) {
        cancelled[i] = true;
        t.cancel_and_drop(i);
      }
    }
    int next_ms = std::min(2000, now_ms + std::uniform_int_distribution<int>(0, 60)(rng));
    for (int i = now_ms + 1; i <= next_ms; ++i)
      if (!cancelled[i]) expected.push_back(i);
    clock.advance(std::chrono::milliseconds(next_ms - now_ms));
    now_ms = next_ms;
    ASSERT_EQ(t.fired, expected) << "after step " << step;
    std::size_t live = 0;
    for (int i = now_ms + 1; i <= 2000; ++i) live += cancelled[i] ? 0 : 1;
    ASSERT_EQ(clock.pending_timers(), live) << "after step " << step;
  }
}

TEST(Deadline, WaitForPendingSeesATimeoutArmedOnAnotherThread) {
  ManualClock clock;
  std::promise<tether::Context> made;
  std::promise<void> may_finish;
  std::shared_future<void> may_finish_f = may_finish.get_future().share();
  BoundedThread t("arm a timeout", [&made, may_finish_f] {
    auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
    made.set_value(ctx);
    may_finish_f.wait_for(context_test::kHangBound);
  });
  clock.wait_for_pending(1);
  EXPECT_GE(clock.pending_timers(), 1u);
  clock.advance(1s);
  tether::Context ctx = made.get_future().get();
  expect_deadline_exceeded(ctx, "ctx");
  may_finish.set_value();
  t.join();
}

TEST(Deadline, DoneWaitIsWokenByTheManualClockFromAnotherThread) {
  ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  tether::Context waited = ctx;
  std::promise<bool> woke;
  BoundedThread t("wait for the deadline", [waited, &woke] {
    waited.done().wait();
    woke.set_value(waited.err() == tether::errc::deadline_exceeded);
  });
  clock.advance(1s);
  auto f = woke.get_future();
  ASSERT_EQ(f.wait_for(context_test::kHangBound), std::future_status::ready);
  EXPECT_TRUE(f.get());
  t.join();
}

}  // namespace
