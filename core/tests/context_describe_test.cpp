// Context::describe(): Go's String() form, e.g.
//   context.Background.WithCancel.WithValue(request_id, abc)
// ported from the string assertions of Go's TestBackground, TestTODO, TestWithCancel,
// TestDeadline, TestTimeout, TestValues and TestWithoutCancel's String.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;

const tether::Key<std::string> kRequestId{"request_id"};

using context_test::glob_match;

TEST(Describe, Background) { EXPECT_EQ(tether::background().describe(), "context.Background"); }

TEST(Describe, Todo) { EXPECT_EQ(tether::todo().describe(), "context.TODO"); }

TEST(Describe, WithCancel) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  EXPECT_EQ(ctx.describe(), "context.Background.WithCancel");
}

TEST(Describe, WithCancelCauseReadsLikeGosWithCancel) {
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  EXPECT_EQ(ctx.describe(), "context.Background.WithCancel");
}

TEST(Describe, WithCancelOnTodo) {
  auto [ctx, cancel] = tether::with_cancel(tether::todo());
  EXPECT_EQ(ctx.describe(), "context.TODO.WithCancel");
}

TEST(Describe, WithValueShowsKeyNameAndValue) {
  tether::Context ctx = tether::with_value(tether::background(), kRequestId, "abc");
  EXPECT_EQ(ctx.describe(), "context.Background.WithValue(request_id, abc)");
}

TEST(Describe, WithoutCancel) {
  EXPECT_EQ(tether::without_cancel(tether::background()).describe(),
            "context.Background.WithoutCancel");
}

TEST(Describe, ChainsReadFromRootToLeaf) {
  auto [a, cancel] = tether::with_cancel(tether::background());
  tether::Context b = tether::with_value(a, kRequestId, "abc");
  auto [c, cancel_c] = tether::with_cancel(b);
  tether::Context d = tether::without_cancel(c);
  EXPECT_EQ(d.describe(),
            "context.Background.WithCancel.WithValue(request_id, abc).WithCancel.WithoutCancel");
}

// Go's TestValues: shadowed values all appear, oldest first.
TEST(Describe, ShadowedValuesAllAppear) {
  const tether::Key<std::string> k1{"k1"};
  const tether::Key<std::string> k2{"k2"};
  tether::Context c1 = tether::with_value(tether::background(), k1, "c1k1");
  tether::Context c2 = tether::with_value(c1, k2, "c2k2");
  tether::Context c3 = tether::with_value(c2, k1, "c3k1");
  EXPECT_EQ(c3.describe(),
            "context.Background.WithValue(k1, c1k1).WithValue(k2, c2k2).WithValue(k1, c3k1)");
}

struct User {
  std::string name;
  std::string describe() const { return "user:" + name; }
};
struct Opaque {
  int secret = 7;
};

TEST(Describe, ValuesOfOtherTypes) {
  const tether::Key<int> count{"count"};
  const tether::Key<bool> flag{"flag"};
  const tether::Key<User> user{"user"};
  const tether::Key<Opaque> opaque{"opaque"};
  EXPECT_EQ(tether::with_value(tether::background(), count, 42).describe(),
            "context.Background.WithValue(count, 42)");
  EXPECT_EQ(tether::with_value(tether::background(), flag, true).describe(),
            "context.Background.WithValue(flag, true)");
  EXPECT_EQ(tether::with_value(tether::background(), user, User{"ann"}).describe(),
            "context.Background.WithValue(user, user:ann)");
  // A type with no string form is described by its type name, never by its bytes.
  const std::string s = tether::with_value(tether::background(), opaque, Opaque{}).describe();
  EXPECT_TRUE(glob_match("context.Background.WithValue(opaque, *Opaque*)", s)) << s;
}

TEST(Describe, WithTimeoutShowsDeadlineAndRemainingTime) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 5s);
  const std::string s = ctx.describe();
  // Go's form: the deadline, then the remaining time as a Go duration ("5s", "3.5s").
  EXPECT_TRUE(glob_match("context.Background.WithDeadline(*-*-* *:*:* * UTC [5s])", s)) << s;
  clock.advance(2s);
  const std::string later = ctx.describe();
  EXPECT_TRUE(glob_match("context.Background.WithDeadline(* [3s])", later)) << later;
  clock.advance(500ms);
  const std::string fractional = ctx.describe();
  EXPECT_TRUE(glob_match("context.Background.WithDeadline(* [2.5s])", fractional)) << fractional;
}

TEST(Describe, WithDeadlineShowsDeadlineAndRemainingTime) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_deadline(tether::background(), clock.now() + 1h);
  const std::string s = ctx.describe();
  EXPECT_TRUE(glob_match("context.Background.WithDeadline(* [1h0m0s])", s)) << s;
}

TEST(Describe, ChildWithLaterDeadlineIsAPlainWithCancel) {
  tether::testing::ManualClock clock;
  auto [parent, cancel] = tether::with_timeout(tether::background(), 1s);
  auto [child, child_cancel] = tether::with_timeout(parent, 1h);
  const std::string s = child.describe();
  EXPECT_TRUE(glob_match("context.Background.WithDeadline(* [1s]).WithCancel", s)) << s;
}

TEST(Describe, PrintsTheSameDeadlineEveryTime) {
  // Real clock: the wall time of a deadline must not be recomputed from "now" on each call
  // (it once drifted by tens of nanoseconds between two calls). The "[remaining]" part
  // does change, as in Go.
  auto derived = tether::with_timeout(tether::background(), 1h);
  auto deadline_part = [&ctx = derived.ctx] {
    std::string s = ctx.describe();
    return s.substr(0, s.find(" ["));
  };
  const std::string first = deadline_part();
  ASSERT_TRUE(glob_match("context.Background.WithDeadline(* +0000 UTC", first)) << first;
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(deadline_part(), first) << "call " << i;
}

TEST(Describe, DoesNotChangeWhenCancelled) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::Context v = tether::with_value(ctx, kRequestId, "abc");
  const std::string before = v.describe();
  cancel();
  EXPECT_EQ(v.describe(), before);
}

}  // namespace
