// Options::propagate: grpc-timeout and traceparent, as tether::http::Client sends them.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "curl_test_support.hpp"
#include "test_server.hpp"
#include "tether/curl.hpp"
#include "tether/http.hpp"
#include "tether/propagation.hpp"

using namespace std::chrono_literals;
using tether_test::Easy;

TEST(CurlPropagation, TetherHttpServersRequestContextGetsTheDeadlineAndTheTrace) {
  std::mutex mu;
  std::optional<std::chrono::nanoseconds> server_left;
  std::optional<tether::TraceContext> server_trace;
  tether::http::Server server(tether::background(), {.access_log = [](const auto&) {}});
  server.route("GET", "/ctx", [&](const tether::Context& ctx, const tether::http::Request&) {
    std::lock_guard lock(mu);
    if (auto d = ctx.deadline()) server_left = *d - tether::now();
    if (const auto* t = ctx.value(tether::trace_key)) server_trace = *t;
    return tether::http::Response::text(200, "ok");
  });
  server.start();

  const auto trace = tether::TraceContext::new_root();
  auto traced = tether::with_value(tether::background(), tether::trace_key, trace);
  auto [ctx, cancel] = tether::with_timeout(traced, 2s);
  Easy easy("http://127.0.0.1:" + std::to_string(server.port()) + "/ctx");
  std::string body;
  auto ec = tether::curl::perform(
      ctx, easy, {.propagate = true, .on_body = [&](std::string_view b) { body.append(b); }});
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(body, "ok");
  std::lock_guard lock(mu);
  ASSERT_TRUE(server_left.has_value());
  EXPECT_LE(*server_left, 2s - 20ms);  // the margin was taken off
  EXPECT_GT(*server_left, 1s);
  ASSERT_TRUE(server_trace.has_value());
  EXPECT_EQ(server_trace->trace_id, trace.trace_id);  // same trace, new spans
  EXPECT_NE(server_trace->span_id, trace.span_id);
  auto [grace, stop] = tether::with_timeout(tether::background(), 5s);
  (void)server.shutdown(grace);
}

TEST(CurlPropagation, HeadersAreSentAndTheHandlesListIsPutBack) {
  tether_test::TestServer server;
  Easy easy(server.url("/echo"));
  curl_slist* user = curl_slist_append(nullptr, "X-Test: 1");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, user);
  std::string sent;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 5s);
  ASSERT_FALSE(tether::curl::perform(
      ctx, easy, {.propagate = true, .headers = user, .on_body = [&](std::string_view b) {
                    sent.append(b);
                  }}));
  EXPECT_NE(sent.find("X-Test: 1"), std::string::npos) << sent;
  EXPECT_NE(sent.find("grpc-timeout: "), std::string::npos) << sent;
  EXPECT_NE(sent.find("traceparent: 00-"), std::string::npos) << sent;
  // Afterwards the handle sends the caller's own list again, and nothing of the context.
  std::string plain;
  ASSERT_FALSE(tether::curl::perform(tether::background(), easy,
                                     {.on_body = [&](std::string_view b) { plain.append(b); }}));
  EXPECT_NE(plain.find("X-Test: 1"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("traceparent"), std::string::npos) << plain;
  curl_slist_free_all(user);
}

TEST(CurlPropagation, DriverTransfersSendTheSameHeaders) {
  tether_test::TestServer server;
  tether::curl::Driver driver;
  Easy easy(server.url("/echo"));
  const auto trace = tether::TraceContext::new_root();
  auto traced = tether::with_value(tether::background(), tether::trace_key, trace);
  auto [ctx, cancel] = tether::with_timeout(traced, 5s);
  std::string sent;
  ASSERT_FALSE(driver.perform(
      ctx, easy, {.propagate = true, .on_body = [&](std::string_view b) { sent.append(b); }}));
  EXPECT_NE(sent.find("grpc-timeout: "), std::string::npos) << sent;
  EXPECT_NE(sent.find("traceparent: 00-" + trace.trace_id_hex() + "-"), std::string::npos) << sent;
}
