// Preferences from a real PostgreSQL: `--postgres` without a conninfo makes the demo start
// its own throwaway cluster (tether::pg::LocalCluster); a slow preferences query (pg_sleep)
// is cancelled on the server when the non-critical deadline passes.
#include <gtest/gtest.h>

#include "seed.hpp"
#include "service_fixture.hpp"

namespace {

using namespace tether_demo_test;

class PgServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/lib/postgresql/15/bin/initdb", X_OK) != 0)
      GTEST_SKIP() << "SKIPPED: PostgreSQL 15 server binaries not installed (postgresql-15)";
    tether_demo::Options o = test_options(dir.path());
    o.postgres = "";  // start a local cluster
    o.timeout = 1000ms;
    service = std::make_unique<RunningService>(o);
  }
  TempDir dir;
  std::unique_ptr<RunningService> service;
};

TEST_F(PgServiceTest, PreferencesComeFromALocalPostgresCluster) {
  auto [status, body] = service->get_json("/users/42");
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(body["preferences"]["theme"], tether_demo::preferences_row(42).theme);
  EXPECT_EQ(body["preferences"]["timezone"], tether_demo::preferences_row(42).timezone);
  EXPECT_EQ(body["preferences"]["newsletter"], tether_demo::preferences_row(42).newsletter);
}

TEST_F(PgServiceTest, ASlowPreferencesQueryIsCancelledOnTheServer) {
  const std::string trace = "5e1f0000000000000000000000000042";
  auto [status, body] = service->get_json("/users/42?preferences_latency=8000", trace);
  // The partial answer is written if the server acknowledged the cancel within the
  // non-critical reserve (100 ms here); on a machine too loaded for that, the request
  // deadline passes first and the answer is 504. Either way the query must have been
  // stopped on the server, long before its 8 s — which is what this test is about (the
  // partial-answer promise itself is tested with SQLite, whose interrupt is in-process).
  ASSERT_TRUE(status == 200 || status == 504) << status << " " << body;
  if (status == 200) {
    EXPECT_EQ(body["degraded"], Json::array({"preferences"}));
  }
  RecordProperty("http_status", status);
  auto line = service->capture.wait_for_msg("source", trace, "source", "preferences");
  ASSERT_TRUE(line);
  EXPECT_EQ((*line)["outcome"], "deadline_exceeded");
  EXPECT_EQ((*line)["query_interrupted"], true);
}

TEST_F(PgServiceTest, AnInjectedFailureIsAnErrorRaisedByTheDatabase) {
  auto [status, body] = service->get_json("/users/42?preferences_fail=1");
  ASSERT_EQ(status, 200) << body;
  auto line = service->capture.wait_for_msg("source", body["trace_id"], "source", "preferences");
  ASSERT_TRUE(line);
  EXPECT_EQ((*line)["outcome"], "failed");
  EXPECT_NE((*line)["error"].get<std::string>().find("injected failure in preferences"),
            std::string::npos);
}

}  // namespace
