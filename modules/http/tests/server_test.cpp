// tether::http::Server: the request context really cancels (disconnect, timeout, shutdown),
// on real sockets on 127.0.0.1.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "access_log_sink.hpp"
#include "started_request.hpp"
#include "tether/context.hpp"
#include "tether/harness/raw_http.hpp"
#include "tether/http.hpp"
#include "tether/propagation.hpp"

namespace {

using namespace std::chrono_literals;
using tether::harness::Connection;
using tether::harness::format_get;
using tether::harness::get_once;
using tether::harness::RawConnection;
using tether::http::Request;
using tether::http::Response;
using tether::http::Server;
using tether::http::ServerOptions;
using tether_test::AccessLogSink;
using tether_test::options_with;

constexpr const char* kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// What a handler saw when its context ended.
struct Outcome {
  std::error_code err;
  std::string cause;
  std::error_code cause_code;
  std::chrono::steady_clock::time_point at;
};

// A handler that reports it started, then blocks until its context is done (bounded).
struct BlockingHandler {
  std::promise<void> started;
  std::promise<Outcome> finished;
  Response operator()(const tether::Context& ctx) {
    started.set_value();
    ctx.done().wait_for(20s);
    const tether::Cause why = tether::cause(ctx);
    finished.set_value({ctx.err(), why.message(), why.code(), std::chrono::steady_clock::now()});
    return Response::text(200, "finished");
  }
  Response operator()(const tether::Context& ctx, const Request&) { return (*this)(ctx); }
};

using BlockedRequest = tether_test::StartedRequest<BlockingHandler>;

TEST(HttpServer, ServesRouteAndEchoesTraceInSameTrace) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  std::promise<std::string> seen_trace;
  server.route("GET", "/hello", [&](const tether::Context& ctx, const Request& r) {
    const tether::TraceContext* t = ctx.value(tether::trace_key);
    seen_trace.set_value(t ? t->trace_id_hex() : "");
    return Response::text(200, "hello " + std::string(r.query()));
  });
  server.start();
  auto res = get_once(server.port(), "/hello?name=x", {{"traceparent", kTraceparent}});
  ASSERT_TRUE(res.complete) << res.error;
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "hello name=x");
  EXPECT_EQ(seen_trace.get_future().get(), "4bf92f3577b34da6a3ce929d0e0e4736");
  auto echoed = tether::parse_traceparent(res.header("traceparent").value_or(""));
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(echoed->span_id_hex(), "00f067aa0ba902b7");  // the server's own span
  auto entry = log.wait_for(1);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->format().substr(0, 15), "GET /hello 200 ");
  EXPECT_EQ(entry->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(HttpServer, UnknownPathIs404AndWrongMethodIs405) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  server.route("GET", "/only-get",
               [](const tether::Context&, const Request&) { return Response::text(200, "ok"); });
  server.start();
  auto c = RawConnection::connect(server.port());
  c.send_all(format_get("/nowhere", {}, Connection::keep_alive));
  auto missing = c.read_response();
  ASSERT_TRUE(missing.complete) << missing.error;
  EXPECT_EQ(missing.status, 404);
  c.send_all("POST /only-get HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  auto wrong = c.read_response();
  ASSERT_TRUE(wrong.complete) << wrong.error;
  EXPECT_EQ(wrong.status, 405);
}

TEST(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  server.route("GET", "/n", [](const tether::Context&, const Request& r) {
    return Response::text(200, std::string(r.query()));
  });
  server.start();
  auto c = RawConnection::connect(server.port());
  for (int i = 0; i < 3; ++i) {
    c.send_all(format_get("/n?" + std::to_string(i), {}, Connection::keep_alive));
    auto res = c.read_response();
    ASSERT_TRUE(res.complete) << res.error;
    EXPECT_EQ(res.body, std::to_string(i));
  }
}

// Response's contract: the server writes the framing fields itself.
TEST(HttpServer, TheServerOwnsContentLengthConnectionAndTransferEncoding) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  auto framed = [](const tether::Context&, const Request&) {
    Response r = Response::text(200, "abc");
    r.headers.set("Content-Length", "999");
    r.headers.set("Transfer-Encoding", "chunked");
    r.headers.set("Connection", "close");
    r.headers.set("X-Kept", "yes");
    return r;
  };
  server.route("GET", "/framed", framed);
  server.route("HEAD", "/framed", framed);
  server.route("GET", "/no-content", [](const tether::Context&, const Request&) {
    return Response::text(204, "dropped");
  });
  server.start();
  auto c = RawConnection::connect(server.port());
  c.send_all(format_get("/framed", {}, Connection::keep_alive));
  auto res = c.read_response();
  ASSERT_TRUE(res.complete) << res.error;
  EXPECT_EQ(res.header("Content-Length").value_or(""), "3");
  EXPECT_EQ(res.header("Transfer-Encoding").value_or(""), "");
  EXPECT_EQ(res.header("Connection").value_or(""), "");  // HTTP/1.1 keep-alive
  EXPECT_EQ(res.header("X-Kept").value_or(""), "yes");
  EXPECT_EQ(res.body, "abc");

  // 204: neither body nor Content-Length; the connection stays usable.
  c.send_all(format_get("/no-content", {}, Connection::keep_alive));
  res = c.read_response();
  ASSERT_TRUE(res.complete) << res.error;
  EXPECT_EQ(res.status, 204);
  EXPECT_EQ(res.header("Content-Length"), std::nullopt);
  EXPECT_EQ(res.body, "");

  // HEAD: the GET's Content-Length, no body; then the connection closes as asked.
  c.send_all("HEAD /framed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const auto head = c.read_response(10s, tether::harness::Body::none);
  ASSERT_TRUE(head.complete) << head.error;
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("Content-Length"), "3");
  EXPECT_EQ(head.header("Connection"), "close");
  EXPECT_EQ(c.read_until_closed(), "") << "a response to HEAD carries no body";
}

TEST(HttpServer, ClientDisconnectCancelsHandlerContext) {
  BlockedRequest r;
  ASSERT_TRUE(r.start());
  const auto closed_at = std::chrono::steady_clock::now();
  r.client->close();
  auto outcome = r.handler.finished.get_future();
  ASSERT_EQ(outcome.wait_for(10s), std::future_status::ready);
  Outcome o = outcome.get();
  const auto delay = std::chrono::duration<double, std::milli>(o.at - closed_at);
  std::printf("disconnect → handler context done: %.3f ms\n", delay.count());
  EXPECT_EQ(o.err, tether::errc::canceled);
  EXPECT_EQ(o.cause, "client disconnected");
  EXPECT_EQ(o.cause_code, tether::http::errc::client_disconnected);
  EXPECT_EQ(o.cause_code, std::errc::operation_canceled);
  EXPECT_LT(delay, 2s);
  auto entry = r.log.wait_for(1);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->status, 499);
  EXPECT_EQ(entry->cause, "client disconnected");
  EXPECT_EQ(entry->cause_code, tether::http::errc::client_disconnected);
}

TEST(HttpServer, ClientResetCancelsHandlerContext) {
  BlockedRequest r;
  ASSERT_TRUE(r.start());
  r.client->reset();
  auto outcome = r.handler.finished.get_future();
  ASSERT_EQ(outcome.wait_for(10s), std::future_status::ready);
  Outcome o = outcome.get();
  EXPECT_EQ(o.err, tether::errc::canceled);
  EXPECT_EQ(o.cause, "client disconnected");
}

TEST(HttpServer, PipelinedRequestDoesNotCancelTheFirst) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  std::promise<void> first_started;
  std::promise<void> release_first;
  auto release = release_first.get_future().share();
  std::promise<std::error_code> first_err;
  server.route("GET", "/first", [&](const tether::Context& ctx, const Request&) {
    first_started.set_value();
    release.wait_for(20s);
    first_err.set_value(ctx.err());
    return Response::text(200, "first");
  });
  server.route("GET", "/second", [](const tether::Context&, const Request&) {
    return Response::text(200, "second");
  });
  server.start();
  auto c = RawConnection::connect(server.port());
  c.send_all(format_get("/first", {}, Connection::keep_alive));
  ASSERT_EQ(first_started.get_future().wait_for(10s), std::future_status::ready);
  // The first handler is running and the watch read is outstanding: these bytes reach it.
  c.send_all(format_get("/second", {}, Connection::keep_alive));
  // The server answers nothing before the first handler returns; give the watch time to
  // see the pipelined bytes (a read that must NOT cancel), then release the handler.
  EXPECT_FALSE(c.read_response(200ms).complete);
  release_first.set_value();
  auto r1 = c.read_response();
  auto r2 = c.read_response();
  ASSERT_TRUE(r1.complete) << r1.error;
  ASSERT_TRUE(r2.complete) << r2.error;
  EXPECT_FALSE(first_err.get_future().get());
  EXPECT_EQ(r1.body, "first");
  EXPECT_EQ(r2.body, "second");
}

TEST(HttpServer, RouteTimeoutAnswers504AndHandlerSeesDeadlineExceeded) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  BlockingHandler handler;
  server.route("GET", "/slow",
               [&](const tether::Context& ctx, const Request&) { return handler(ctx); },
               {.timeout = 100ms});
  server.start();
  auto res = get_once(server.port(), "/slow");
  ASSERT_TRUE(res.complete) << res.error;
  EXPECT_EQ(res.status, 504);
  EXPECT_EQ(handler.finished.get_future().get().err, tether::errc::deadline_exceeded);
  auto entry = log.wait_for(1);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->status, 504);
  EXPECT_EQ(entry->cause, "context deadline exceeded");
}

TEST(HttpServer, BaseContextCancelCancelsRequests) {
  auto [base, cancel_base] = tether::with_cancel_cause(tether::background());
  BlockedRequest r(base);
  ASSERT_TRUE(r.start());
  cancel_base(tether::Cause("maintenance"));
  EXPECT_EQ(r.handler.finished.get_future().get().cause, "maintenance");
  EXPECT_TRUE(r.client->wait_closed());  // nothing written for a cancelled request
  auto entry = r.log.wait_for(1);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->status, 499);
}

TEST(HttpServer, HandlerExceptionAnswers500) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  server.route("GET", "/throw", [](const tether::Context&, const Request&) -> Response {
    throw std::runtime_error("boom");
  });
  server.start();
  auto res = get_once(server.port(), "/throw");
  ASSERT_TRUE(res.complete) << res.error;
  EXPECT_EQ(res.status, 500);
}

TEST(HttpServer, HandlerStatusOutsideHttpRangeAnswers500) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  server.route("GET", "/weird", [](const tether::Context&, const Request&) {
    return Response::text(1234, "not a status");
  });
  server.start();
  auto res = get_once(server.port(), "/weird");
  ASSERT_TRUE(res.complete) << res.error;
  EXPECT_EQ(res.status, 500);
}

// Polls until a connection attempt is refused (the acceptor is closed); bounded.
bool wait_until_refused(std::uint16_t port) {
  for (int i = 0; i < 5000; ++i) {
    if (!RawConnection::try_connect(port)) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

TEST(HttpServer, ShutdownFinishesInFlightRequestsAndRefusesNewConnections) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  std::promise<void> started;
  std::promise<void> release;
  auto released = release.get_future().share();
  server.route("GET", "/work", [&](const tether::Context&, const Request&) {
    started.set_value();
    released.wait_for(20s);
    return Response::text(200, "done");
  });
  server.start();
  const auto port = server.port();
  auto c = RawConnection::connect(port);
  c.send_all(format_get("/work", {}, Connection::keep_alive));
  ASSERT_EQ(started.get_future().wait_for(10s), std::future_status::ready);

  auto [grace, stop_grace] = tether::with_timeout(tether::background(), 20s);
  auto result = std::async(std::launch::async, [&, g = grace] { return server.shutdown(g); });
  EXPECT_TRUE(wait_until_refused(port));
  release.set_value();
  auto res = c.read_response();
  ASSERT_TRUE(res.complete) << res.error;
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Connection").value_or(""), "close");
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(result.get());
}

TEST(HttpServer, ShutdownCancelsStragglersWhenGraceEnds) {
  BlockedRequest r;
  ASSERT_TRUE(r.start());
  auto [grace, stop_grace] = tether::with_timeout(tether::background(), 100ms);
  EXPECT_EQ(r.server.shutdown(grace), tether::errc::deadline_exceeded);
  Outcome o = r.handler.finished.get_future().get();
  EXPECT_EQ(o.err, tether::errc::canceled);
  EXPECT_EQ(o.cause, "server shutdown");
  EXPECT_EQ(o.cause_code, tether::http::errc::server_shutdown);
  EXPECT_TRUE(r.client->wait_closed());
  EXPECT_FALSE(r.client->read_response(0ms).complete);  // nothing was written
  auto entry = r.log.wait_for(1);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->status, 499);
  EXPECT_EQ(entry->cause, "server shutdown");
  EXPECT_EQ(entry->cause_code, tether::http::errc::server_shutdown);
}

TEST(HttpServer, ShutdownClosesIdleKeepAliveConnections) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  server.route("GET", "/",
               [](const tether::Context&, const Request&) { return Response::text(200, "ok"); });
  server.start();
  auto c = RawConnection::connect(server.port());
  c.send_all(format_get("/", {}, Connection::keep_alive));
  ASSERT_TRUE(c.read_response().complete);
  auto [grace, stop_grace] = tether::with_timeout(tether::background(), 10s);
  EXPECT_FALSE(server.shutdown(grace));
  EXPECT_TRUE(c.wait_closed());
}

TEST(HttpServer, StartOnABusyPortThrowsStdSystemError) {
  Server first(tether::background(), {});
  first.start();
  ServerOptions o;
  o.port = first.port();
  Server second(tether::background(), o);
  try {
    second.start();
    FAIL() << "start() on a busy port did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use);
    EXPECT_NE(std::string(e.what()).find("cannot bind 127.0.0.1:"), std::string::npos) << e.what();
  }
}

TEST(HttpServer, StartWithAnInvalidAddressThrowsStdSystemError) {
  ServerOptions o;
  o.address = "not-an-address";
  Server server(tether::background(), o);
  EXPECT_THROW(server.start(), std::system_error);
}

}  // namespace
