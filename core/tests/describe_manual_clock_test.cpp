// describe() of a deadline under a ManualClock: the printed wall time is a property of the
// deadline, so it must not drift as manual time advances; the remaining time shrinks.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {
using namespace std::chrono_literals;

std::string wall_part(const std::string& d) {  // "...WithDeadline(<wall> [<remaining>])"
  auto open = d.find("WithDeadline(") + 13;
  return d.substr(open, d.find(" [", open) - open);
}
std::string remaining_part(const std::string& d) {
  auto open = d.find(" [") + 2;
  return d.substr(open, d.find("])", open) - open);
}

TEST(DescribeUnderManualClock, DeadlineWallTimeStaysPutWhileRemainingShrinks) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 5500ms);
  std::string before = ctx.describe();
  clock.advance(2s);
  std::string after = ctx.describe();
  EXPECT_EQ(wall_part(before), wall_part(after)) << before << "\n" << after;
  EXPECT_EQ(remaining_part(before), "5.5s");
  EXPECT_EQ(remaining_part(after), "3.5s");
}

}  // namespace
