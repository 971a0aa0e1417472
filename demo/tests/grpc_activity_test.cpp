// The demo with its activity service over gRPC, as a process of its own: tether-demo-activity
// and a tether-demo started with --activity-grpc, real processes on 127.0.0.1 talking over
// real sockets (HTTP to the edge, gRPC between the two). What the tour's gRPC scenario shows,
// asserted without reading the clock: a client hang-up at the edge reaches the gRPC handler's
// context as "client cancelled", and one trace id is in both processes' logs.
//
// Waits for log lines are bounded (kBound) and never the evidence: the activity handler waits
// an hour on its context, so a line saying its context ended before then is the proof.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "activity_service.hpp"
#include "demo_service.hpp"
#include "tether/harness/raw_http.hpp"
#include "tether/propagation.hpp"

#if !defined(TETHER_DEMO_EXE) || !defined(TETHER_DEMO_ACTIVITY_EXE)
#error "TETHER_DEMO_EXE, TETHER_DEMO_ACTIVITY_EXE: tether-demo and tether-demo-activity (CMake)"
#endif

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace tether::demo_tour;
using namespace tether::harness;
using Json = nlohmann::json;

constexpr auto kBound = 30s;  // for a line that is on its way, on a busy machine
constexpr int kUsers = 1000;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tether-demo-grpc-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// tether-demo-activity, and a tether-demo calling it over gRPC.
class GrpcDemo {
 public:
  explicit GrpcDemo(std::chrono::milliseconds edge_timeout, bool start_activity = true) {
    std::string address = "127.0.0.1:1";  // nothing listens there
    if (start_activity) {
      activity_.emplace(DemoServiceOptions{.program = TETHER_DEMO_ACTIVITY_EXE,
                                           .args = {"--users", std::to_string(kUsers)},
                                           .log_path = dir_.str() + "/activity.log",
                                           .stderr_path = dir_.str() + "/activity.stderr"});
      address = "127.0.0.1:" + std::to_string(activity_->port());
    }
    edge_.emplace(DemoServiceOptions{
        .program = TETHER_DEMO_EXE,
        .args = {"--data-dir", dir_.str(), "--users", std::to_string(kUsers), "--timeout",
                 std::to_string(edge_timeout.count()), "--activity-grpc", address},
        .log_path = dir_.str() + "/edge.log",
        .stderr_path = dir_.str() + "/edge.stderr"});
  }
  DemoService& edge() { return *edge_; }
  DemoService& activity() { return *activity_; }

  /// The first line of `service`'s log with msg `msg` and trace id `trace`.
  static std::optional<LogLine> line(DemoService& service, const std::string& msg,
                                     const std::string& trace, const char* source = nullptr) {
    return service.log().wait_for(
        [&](const LogLine& l) {
          return l.msg() == msg && l.string_field("trace_id") == trace &&
                 (source == nullptr || l.string_field("source") == source);
        },
        kBound);
  }

 private:
  TempDir dir_;
  std::optional<DemoService> activity_;
  std::optional<DemoService> edge_;
};

TEST(DemoGrpcActivity, EdgeAnswersWithTheGrpcProcessesActivityInTheCallersTrace) {
  GrpcDemo demo(5000ms);
  EXPECT_EQ(demo.edge().listening().string_field("activity"), "grpc");
  const auto trace = tether::TraceContext::new_root();
  Fetched f = fetch(demo.edge().port(), "/users/42", 30s, trace);
  ASSERT_TRUE(f.result) << f.why();
  ASSERT_EQ(f.status(), 200) << f.body();
  const Json body = Json::parse(f.body());
  EXPECT_EQ(body["activity"], Json::parse(tether_demo::activity_events(42).dump()));
  EXPECT_EQ(body["degraded"], Json::array());

  auto served = GrpcDemo::line(demo.activity(), "activity request", trace.trace_id_hex());
  ASSERT_TRUE(served) << "the activity process logged no call in the caller's trace";
  EXPECT_EQ(served->string_field("status"), "OK");
  EXPECT_EQ(served->string_field("cause"), "");
  EXPECT_TRUE(GrpcDemo::line(demo.edge(), "request", trace.trace_id_hex()));

  // Both stop gracefully on SIGTERM.
  for (DemoService* s : {&demo.edge(), &demo.activity()}) {
    ASSERT_TRUE(s->process().signal(SIGTERM));
    auto status = s->process().wait_exit(kBound);
    ASSERT_TRUE(status);
    EXPECT_TRUE(exited_cleanly(*status)) << describe_wait_status(*status);
  }
}

TEST(DemoGrpcActivity, EdgeHangUpCancelsTheGrpcCallAndTheActivityHandlersContext) {
  GrpcDemo demo(600'000ms);  // neither deadline nor latency can end it: only the hang-up
  const auto trace = tether::TraceContext::new_root();
  const std::string id = trace.trace_id_hex();
  {
    RawConnection c = RawConnection::connect(demo.edge().port());
    c.send_all(format_get("/users/7?activity_latency=3600000",
                          {{"traceparent", format_traceparent(trace)}}));
    auto started = GrpcDemo::line(demo.activity(), "activity call started", id);
    ASSERT_TRUE(started) << "the gRPC handler never started waiting";
    // The edge's deadline travelled (minus the source's reserve and the client's margin).
    EXPECT_GT(started->number_field("deadline_left_ms").value_or(-1), 0);
    EXPECT_LT(started->number_field("deadline_left_ms").value_or(1e9), 600'000);
    c.close();  // the client hangs up
  }
  auto served = GrpcDemo::line(demo.activity(), "activity request", id);
  ASSERT_TRUE(served) << "the hang-up never reached the gRPC handler";
  EXPECT_EQ(served->string_field("cause"), "client cancelled") << served->text;
  EXPECT_EQ(served->string_field("status"), "CANCELLED") << served->text;

  auto source = GrpcDemo::line(demo.edge(), "source", id, "activity");
  ASSERT_TRUE(source);
  EXPECT_EQ(source->string_field("outcome"), "interrupted") << source->text;
  EXPECT_TRUE(source->flag("call_interrupted")) << source->text;
  EXPECT_EQ(source->string_field("cause"), "client disconnected") << source->text;
  auto request = GrpcDemo::line(demo.edge(), "request", id);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->number_field("status"), 499.0) << request->text;
}

TEST(DemoGrpcActivity, PropagatedDeadlineEndsTheGrpcHandlerAndTheAnswerIsPartial) {
  GrpcDemo demo(400ms);
  Fetched f =
      fetch_without_deadline(demo.edge().port(), "/users/9?activity_latency=600000", 30s, {});
  ASSERT_TRUE(f.result) << f.why();
  ASSERT_EQ(f.status(), 200) << f.body();
  const Json body = Json::parse(f.body());
  EXPECT_EQ(body["degraded"], Json::array({"activity"}));
  const std::string id = body["trace_id"].get<std::string>();

  auto started = GrpcDemo::line(demo.activity(), "activity call started", id);
  ASSERT_TRUE(started);
  EXPECT_LT(started->number_field("deadline_left_ms").value_or(1e9), 400) << started->text;
  auto served = GrpcDemo::line(demo.activity(), "activity request", id);
  ASSERT_TRUE(served);
  // Its own timer, or the caller's cancel at the caller's deadline: both are a deadline.
  EXPECT_EQ(served->string_field("status"), "DEADLINE_EXCEEDED") << served->text;
  auto source = GrpcDemo::line(demo.edge(), "source", id, "activity");
  ASSERT_TRUE(source);
  EXPECT_EQ(source->string_field("outcome"), "deadline_exceeded") << source->text;
}

TEST(DemoGrpcActivity, ActivityProcessDownDegradesTheAnswer) {
  GrpcDemo demo(5000ms, /*start_activity=*/false);
  Fetched f = fetch(demo.edge().port(), "/users/5", 30s);
  ASSERT_TRUE(f.result) << f.why();
  ASSERT_EQ(f.status(), 200) << f.body();
  const Json body = Json::parse(f.body());
  EXPECT_EQ(body["degraded"], Json::array({"activity"}));
  EXPECT_TRUE(body["profile"].is_object());
  auto source =
      GrpcDemo::line(demo.edge(), "source", body["trace_id"].get<std::string>(), "activity");
  ASSERT_TRUE(source);
  EXPECT_EQ(source->string_field("outcome"), "failed") << source->text;
}

}  // namespace
