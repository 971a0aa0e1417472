// "A deadline is a deadline": a 504 answer fails the client call with
// tether::errc::deadline_exceeded (the 504 kept in the error), and a tether → tether → tether
// chain reports the innermost callee's deadline to the outermost caller as
// deadline_exceeded. Real servers on 127.0.0.1; time moves on a ManualClock, so the
// deadlines fire exactly when the test says, whatever the machine's load.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>

#include "tether/context.hpp"
#include "tether/http.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using tether::http::Client;
using tether::http::Request;
using tether::http::Response;
using tether::http::Server;

tether::http::ServerOptions quiet() {
  return {.access_log = [](const auto&) {}};
}

std::string url(const Server& s, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(s.port()) + path;
}

TEST(HttpClientDeadline, TheCalleesDeadline504IsDeadlineExceededAndKeepsTheResponse) {
  tether::testing::ManualClock clock;
  Server server(tether::background(), quiet());
  std::promise<void> started;
  server.route("GET", "/slow", [&](const tether::Context& ctx, const Request&) {
    started.set_value();
    ctx.done().wait_for(10s);  // until the propagated deadline passes: 504
    return Response{};
  });
  server.start();
  Client client;  // margin 20 ms
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  auto call =
      std::async(std::launch::async, [&, c = ctx] { return client.get(c, url(server, "/slow")); });
  ASSERT_EQ(started.get_future().wait_for(10s), std::future_status::ready);
  clock.advance(990ms);  // past the callee's 980 ms, within the caller's 1 s
  auto r = call.get();
  EXPECT_FALSE(ctx.err());  // the caller's context is still running: this is the 504
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, tether::errc::deadline_exceeded);
  ASSERT_TRUE(r.error().response);  // the 504 is kept in the error, all of it
  EXPECT_EQ(r.error().response->status, 504);
  EXPECT_NE(r.error().response->headers.find("traceparent"), nullptr);
  EXPECT_NE(r.error().message.find("504"), std::string::npos) << r.error().message;
}

TEST(HttpClientDeadline, Any504IsDeadlineExceededOtherStatusesAreAnswers) {
  Server server(tether::background(), quiet());
  server.route("GET", "/status/{code}", [](const tether::Context&, const Request& r) {
    return Response::text(std::stoi(std::string(r.path_value("code"))), "body");
  });
  server.start();
  Client client;
  auto gateway = client.get(tether::background(), url(server, "/status/504"));  // no deadline
  EXPECT_EQ(gateway.error().code, tether::errc::deadline_exceeded);
  ASSERT_TRUE(gateway.error().response);
  EXPECT_EQ(gateway.error().response->status, 504);
  EXPECT_EQ(gateway.error().response->body, "body");
  EXPECT_EQ(tether::http::response_of(gateway), &*gateway.error().response);
  for (int code : {200, 404, 500, 503}) {
    auto r = client.get(tether::background(), url(server, "/status/" + std::to_string(code)));
    EXPECT_TRUE(r.ok()) << code << " " << r.error().message;
    EXPECT_EQ(r->status, code);
    EXPECT_EQ(tether::http::response_of(r), &*r);
  }
}

TEST(HttpClientDeadline, AFailedCallWithoutAnAnswerHasNoResponse) {
  Client client;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  auto r = client.get(ctx, "http://127.0.0.1:1/");
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r);
  EXPECT_EQ(r.error().code, tether::errc::canceled);
  EXPECT_FALSE(r.error().response);
  auto refused = client.get(tether::background(), "not a url");
  EXPECT_EQ(refused.error().code, std::errc::invalid_argument);
  EXPECT_FALSE(refused.error().response);
  EXPECT_EQ(tether::http::response_of(refused), nullptr);
  // The message names the call, as Go's url.Error does; the code is what callers compare.
  EXPECT_EQ(refused.error().message.rfind("GET not a url: ", 0), 0u) << refused.error().message;
}

// outer caller → front (a tether server whose handler calls back) → back (a tether server
// that answers at its deadline). The deadline set by the outer caller is the only one; it
// reaches back (minus two margins), passes there, and comes back as deadline_exceeded at
// every hop.
TEST(HttpClientDeadline, ATetherToTetherHopReportsTheDownstreamDeadlineAsDeadlineExceeded) {
  tether::testing::ManualClock clock;
  Server back(tether::background(), quiet());
  std::promise<void> back_started;
  back.route("GET", "/slow", [&](const tether::Context& ctx, const Request&) {
    back_started.set_value();
    ctx.done().wait_for(10s);
    return Response::text(200, "too late");  // replaced by 504: the deadline passed
  });
  back.start();

  Server front(tether::background(), quiet());
  Client client;
  std::promise<tether::Result<tether::http::Response, tether::http::Error>> front_saw;
  front.route("GET", "/front", [&](const tether::Context& ctx, const Request&) {
    auto r = client.get(ctx, url(back, "/slow"));
    const bool deadline = !r && r.error().code == tether::errc::deadline_exceeded;
    front_saw.set_value(r);
    if (deadline) return Response::text(504, "back: deadline exceeded");
    return Response::text(200, "back answered");
  });
  front.start();

  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  auto call =
      std::async(std::launch::async, [&, c = ctx] { return client.get(c, url(front, "/front")); });
  ASSERT_EQ(back_started.get_future().wait_for(10s), std::future_status::ready);
  // front's context ends at 980 ms, back's at 960 ms (a 20 ms margin per hop).
  clock.advance(970ms);
  auto saw = front_saw.get_future();
  ASSERT_EQ(saw.wait_for(10s), std::future_status::ready);
  auto inner = saw.get();
  EXPECT_EQ(inner.error().code, tether::errc::deadline_exceeded);  // back's 504
  ASSERT_TRUE(inner.error().response);
  EXPECT_EQ(inner.error().response->status, 504);

  auto outer = call.get();
  EXPECT_FALSE(ctx.err());  // the outer caller's own deadline has not passed
  EXPECT_EQ(outer.error().code, tether::errc::deadline_exceeded);
  ASSERT_TRUE(outer.error().response);
  EXPECT_EQ(outer.error().response->status, 504);
  EXPECT_EQ(outer.error().response->body, "back: deadline exceeded");
}

}  // namespace
