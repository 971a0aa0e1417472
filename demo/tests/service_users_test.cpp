// GET /users/{id} against the real service: three sources in parallel under one deadline,
// partial answers, and the status codes of the contract (docs/demo.md).
//
// No test asserts a duration. Where a deadline matters, the status says it: a 200 with a
// degraded source was written before the request deadline (else the server answers 504),
// and a 504 for a source that takes longer than the asked timeout shows the timeout bound
// the request.
#include <gtest/gtest.h>

#include "activity_service.hpp"
#include "seed.hpp"
#include "service_fixture.hpp"
#include "tether/propagation.hpp"

namespace {

using namespace tether_demo_test;

class UsersTest : public ::testing::Test {
 protected:
  TempDir dir;
};

TEST_F(UsersTest, AnswersTheProfileMergedWithPreferencesAndActivity) {
  RunningService s(test_options(dir.path()));
  auto [status, body] = s.get_json("/users/42");
  ASSERT_EQ(status, 200) << body;
  const tether_demo::ProfileRow p = tether_demo::profile_row(42);
  const tether_demo::PreferencesRow prefs = tether_demo::preferences_row(42);
  EXPECT_EQ(body["id"], 42);
  EXPECT_EQ(body["profile"]["name"], p.name);
  EXPECT_EQ(body["profile"]["email"], p.email);
  EXPECT_EQ(body["preferences"]["theme"], prefs.theme);
  EXPECT_EQ(body["preferences"]["newsletter"], prefs.newsletter);
  EXPECT_EQ(body["activity"], Json::parse(tether_demo::activity_events(42).dump()));
  EXPECT_EQ(body["degraded"], Json::array());
  EXPECT_EQ(body["trace_id"].get<std::string>().size(), 32u);
}

TEST_F(UsersTest, TheAnswerCarriesTheTraceOfTheRequestsTraceparent) {
  RunningService s(test_options(dir.path()));
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  auto r = s.get("/users/7", trace);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(Json::parse(r->body)["trace_id"], trace);
  const std::string* echoed = r->headers.find("traceparent");
  ASSERT_NE(echoed, nullptr);
  EXPECT_EQ(echoed->substr(3, 32), trace);
  // The same trace in the request's log line and in the activity service's: it travelled.
  EXPECT_TRUE(s.capture.wait_for_msg("request", trace, "status", 200));
  EXPECT_TRUE(s.capture.wait_for_msg("activity request", trace, "status", 200));
}

TEST_F(UsersTest, AnUnknownUserIs404) {
  RunningService s(test_options(dir.path()));
  auto [status, body] = s.get_json("/users/1001");  // 1000 users seeded
  EXPECT_EQ(status, 404);
  EXPECT_EQ(body["error"], "user not found");
  EXPECT_EQ(body["id"], 1001);
}

TEST_F(UsersTest, AnIdThatIsNotAPositiveNumberIs400) {
  RunningService s(test_options(dir.path()));
  for (const char* target : {"/users/abc", "/users/0", "/users/-3", "/users/12x"}) {
    auto [status, body] = s.get_json(target);
    EXPECT_EQ(status, 400) << target;
    EXPECT_EQ(body["error"], "bad user id") << target;
  }
}

TEST_F(UsersTest, AMalformedEscapeInTheIdIs400NotA404) {
  RunningService s(test_options(dir.path()));
  // Raw requests: tether::http::Client, like Go's, refuses to send a URL with a bad escape.
  for (const char* target : {"/users/%ZZ", "/users/4%2"}) {
    EXPECT_EQ(raw_status(s.service().port(), std::string("GET ") + target +
                                                 " HTTP/1.1\r\nHost: demo\r\n"
                                                 "Connection: close\r\n\r\n"),
              400)
        << target;
    EXPECT_EQ(s.get_json(target).first, 0) << target;  // the client: invalid_argument
  }
}

TEST_F(UsersTest, AnInvalidKnobParameterIs400) {
  RunningService s(test_options(dir.path()));
  for (const char* target : {"/users/1?profile_latency=abc", "/users/1?activity_fail=2",
                             "/users/1?preferences_latency=-1"}) {
    auto [status, body] = s.get_json(target);
    EXPECT_EQ(status, 400) << target;
    EXPECT_TRUE(body["error"].get<std::string>().starts_with("invalid query parameter")) << body;
  }
}

TEST_F(UsersTest, ASlowNonCriticalSourceGivesAPartialAnswerBeforeTheDeadline) {
  tether_demo::Options o = test_options(dir.path());
  o.timeout = 1000ms;  // a reserve of 100 ms: room for a sanitizer build's slower merge
  RunningService s(o);
  auto [status, body] = s.get_json("/users/42?preferences_latency=5000");
  ASSERT_EQ(status, 200) << body;  // not 504: answered before the request deadline
  EXPECT_TRUE(body["preferences"].is_null());
  EXPECT_EQ(body["degraded"], Json::array({"preferences"}));
  EXPECT_EQ(body["profile"]["id"], 42);
  EXPECT_TRUE(body["activity"].is_array());
  auto line = s.capture.wait_for_msg("source", body["trace_id"], "source", "preferences");
  ASSERT_TRUE(line);
  EXPECT_EQ((*line)["outcome"], "deadline_exceeded");
  EXPECT_EQ((*line)["query_interrupted"], true);  // the SQL statement itself was stopped
}

TEST_F(UsersTest, ASlowActivityCallGivesAPartialAnswer) {
  tether_demo::Options o = test_options(dir.path());
  o.timeout = 1000ms;
  RunningService s(o);
  auto [status, body] = s.get_json("/users/42?activity_latency=5000");
  ASSERT_EQ(status, 200) << body;
  EXPECT_TRUE(body["activity"].is_null());
  EXPECT_EQ(body["degraded"], Json::array({"activity"}));
  auto line = s.capture.wait_for_msg("source", body["trace_id"], "source", "activity");
  ASSERT_TRUE(line);
  EXPECT_EQ((*line)["outcome"], "deadline_exceeded");
}

TEST_F(UsersTest, ASlowCriticalSourceIs504) {
  tether_demo::Options o = test_options(dir.path());
  o.timeout = 300ms;
  RunningService s(o);
  const std::string trace = "0af7651916cd43dd8448eb211c80319c";
  auto r = s.get("/users/42?profile_latency=5000", trace);
  EXPECT_EQ(r.error().code, tether::errc::deadline_exceeded);  // a 504 is a deadline (http.md)
  ASSERT_TRUE(r.error().response);
  EXPECT_EQ(r.error().response->status, 504);
  auto line = s.capture.wait_for_msg("source", trace, "source", "profile");
  ASSERT_TRUE(line);
  EXPECT_EQ((*line)["outcome"], "deadline_exceeded");
  EXPECT_EQ((*line)["query_interrupted"], true);
  auto req = s.capture.wait_for_msg("request", trace);
  ASSERT_TRUE(req);
  EXPECT_EQ((*req)["status"], 504);
  EXPECT_EQ((*req)["cause"], "context deadline exceeded");
}

TEST_F(UsersTest, AGrpcTimeoutHeaderLowersTheRequestDeadline) {
  RunningService s(test_options(dir.path()));  // --timeout 10 s
  // The profile takes 3 s: only the caller's 100 ms can turn that into a 504. (A raw
  // request: tether::http::Client would send its own context's time left instead.)
  EXPECT_EQ(raw_status(s.service().port(),
                       "GET /users/42?profile_latency=3000 HTTP/1.1\r\nHost: demo\r\n"
                       "grpc-timeout: 100m\r\nConnection: close\r\n\r\n"),
            504);
}

TEST_F(UsersTest, ACriticalFailureIs503AndCancelsTheOtherSources) {
  RunningService s(test_options(dir.path()));
  auto [status, body] =
      s.get_json("/users/42?profile_fail=1&preferences_latency=5000&activity_latency=5000");
  ASSERT_EQ(status, 503) << body;
  EXPECT_EQ(body["error"], "profile unavailable");
  const std::string trace = body["trace_id"];
  for (const char* source : {"preferences", "activity"}) {
    auto line = s.capture.wait_for_msg("source", trace, "source", source);
    ASSERT_TRUE(line) << source;
    EXPECT_EQ((*line)["outcome"], "interrupted") << *line;
    EXPECT_EQ((*line)["cause"], "profile: source failed") << *line;
  }
}

TEST_F(UsersTest, ANonCriticalFailureIsReportedAsDegraded) {
  RunningService s(test_options(dir.path()));
  auto [status, body] = s.get_json("/users/42?preferences_fail=1&activity_fail=1");
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(body["degraded"], Json::array({"preferences", "activity"}));
  auto line = s.capture.wait_for_msg("source", body["trace_id"], "source", "preferences");
  ASSERT_TRUE(line);
  EXPECT_EQ((*line)["outcome"], "failed");
  EXPECT_EQ((*line)["error"], "injected failure in preferences");
}

TEST_F(UsersTest, AFailureRateOfOneFailsEveryRequest) {
  tether_demo::Options o = test_options(dir.path());
  o.activity.fail_rate = 1.0;
  RunningService s(o);
  auto [status, body] = s.get_json("/users/3");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(body["degraded"], Json::array({"activity"}));
  // A query parameter is a certainty that overrides the rate.
  auto [status2, body2] = s.get_json("/users/3?activity_fail=0");
  ASSERT_EQ(status2, 200);
  EXPECT_EQ(body2["degraded"], Json::array());
}

}  // namespace
