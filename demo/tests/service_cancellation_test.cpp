// A client that gives up halfway: the request context is cancelled ("client disconnected"),
// and with it the SQL statements and the downstream call that were running — the
// tutorials' promise, checked in the log, the metrics and the registry.
#include <gtest/gtest.h>

#include <future>
#include <set>

#include "service_fixture.hpp"
#include "tether/registry.hpp"

namespace {

using namespace tether_demo_test;

// Source contexts beneath `node` (those carrying a "source" value) whose statement or call is
// running: tether::sqlite and tether::http::Client register a callback on the context while
// a statement or a call is in flight (the cancel hook), and drop it when it ends.
std::size_t sources_in_flight(const tether::registry::ContextNode& node) {
  std::size_t n = 0;
  for (const auto& child : node.children) {
    bool is_source = false;
    for (const auto& [key, value] : child.values) is_source |= key == "source";
    if (is_source && child.callbacks > 0) ++n;
    n += sources_in_flight(child);
  }
  return n;
}

// True once the registry shows the request carrying `trace` with `count` sources whose
// statement or call is running.
bool sources_running(const std::string& trace, std::size_t count = 3) {
  for (const auto& e : tether::registry::snapshot())
    if (e.context.trace_id == trace && sources_in_flight(e.context) >= count) return true;
  return false;
}

// A GET /users/42 whose three sources each take 8 s, sent in trace `trace` from another
// thread; hang_up() closes the client's connection, as a browser tab would.
class SlowRequest {
 public:
  SlowRequest(RunningService& s, const std::string& trace) {
    call_ = std::async(std::launch::async, [&s, ctx = with_trace(client_.ctx, trace)] {
      tether::http::Client client;
      return client.get(
          ctx,
          s.url("/users/42?profile_latency=8000&preferences_latency=8000&activity_latency=8000"));
    });
  }
  ~SlowRequest() { hang_up(); }  // a failed assertion does not wait out the 8 s
  void hang_up() { client_.cancel(); }
  tether::Result<tether::http::Response, tether::http::Error> result() { return call_.get(); }

 private:
  tether::Derived<tether::ScopedCancel> client_ =
      tether::with_timeout(tether::background(), kBound);
  std::future<tether::Result<tether::http::Response, tether::http::Error>> call_;
};

class CancellationTest : public ::testing::Test {
 protected:
  TempDir dir;
};

TEST_F(CancellationTest, AClientThatHangsUpInterruptsTheQueriesAndTheDownstreamCall) {
  RunningService s(test_options(dir.path()));
  const std::string trace = "5bf92f3577b34da6a3ce929d0e0e4736";
  SlowRequest slow(s, trace);
  ASSERT_TRUE(eventually([&] { return sources_running(trace); }));
  slow.hang_up();
  EXPECT_EQ(slow.result().error().code, tether::errc::canceled);

  auto req = s.capture.wait_for_msg("request", trace);
  ASSERT_TRUE(req);
  EXPECT_EQ((*req)["status"], 499);
  EXPECT_EQ((*req)["cause"], "client disconnected");
  for (const char* source : {"profile", "preferences"}) {
    auto line = s.capture.wait_for_msg("source", trace, "source", source);
    ASSERT_TRUE(line) << source;
    EXPECT_EQ((*line)["outcome"], "interrupted");
    EXPECT_EQ((*line)["cause"], "client disconnected");
    EXPECT_EQ((*line)["query_interrupted"], true);
  }
  auto activity = s.capture.wait_for_msg("source", trace, "source", "activity");
  ASSERT_TRUE(activity);
  EXPECT_EQ((*activity)["call_interrupted"], true);
  // The activity service saw its own client (the demo) hang up.
  auto downstream = s.capture.wait_for_msg("activity request", trace);
  ASSERT_TRUE(downstream);
  EXPECT_EQ((*downstream)["status"], 499);
  EXPECT_EQ((*downstream)["cause"], "client disconnected");

  tether_demo::Metrics& m = s.service().metrics();
  EXPECT_EQ(m.queries_interrupted(tether_demo::Source::profile), 1u);
  EXPECT_EQ(m.queries_interrupted(tether_demo::Source::preferences), 1u);
  EXPECT_EQ(m.calls_interrupted(tether_demo::Source::activity), 1u);
  EXPECT_EQ(m.requests(499), 1u);
  EXPECT_GE(m.cancellations("client disconnected"), 4u);  // the request and its 3 sources
}

TEST_F(CancellationTest, TheRegistryShowsTheRequestTreeWhileItRuns) {
  RunningService s(test_options(dir.path()));
  const std::string trace = "6bf92f3577b34da6a3ce929d0e0e4736";
  SlowRequest slow(s, trace);
  ASSERT_TRUE(eventually([&] { return sources_running(trace); }));

  // JSON: request → group → one context per source, each named by its "source" value.
  auto [status, json] = s.get_json("/debug/contexts.json");
  ASSERT_EQ(status, 200);
  Json request;
  for (const Json& e : json["contexts"])
    if (e["context"]["trace_id"] == trace) request = e;
  ASSERT_TRUE(request.is_object()) << json;
  EXPECT_EQ(request["label"], "GET /users/42");
  ASSERT_EQ(request["context"]["children"].size(), 1u);
  const Json& group = request["context"]["children"][0];
  std::set<std::string> sources;
  for (const Json& child : group["children"])
    for (const Json& v : child["values"])
      if (v["key"] == "source") sources.insert(v["value"]);
  EXPECT_EQ(sources, (std::set<std::string>{"profile", "preferences", "activity"}));

  // The page is tether::debug's: static, it renders from this JSON (debug/tests test it
  // in a browser).
  auto page = s.get("/debug/contexts");
  ASSERT_TRUE(page);
  EXPECT_EQ(*page->headers.find("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("contexts.js"), std::string::npos);

  slow.hang_up();
  (void)slow.result();
  ASSERT_TRUE(s.capture.wait_for_msg("request", trace));
}

TEST_F(CancellationTest, NoContextIsLeftInTheRegistryAfterTheRequestsEnd) {
  RunningService s(test_options(dir.path()));
  EXPECT_EQ(s.get_json("/users/1").first, 200);
  EXPECT_EQ(s.get_json("/users/2?profile_fail=1").first, 503);
  EXPECT_EQ(s.get_json("/users/5000").first, 404);
  // The access log is written once the response is; the handler's scope ended before.
  EXPECT_EQ(tether::registry::size(), 0u);
  auto [status, json] = s.get_json("/debug/contexts.json");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(json, Json::parse(R"({"contexts":[]})"));
}

TEST_F(CancellationTest, WithTheRegistryOffTheDebugViewSaysSo) {
  tether_demo::Options o = test_options(dir.path());
  o.registry = false;
  RunningService s(o);
  EXPECT_FALSE(tether::registry::enabled());
  auto [status, json] = s.get_json("/debug/contexts.json");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(json, Json::parse(R"({"contexts":[],"registry":"off"})"));
}

}  // namespace
