// The service's parts on their own: the command line, the per-request knobs, the metrics
// exposition, the seeding of the SQLite files, the log line format.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <random>
#include <thread>
#include <variant>
#include <vector>

#include "activity_service.hpp"
#include "error.hpp"
#include "join.hpp"
#include "knobs.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "options.hpp"
#include "seed.hpp"
#include "service_fixture.hpp"
#include "tether/sqlite.hpp"

namespace {

using namespace tether_demo_test;
using tether_demo::Options;

tether_demo::ParseResult parse(std::vector<const char*> args, const char* env = nullptr) {
  args.insert(args.begin(), "tether-demo");
  return tether_demo::parse(static_cast<int>(args.size()), args.data(), env);
}

TEST(OptionsTest, NoFlagsGiveTheContractsDefaults) {
  auto r = parse({});
  ASSERT_TRUE(std::holds_alternative<Options>(r));
  const Options& o = std::get<Options>(r);
  EXPECT_EQ(o.port, 8080);
  EXPECT_EQ(o.activity_port, 0);
  EXPECT_EQ(o.data_dir, "demo-data");
  EXPECT_EQ(o.users, 100000);
  EXPECT_FALSE(o.postgres);
  EXPECT_EQ(o.timeout, 500ms);
  EXPECT_EQ(o.profile.latency, 0ms);
  EXPECT_EQ(o.activity.fail_rate, 0);
  EXPECT_TRUE(o.registry);
  EXPECT_EQ(o.workers, 16u);
  EXPECT_EQ(o.log, tether_demo::LogFormat::json);
}

TEST(OptionsTest, FlagsTakeTheirValueAfterASpaceOrAnEqualsSign) {
  auto r = parse({"--port", "0", "--timeout=250", "--preferences-latency", "40",
                  "--activity-fail=0.25", "--registry", "off", "--log=text", "--users", "10"});
  ASSERT_TRUE(std::holds_alternative<Options>(r));
  const Options& o = std::get<Options>(r);
  EXPECT_EQ(o.port, 0);
  EXPECT_EQ(o.timeout, 250ms);
  EXPECT_EQ(o.preferences.latency, 40ms);
  EXPECT_EQ(o.activity.fail_rate, 0.25);
  EXPECT_FALSE(o.registry);
  EXPECT_EQ(o.log, tether_demo::LogFormat::text);
  EXPECT_EQ(o.users, 10);
}

TEST(OptionsTest, PostgresWithoutAValueMeansALocalClusterAndTheEnvironmentGivesAConninfo) {
  EXPECT_EQ(std::get<Options>(parse({"--postgres"})).postgres, "");
  EXPECT_EQ(std::get<Options>(parse({"--postgres=host=db"})).postgres, "host=db");
  EXPECT_EQ(std::get<Options>(parse({}, "host=env")).postgres, "host=env");
  EXPECT_EQ(std::get<Options>(parse({"--postgres=host=flag"}, "host=env")).postgres, "host=flag");
}

TEST(OptionsTest, ABadFlagOrValueIsAnErrorNamingIt) {
  for (std::vector<const char*> bad : {std::vector<const char*>{"--port", "70000"},
                                       {"--timeout", "0"},
                                       {"--users", "x"},
                                       {"--profile-fail", "1.5"},
                                       {"--registry", "maybe"},
                                       {"--log", "xml"},
                                       {"--nope"},
                                       {"--workers"},
                                       {"stray"}}) {
    auto r = parse(bad);
    ASSERT_TRUE(std::holds_alternative<tether_demo::BadCommandLine>(r)) << bad[0];
    EXPECT_NE(std::get<tether_demo::BadCommandLine>(r).message.find(bad[0]), std::string::npos);
  }
}

TEST(OptionsTest, HelpIsRecognized) {
  EXPECT_TRUE(std::holds_alternative<tether_demo::HelpRequested>(parse({"--help"})));
  EXPECT_NE(tether_demo::usage().find("--activity-latency"), std::string::npos);
}

TEST(KnobsTest, QueryParametersOverrideTheFlagsForOneRequest) {
  Options o;
  o.profile.latency = 100ms;
  o.activity.fail_rate = 1.0;
  auto r = tether_demo::resolve_knobs("preferences_latency=250&activity_fail=0&x=y", o);
  ASSERT_TRUE(r) << r.error().message;
  const tether_demo::RequestKnobs& k = *r;
  EXPECT_EQ(k[0].latency, 100ms);  // profile: the flag
  EXPECT_EQ(k[1].latency, 250ms);  // preferences: the parameter
  EXPECT_FALSE(k[2].fail);         // activity: the parameter's certainty beats the rate
}

TEST(KnobsTest, AFailureRateIsDrawnPerRequest) {
  Options o;
  o.profile.fail_rate = 1.0;
  auto r = tether_demo::resolve_knobs("", o);
  EXPECT_TRUE(r.value()[0].fail);
  o.profile.fail_rate = 0.0;
  EXPECT_FALSE(tether_demo::resolve_knobs("", o).value()[0].fail);
}

TEST(KnobsTest, ABadValueIsABadQueryWithAMessage) {
  auto r = tether_demo::resolve_knobs("profile_fail=yes", Options{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, tether_demo::errc::bad_query);
  EXPECT_EQ(r.error().message, "invalid query parameter profile_fail=yes (expected 0 or 1)");
}

TEST(ErrorTest, DemoCodesCompareWithEqualsAndNameTheirCategory) {
  const std::error_code ec = tether_demo::errc::profile_failed;
  EXPECT_EQ(ec, tether_demo::errc::profile_failed);
  EXPECT_NE(ec, tether_demo::errc::profile_not_found);
  EXPECT_STREQ(ec.category().name(), "tether-demo");
  EXPECT_EQ(ec.message(), "profile: source failed");  // the siblings' cause in the log
}

TEST(ActivityServiceTest, TheQueryGivesLatencyAndFailureOrABadQuery) {
  auto q = tether_demo::parse_activity_query("latency_ms=250&fail=1&x=y");
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->latency, 250ms);
  EXPECT_TRUE(q->fail);
  auto bad = tether_demo::parse_activity_query("fail=maybe");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, tether_demo::errc::bad_query);
  EXPECT_EQ(bad.error().message, "bad fail");
}

// Join: a coroutine awaiting co_wait() resumes only once every added task is done, however
// the tasks' ends interleave with its suspension (random task counts and yields).
TEST(JoinTest, ACoroutineResumesOnlyAfterEveryTaskIsDone) {
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 200; ++round) {
    const int n = static_cast<int>(rng() % 6);  // 0: co_wait completes at once
    tether_demo::Join join;
    std::atomic<int> finished{0};
    int seen = -1;
    for (int i = 0; i < n; ++i) join.add();
    boost::asio::io_context ioc;
    boost::asio::co_spawn(
        ioc,
        [&]() -> boost::asio::awaitable<void> {
          co_await join.co_wait();
          seen = finished.load();
        },
        boost::asio::detached);
    std::vector<std::thread> tasks;
    for (int i = 0; i < n; ++i) {
      tasks.emplace_back([&, spins = rng() % 50] {
        for (unsigned k = 0; k < spins; ++k) std::this_thread::yield();
        finished.fetch_add(1);
        join.done();
      });
    }
    if (rng() % 2) std::this_thread::yield();
    ioc.run();  // until the coroutine has resumed and returned
    for (auto& t : tasks) t.join();
    ASSERT_EQ(seen, n) << "round " << round;
  }
}

TEST(JoinTest, WaitBlocksUntilEveryTaskIsDone) {
  tether_demo::Join join;
  std::atomic<int> finished{0};
  join.add();
  join.add();
  std::thread a([&] {
    finished.fetch_add(1);
    join.done();
  });
  std::thread b([&] {
    finished.fetch_add(1);
    join.done();
  });
  join.wait();
  EXPECT_EQ(finished.load(), 2);
  a.join();
  b.join();
}

TEST(MetricsTest, RendersCountersGaugesAndACumulativeHistogram) {
  tether_demo::Metrics m;
  m.request_finished(200);
  m.request_finished(200);
  m.request_finished(504);
  m.cancellation("client \"gone\"");
  m.source_outcome(tether_demo::Source::activity, tether_demo::Outcome::interrupted);
  m.query_interrupted(tether_demo::Source::profile);
  m.deadline_left(3ms);    // ≤ 0.005
  m.deadline_left(300ms);  // ≤ 0.5
  m.deadline_left(-1ms);   // past: ≤ 0.005
  const std::string text = m.render(7);
  for (const char* line : {
           "tether_demo_requests_total{status=\"200\"} 2\n",
           "tether_demo_requests_total{status=\"504\"} 1\n",
           "tether_demo_cancellations_total{cause=\"client \\\"gone\\\"\"} 1\n",
           "tether_demo_source_outcomes_total{source=\"activity\",outcome=\"interrupted\"} 1\n",
           "tether_demo_queries_interrupted_total{source=\"profile\"} 1\n",
           "tether_demo_calls_interrupted_total{source=\"activity\"} 0\n",
           "tether_demo_in_flight 0\n",
           "tether_demo_deadline_left_seconds_bucket{le=\"0.005\"} 2\n",
           "tether_demo_deadline_left_seconds_bucket{le=\"0.25\"} 2\n",
           "tether_demo_deadline_left_seconds_bucket{le=\"0.5\"} 3\n",
           "tether_demo_deadline_left_seconds_bucket{le=\"+Inf\"} 3\n",
           "tether_demo_deadline_left_seconds_count 3\n",
           "# TYPE tether_demo_deadline_left_seconds histogram\n",
           "tether_demo_registry_tracked 7\n",
       })
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
}

TEST(SeedTest, SeedsOnceAndReusesTheFileForTheSameUserCount) {
  TempDir dir;
  const std::string path = dir.path() + "/profiles.db";
  auto ctx = tether::background();
  auto first = tether_demo::seed_profiles(ctx, path, 500);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(first->seeded);
  auto again = tether_demo::seed_profiles(ctx, path, 500);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->seeded);
  auto other = tether_demo::seed_profiles(ctx, path, 600);  // another count: seeded anew
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->seeded);

  auto db = tether::sqlite::Connection::open(path);
  ASSERT_TRUE(db);
  auto rows = db->query(ctx, "SELECT count(*), max(id) FROM profiles");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->at(0).get<std::int64_t>(0), 600);
  EXPECT_EQ(rows->at(0).get<std::int64_t>(1), 600);
  auto row = db->query(ctx, "SELECT name, email FROM profiles WHERE id = 42");
  ASSERT_TRUE(row);
  EXPECT_EQ(row->at(0).get<std::string>(0), tether_demo::profile_row(42).name);
  EXPECT_EQ(row->at(0).get<std::string>(1), tether_demo::profile_row(42).email);
}

TEST(SeedTest, SeedingUnderACancelledContextFailsWithTheContextsError) {
  TempDir dir;
  const std::string path = dir.path() + "/preferences.db";
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  auto r = tether_demo::seed_preferences(ctx, path, 5000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, tether::errc::canceled);
  auto again = tether_demo::seed_preferences(tether::background(), path, 5000);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->seeded);  // the failed attempt was not recorded as a seeding
}

TEST(LogTest, AJsonLineHasTimestampLevelMessageThenTheFieldsInOrder) {
  std::string out;
  tether_demo::Log log(tether_demo::LogFormat::json, [&](std::string_view l) { out += l; });
  log.info("listening", {{"port", 8080}, {"activity_port", 9090}});
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  Json j = Json::parse(out);
  EXPECT_EQ(j["msg"], "listening");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["port"], 8080);
  const std::string ts = j["ts"];
  ASSERT_EQ(ts.size(), 24u);  // 2026-11-22T08:00:00.123Z
  EXPECT_EQ(ts[10], 'T');
  EXPECT_EQ(ts.back(), 'Z');
  EXPECT_LT(out.find("\"ts\""), out.find("\"msg\""));
  EXPECT_LT(out.find("\"port\""), out.find("\"activity_port\""));
}

TEST(LogTest, TheTextFormatIsOneReadableLine) {
  std::string out;
  tether_demo::Log log(tether_demo::LogFormat::text, [&](std::string_view l) { out += l; });
  log.warn("source", {{"source", "profile"}, {"cause", "client disconnected"}});
  EXPECT_NE(out.find(" warn source source=profile cause=\"client disconnected\"\n"),
            std::string::npos)
      << out;
}

}  // namespace
