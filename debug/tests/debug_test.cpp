// tether::debug mounted on a real tether::http server: the page and its assets, the live
// JSON of a request in flight, the history of one that a client hung up on (with its
// status, cause and every context of its tree), the filters, the timeline, the metrics and
// the side port.
#include "tether/debug.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "debug_test_support.hpp"
#include "tether/propagation.hpp"

namespace {

using namespace std::chrono_literals;
using namespace tether_debug_test;
namespace registry = tether::registry;

class Debug : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(registry::size(), 0u);
    registry::set_history(0);  // forgets earlier tests' requests; mount() sets the bound
    tether::http::ServerOptions o;
    o.access_log = tether::debug::recording_status(log_.sink());
    server_ = std::make_unique<tether::http::Server>(tether::background(), o);
    // A request that derives a query (with its own deadline) and a call beneath it, and
    // waits for its context: ends only when the client leaves or its deadline passes.
    server_->route("GET", "/slow",
                   [this](const tether::Context& ctx, const tether::http::Request& r) {
                     auto tracked = tether::debug::track_request(ctx, r);
                     auto [query, cancel_query] =
                         tether::with_timeout(tether::with_value(ctx, step_key, "query"), 60s);
                     auto hook = tether::after_func(query, [] {});
                     auto [call, cancel_call] = tether::with_cancel(query);
                     started_.notify();
                     call.done().wait_for(30s);
                     return tether::http::Response::text(200, "late");
                   });
    server_->route("GET", "/fast", [](const tether::Context& ctx, const tether::http::Request& r) {
      auto tracked = tether::debug::track_request(ctx, r);
      return tether::http::Response::text(200, "ok");
    });
    tether::debug::mount(*server_, {.history = 32});
    server_->start();
  }
  void TearDown() override {
    server_.reset();
    registry::enable(false);
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  tether::http::Response get(const std::string& path) const {
    auto r = client_.get(tether::background(), url(path));
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : tether::http::Response{};
  }

  /// Sends GET /slow with `trace`, waits until its handler runs, and hangs up.
  void hang_up_slow_request(const tether::TraceContext& trace) {
    RawClient c(server_->port());
    c.send("GET /slow HTTP/1.1\r\nHost: x\r\ntraceparent: " + traceparent_of(trace) + "\r\n\r\n");
    ASSERT_TRUE(started_.wait(kBound));
    c.close();
    ASSERT_TRUE(log_.wait_for_count(1, kBound));
  }

  AccessLogCount log_;
  Signal started_;
  tether::http::Client client_;
  std::unique_ptr<tether::http::Server> server_;
};

TEST_F(Debug, MountServesThePageAndItsAssetsWithoutCaching) {
  const auto page = get("/debug/contexts");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(*page.headers.find("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(*page.headers.find("Cache-Control"), "no-store");
  EXPECT_NE(page.body.find("<script src=\"contexts.js\">"), std::string::npos);
  EXPECT_NE(get("/debug/contexts.js").body.find("function renderLive"), std::string::npos);
  EXPECT_NE(get("/debug/contexts.css").body.find(".node"), std::string::npos);
}

TEST_F(Debug, LiveJsonShowsARequestInFlightWithItsTree) {
  const auto trace = tether::TraceContext::new_root();
  RawClient c(server_->port());
  c.send("GET /slow HTTP/1.1\r\nHost: x\r\ntraceparent: " + traceparent_of(trace) + "\r\n\r\n");
  ASSERT_TRUE(started_.wait(kBound));
  const std::string json = get("/debug/contexts.json").body;
  EXPECT_NE(json.find("\"label\":\"GET /slow\""), std::string::npos) << json;
  EXPECT_NE(json.find(trace.trace_id_hex()), std::string::npos) << json;
  EXPECT_NE(json.find("\"value\":\"query\""), std::string::npos) << json;
  EXPECT_EQ(json.find("\"registry\":\"off\""), std::string::npos) << json;
  c.close();
  ASSERT_TRUE(log_.wait_for_count(1, kBound));
}

TEST_F(Debug, HistoryShowsAHungUpRequestWithStatusCauseAndEveryContext) {
  const auto trace = tether::TraceContext::new_root();
  hang_up_slow_request(trace);
  const std::string json = get("/debug/history.json?trace_id=" + trace.trace_id_hex()).body;
  EXPECT_NE(json.find("\"result\":\"499\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"cause\":\"client disconnected\""), std::string::npos) << json;
  const auto f = registry::find_finished(trace.trace_id_hex());
  ASSERT_TRUE(f.has_value());
  ASSERT_EQ(f->contexts.size(), 3u);  // the request, the query, the call
  for (const auto& c : f->contexts) {
    EXPECT_EQ(c.state, registry::State::canceled);
    EXPECT_EQ(c.cause, "client disconnected");
  }
  EXPECT_EQ(f->contexts[1].callbacks, 1u);
  EXPECT_TRUE(f->contexts[1].deadline.has_value());
}

TEST_F(Debug, HistoryFiltersByStatusCauseAndSortsSlowestFirst) {
  hang_up_slow_request(tether::TraceContext::new_root());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get("/fast").status, 200);
  ASSERT_TRUE(log_.wait_for_count(4, kBound));
  auto count = [](const std::string& json) {
    std::size_t n = 0;
    for (auto p = json.find("\"label\""); p != std::string::npos; p = json.find("\"label\"", p + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(count(get("/debug/history.json?status=200").body), 3u);
  EXPECT_EQ(count(get("/debug/history.json?status=499").body), 1u);
  EXPECT_EQ(count(get("/debug/history.json?cause=disconnected").body), 1u);
  EXPECT_EQ(count(get("/debug/history.json?limit=2").body), 2u);
  const std::string slowest = get("/debug/history.json?sort=slowest&limit=1").body;
  EXPECT_NE(slowest.find("GET /slow"), std::string::npos) << slowest;
}

TEST_F(Debug, TimelineOfAFinishedRequestIsAnSvgOfItsCascade) {
  const auto trace = tether::TraceContext::new_root();
  hang_up_slow_request(trace);
  const auto svg = get("/debug/timeline.svg?trace_id=" + trace.trace_id_hex());
  EXPECT_EQ(svg.status, 200);
  EXPECT_EQ(*svg.headers.find("Content-Type"), "image/svg+xml");
  std::size_t cancelled = 0;
  for (auto p = svg.body.find("class=\"bar canceled\""); p != std::string::npos;
       p = svg.body.find("class=\"bar canceled\"", p + 1))
    ++cancelled;
  EXPECT_EQ(cancelled, 3u) << svg.body;
  EXPECT_EQ(get("/debug/timeline.svg?id=999999").status, 404);
}

TEST_F(Debug, MetricsCountCancellationsByCause) {
  hang_up_slow_request(tether::TraceContext::new_root());
  const std::string text = get("/debug/metrics").body;
  EXPECT_NE(text.find("# TYPE tether_context_cancellations_total counter"), std::string::npos);
  EXPECT_NE(text.find("tether_context_cancellations_total{cause=\"client disconnected\"}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tether_deadline_left_seconds_bucket{le=\"+Inf\"}"), std::string::npos);
  EXPECT_NE(text.find("tether_tracked_contexts 0"), std::string::npos) << text;
}

TEST(DebugSidePort, ServesTheSameViewsOnItsOwnPort) {
  tether::debug::SidePort side(tether::background(), {});
  ASSERT_NE(side.port(), 0);
  tether::http::Client client;
  const std::string base = "http://127.0.0.1:" + std::to_string(side.port());
  auto page = client.get(tether::background(), base + "/debug/contexts");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->status, 200);
  auto live = client.get(tether::background(), base + "/debug/contexts.json");
  ASSERT_TRUE(live.ok());
  EXPECT_NE(live->body.find("\"contexts\":["), std::string::npos);
  EXPECT_FALSE(side.shutdown(tether::background()));
  tether::registry::enable(false);
}

TEST(DebugTrackingOff, LiveJsonSaysSoAndTrackRequestIsEmpty) {
  tether::http::Server server(tether::background(), {});
  tether::debug::mount(server, {.enable_tracking = false});
  server.start();
  tether::http::Request request;
  request.method = "GET";
  request.target = "/x?y=1";
  EXPECT_FALSE(tether::debug::track_request(tether::background(), request));
  tether::http::Client client;
  auto live = client.get(tether::background(), "http://127.0.0.1:" + std::to_string(server.port()) +
                                                   "/debug/contexts.json");
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->body, "{\"contexts\":[],\"registry\":\"off\"}");
}

}  // namespace
