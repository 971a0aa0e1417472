// std::stop_token interop: ContextStopSource, to_stop_token, with_stop_token.
#include "tether/sync/stop_token.hpp"

#include <gtest/gtest.h>

#include <stop_token>
#include <thread>

#include "concurrency_test_support.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;

TEST(ContextStopSource, IsRequestedWhenTheContextIsCancelled) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::ContextStopSource stop(ctx);
  std::stop_token token = stop.get_token();
  EXPECT_TRUE(token.stop_possible());
  EXPECT_FALSE(token.stop_requested());
  cancel();
  EXPECT_TRUE(token.stop_requested());  // cancel is synchronous: requested before it returns
}

TEST(ContextStopSource, IsRequestedAtOnceForAContextAlreadyDone) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  tether::ContextStopSource stop(ctx);
  EXPECT_TRUE(stop.stop_requested());
}

TEST(ContextStopSource, IsRequestedWhenTheDeadlinePasses) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 2s);
  tether::ContextStopSource stop(ctx);
  clock.advance(2s);
  EXPECT_TRUE(stop.get_token().stop_requested());
}

TEST(ContextStopSource, OfANeverCancelledContextCannotStop) {
  tether::ContextStopSource stop(tether::background());
  EXPECT_FALSE(stop.get_token().stop_possible());
  EXPECT_EQ(tether::testing::registered_children(tether::background()), 0u);
}

TEST(ContextStopSource, DestructionUnregistersFromTheContext) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::stop_token token;
  {
    tether::ContextStopSource stop(ctx);
    token = stop.get_token();
    EXPECT_EQ(tether::testing::registered_children(ctx), 1u);
  }
  EXPECT_EQ(tether::testing::registered_children(ctx), 0u);
  cancel();
  EXPECT_FALSE(token.stop_requested());  // unlinked: the token outlives the link
}

TEST(ToStopToken, IsRequestedWhenTheContextIsDone) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::stop_token token = tether::to_stop_token(ctx);
  EXPECT_FALSE(token.stop_requested());
  cancel();
  EXPECT_TRUE(token.stop_requested());
}

TEST(ToStopToken, OfBackgroundCannotStop) {
  EXPECT_FALSE(tether::to_stop_token(tether::background()).stop_possible());
}

TEST(WithStopToken, IsCancelledWhenTheTokenIsRequested) {
  std::stop_source source;
  auto [ctx, cancel] = tether::with_stop_token(tether::background(), source.get_token());
  EXPECT_FALSE(ctx.err());
  source.request_stop();
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  EXPECT_EQ(tether::cause(ctx), std::errc::operation_canceled);
  EXPECT_EQ(tether::cause(ctx).message(), "std::stop_token: stop requested");
}

TEST(WithStopToken, IsDoneAtOnceWhenTheTokenWasAlreadyRequested) {
  std::stop_source source;
  source.request_stop();
  auto [ctx, cancel] = tether::with_stop_token(tether::background(), source.get_token());
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
}

TEST(WithStopToken, IsCancelledWhenTheParentIsCancelled) {
  auto [parent, cancel_parent] = tether::with_cancel(tether::background());
  std::stop_source source;
  auto [ctx, cancel] = tether::with_stop_token(parent, source.get_token());
  cancel_parent();
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  EXPECT_EQ(tether::cause(ctx), tether::errc::canceled);  // the parent's cause, not the token's
}

TEST(WithStopToken, DestroyingTheCancellerCancelsAndUnlinksTheToken) {
  std::stop_source source;
  tether::Context ctx;
  {
    auto [c, cancel] = tether::with_stop_token(tether::background(), source.get_token());
    ctx = c;
  }
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  EXPECT_EQ(tether::cause(ctx), tether::errc::canceled);
  source.request_stop();  // the stop_callback is gone: nothing runs, nothing dangles
  EXPECT_EQ(tether::cause(ctx).message(), tether::Cause(tether::errc::canceled).message());
}

TEST(WithStopToken, AJthreadsStopRequestCancelsTheContextUsedInsideIt) {
  std::error_code seen;
  {
    std::jthread worker([&seen](std::stop_token st) {
      auto [ctx, cancel] = tether::with_stop_token(tether::background(), st);
      ctx.done().wait();  // until ~jthread requests stop
      seen = ctx.err();
    });
  }  // ~jthread: request_stop(), then join()
  EXPECT_EQ(seen, tether::errc::canceled);
}

}  // namespace
