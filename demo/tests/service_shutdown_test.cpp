// Graceful shutdown: requests in flight finish within the grace period; what is still
// running when it ends is cancelled with cause "server shutdown" and counted as dropped.
#include <gtest/gtest.h>

#include <future>

#include "service_fixture.hpp"
#include "tether/registry.hpp"

namespace {

using namespace tether_demo_test;

class ShutdownTest : public ::testing::Test {
 protected:
  TempDir dir;
};

TEST_F(ShutdownTest, RequestsInFlightFinishWithinTheGracePeriod) {
  RunningService s(test_options(dir.path()));
  auto call = std::async(std::launch::async, [&] { return s.get("/users/9?profile_latency=300"); });
  ASSERT_TRUE(eventually([&] { return s.service().metrics().in_flight() == 1; }));
  auto [grace, cancel] = tether::with_timeout(tether::background(), kBound);
  tether_demo::Service::StopReport report = s.service().shutdown(grace);
  EXPECT_FALSE(report.error);
  EXPECT_EQ(report.in_flight, 1);
  EXPECT_EQ(report.in_flight_completed, 1);
  EXPECT_EQ(report.dropped, 0);
  auto r = call.get();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
}

TEST_F(ShutdownTest, WhatOutlastsTheGracePeriodIsCancelledAndCountedAsDropped) {
  RunningService s(test_options(dir.path()));
  auto call =
      std::async(std::launch::async, [&] { return s.get("/users/9?profile_latency=8000"); });
  ASSERT_TRUE(eventually([&] { return s.service().metrics().in_flight() == 1; }));
  auto [grace, end_grace] = tether::with_cancel(tether::background());
  end_grace();  // no grace at all: cancel what runs now
  tether_demo::Service::StopReport report = s.service().shutdown(grace);
  EXPECT_EQ(report.error, tether::errc::canceled);
  EXPECT_EQ(report.dropped, 1);
  EXPECT_EQ(report.in_flight_completed, 0);
  EXPECT_FALSE(call.get());  // nothing was written: the connection was closed
  auto line = s.capture.wait_for(
      [](const Json& j) { return j.value("msg", "") == "request" && j.value("status", 0) == 499; });
  ASSERT_TRUE(line);
  EXPECT_EQ((*line)["cause"], "server shutdown");
}

}  // namespace
