// The RAII cancellers (ScopedCancel, ScopedCancelCause) and the copyable CancelFunc /
// CancelCauseFunc: tether's spelling of Go's `ctx, cancel := ...; defer cancel()`.
#include <gtest/gtest.h>

#include <type_traits>
#include <utility>
#include <vector>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using context_test::BoundedThread;
using context_test::make_cause;

static_assert(!std::is_copy_constructible_v<tether::ScopedCancel>, "a canceller is move-only");
static_assert(std::is_nothrow_move_constructible_v<tether::ScopedCancel>);
static_assert(!std::is_copy_constructible_v<tether::ScopedCancelCause>);
static_assert(std::is_copy_constructible_v<tether::CancelFunc>);
static_assert(std::is_copy_constructible_v<tether::CancelCauseFunc>);

TEST(Canceller, DestructionCancels) {
  tether::Context kept;
  {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    kept = ctx;
    EXPECT_FALSE(kept.err());
  }
  EXPECT_EQ(kept.err(), tether::errc::canceled) << "leaving the scope is Go's defer cancel()";
  EXPECT_EQ(tether::cause(kept).code(), tether::errc::canceled);
}

TEST(Canceller, DestructionOfATimeoutCancellerCancelsAndDisarmsTheTimer) {
  tether::testing::ManualClock clock;
  tether::Context kept;
  {
    auto [ctx, cancel] = tether::with_timeout(tether::background(), std::chrono::hours(1));
    kept = ctx;
    EXPECT_EQ(clock.pending_timers(), 1u);
  }
  EXPECT_EQ(kept.err(), tether::errc::canceled);
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(Canceller, CauseCancellerDestructionCancelsWithoutACause) {
  tether::Context kept;
  {
    auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
    kept = ctx;
  }
  EXPECT_EQ(kept.err(), tether::errc::canceled);
  EXPECT_EQ(tether::cause(kept).code(), tether::errc::canceled);
}

TEST(Canceller, ReleaseDisarmsTheDestructorAndReturnsAWorkingCancelFunc) {
  tether::Context kept;
  tether::CancelFunc f;
  {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    kept = ctx;
    f = cancel.release();
  }
  EXPECT_FALSE(kept.err()) << "a released canceller does not cancel on destruction";
  ASSERT_TRUE(f);
  f();
  EXPECT_EQ(kept.err(), tether::errc::canceled);
}

TEST(Canceller, CallingAReleasedCancellerDoesNothing) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::CancelFunc f = cancel.release();
  cancel();
  EXPECT_FALSE(ctx.err());
  f();
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
}

TEST(Canceller, FuncGivesACopyableCancelFuncAndStaysArmed) {
  tether::Context kept;
  tether::CancelFunc f;
  {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    kept = ctx;
    f = cancel.func();
    tether::CancelFunc copy = f;
    EXPECT_TRUE(copy);
    copy();
    EXPECT_EQ(ctx.err(), tether::errc::canceled);
  }
  EXPECT_EQ(kept.err(), tether::errc::canceled);
  f();  // still callable, does nothing more
}

TEST(Canceller, FuncStaysArmedSoDestructionStillCancels) {
  tether::Context kept;
  tether::CancelFunc f;
  {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    kept = ctx;
    f = cancel.func();
  }
  EXPECT_EQ(kept.err(), tether::errc::canceled);
}

TEST(Canceller, CancelFuncWorksFromAnotherThread) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  BoundedThread t("cancel", [f = cancel.func()] { f(); });
  t.join();
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
}

TEST(Canceller, MovedFromCancellerDoesNothing) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  {
    tether::ScopedCancel owner = std::move(cancel);
    cancel();  // NOLINT(bugprone-use-after-move): a moved-from canceller is inert
    EXPECT_FALSE(ctx.err());
  }
  EXPECT_EQ(ctx.err(), tether::errc::canceled) << "the new owner cancelled on destruction";
}

TEST(Canceller, MovedFromCancellerDestructionDoesNotCancel) {
  tether::Context kept;
  std::vector<tether::ScopedCancel> owners;
  {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    kept = ctx;
    owners.push_back(std::move(cancel));
  }
  EXPECT_FALSE(kept.err()) << "the moved-from canceller left scope without cancelling";
  owners.clear();
  EXPECT_EQ(kept.err(), tether::errc::canceled);
}

TEST(Canceller, MoveAssignmentCancelsThePreviousContext) {
  auto a = tether::with_cancel(tether::background());
  auto b = tether::with_cancel(tether::background());
  a.cancel = std::move(b.cancel);
  EXPECT_EQ(a.ctx.err(), tether::errc::canceled) << "the overwritten canceller cancelled";
  EXPECT_FALSE(b.ctx.err());
  a.cancel();
  EXPECT_EQ(b.ctx.err(), tether::errc::canceled);
}

TEST(Canceller, DefaultCancelFuncIsEmptyAndDoesNothing) {
  tether::CancelFunc f;
  EXPECT_FALSE(f);
  f();
  tether::CancelCauseFunc g;
  EXPECT_FALSE(g);
  g(tether::Cause("ignored"));
}

TEST(Canceller, CancelCauseFuncRecordsTheCause) {
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  tether::CancelCauseFunc f = cancel.func();
  f(make_cause(std::errc::connection_reset, "client disconnected"));
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  tether::Cause c = tether::cause(ctx);
  EXPECT_EQ(c.code(), std::errc::connection_reset);
  EXPECT_EQ(c.message(), "client disconnected");
}

TEST(Canceller, ScopedCancelCauseRecordsTheCause) {
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  cancel(tether::Cause("server shutdown"));
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  EXPECT_EQ(tether::cause(ctx).message(), "server shutdown");
}

TEST(Canceller, ReleasedCancelCauseFuncRecordsTheCause) {
  tether::Context kept;
  tether::CancelCauseFunc f;
  {
    auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
    kept = ctx;
    f = cancel.release();
  }
  EXPECT_FALSE(kept.err());
  f(tether::Cause("later"));
  EXPECT_EQ(tether::cause(kept).message(), "later");
}

TEST(Canceller, CancelCauseFuncWithoutACauseReportsErrAsCause) {
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  tether::CancelCauseFunc f = cancel.func();
  f();
  EXPECT_EQ(tether::cause(ctx).code(), tether::errc::canceled);
}

TEST(Canceller, CancelFuncKeepsTheNodeAliveAfterEveryContextHandleDrops) {
  tether::CancelFunc f;
  {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    f = cancel.release();
  }
  f();  // must not touch freed memory (ASan checks this)
  f();
}

TEST(Canceller, ConcurrentCancelsFromManyThreadsAreSafe) {
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  std::vector<std::unique_ptr<BoundedThread>> threads;
  std::promise<void> go;
  std::shared_future<void> go_f = go.get_future().share();
  for (int i = 0; i < 16; ++i) {
    threads.push_back(std::make_unique<BoundedThread>("cancel", [f = cancel.func(), go_f, i] {
      go_f.wait();
      f(tether::Cause(std::to_string(i)));
    }));
  }
  go.set_value();
  for (auto& t : threads) t->join();
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  const std::string winner = tether::cause(ctx).message();
  EXPECT_FALSE(winner.empty());
  EXPECT_EQ(tether::cause(ctx).message(), winner)
      << "the cause never changes after the first cancel";
}

}  // namespace
