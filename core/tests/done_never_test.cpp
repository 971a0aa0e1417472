// Done::never(): Go's `ctx.Done() == nil`.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tether/context.hpp"

namespace {
using namespace std::chrono_literals;
inline const tether::Key<std::string> name_key{"name"};

TEST(DoneNever, IsTrueForContextsThatCanNeverBeDone) {
  EXPECT_TRUE(tether::background().done().never());
  EXPECT_TRUE(tether::todo().done().never());
  EXPECT_TRUE(tether::with_value(tether::background(), name_key, "x").done().never());
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  EXPECT_TRUE(tether::without_cancel(ctx).done().never());
}

TEST(DoneNever, IsFalseForCancellableContextsAndTheirValueChildren) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  EXPECT_FALSE(ctx.done().never());
  EXPECT_FALSE(tether::with_value(ctx, name_key, "x").done().never());
  auto [timed, cancel_timed] = tether::with_timeout(tether::background(), 1h);
  EXPECT_FALSE(timed.done().never());
  cancel();
  EXPECT_FALSE(ctx.done().never()) << "a done context is not a never-done one";
}

}  // namespace
