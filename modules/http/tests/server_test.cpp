// tether::http::Server: the request context really cancels (disconnect, timeout, shutdown),
// on real sockets on 127.0.0.1.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <thread>

#include "access_log_sink.hpp"
#include "raw_socket.hpp"
#include "tether/context.hpp"
#include "tether/http.hpp"
#include "tether/propagation.hpp"

namespace {

using namespace std::chrono_literals;
using tether::http::Request;
using tether::http::Response;
using tether::http::Server;
using tether::http::ServerOptions;
using tether_test::AccessLogSink;
using tether_test::options_with;
using tether_test::RawSocket;

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
};

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
  RawSocket c(server.port());
  c.send(tether_test::get_request("/hello?name=x",
                                  std::string("traceparent: ") + kTraceparent + "\r\n"));
  auto res = c.read_response();
  ASSERT_TRUE(res);
  EXPECT_EQ(tether_test::status_of(*res), 200);
  EXPECT_EQ(tether_test::body_of(*res), "hello name=x");
  EXPECT_EQ(seen_trace.get_future().get(), "4bf92f3577b34da6a3ce929d0e0e4736");
  auto echoed = tether::parse_traceparent(tether_test::header_of(*res, "traceparent"));
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
  RawSocket c(server.port());
  c.send(tether_test::get_request("/nowhere"));
  auto missing = c.read_response();
  ASSERT_TRUE(missing);
  EXPECT_EQ(tether_test::status_of(*missing), 404);
  c.send("POST /only-get HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  auto wrong = c.read_response();
  ASSERT_TRUE(wrong);
  EXPECT_EQ(tether_test::status_of(*wrong), 405);
}

TEST(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  server.route("GET", "/n", [](const tether::Context&, const Request& r) {
    return Response::text(200, std::string(r.query()));
  });
  server.start();
  RawSocket c(server.port());
  for (int i = 0; i < 3; ++i) {
    c.send(tether_test::get_request("/n?" + std::to_string(i)));
    auto res = c.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(tether_test::body_of(*res), std::to_string(i));
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
  RawSocket c(server.port());
  c.send(tether_test::get_request("/framed"));
  auto res = c.read_response();
  ASSERT_TRUE(res);
  EXPECT_EQ(tether_test::header_of(*res, "Content-Length"), "3");
  EXPECT_EQ(tether_test::header_of(*res, "Transfer-Encoding"), "");
  EXPECT_EQ(tether_test::header_of(*res, "Connection"), "");  // HTTP/1.1 keep-alive
  EXPECT_EQ(tether_test::header_of(*res, "X-Kept"), "yes");
  EXPECT_EQ(tether_test::body_of(*res), "abc");

  // 204: neither body nor Content-Length; the connection stays usable.
  c.send(tether_test::get_request("/no-content"));
  res = c.read_response();
  ASSERT_TRUE(res);
  EXPECT_EQ(tether_test::status_of(*res), 204);
  EXPECT_EQ(res->find("Content-Length"), std::string::npos) << *res;
  EXPECT_EQ(tether_test::body_of(*res), "");

  // HEAD: the GET's Content-Length, no body; then the connection closes as asked.
  c.send("HEAD /framed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string head = c.read_until_closed();
  EXPECT_EQ(tether_test::status_of(head), 200) << head;
  EXPECT_EQ(tether_test::header_of(head, "Content-Length"), "3");
  EXPECT_EQ(tether_test::header_of(head, "Connection"), "close");
  EXPECT_EQ(tether_test::body_of(head), "") << "a response to HEAD carries no body";
}

TEST(HttpServer, ClientDisconnectCancelsHandlerContext) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  BlockingHandler handler;
  server.route("GET", "/block",
               [&](const tether::Context& ctx, const Request&) { return handler(ctx); });
  server.start();
  RawSocket c(server.port());
  c.send(tether_test::get_request("/block"));
  ASSERT_EQ(handler.started.get_future().wait_for(10s), std::future_status::ready);
  const auto closed_at = std::chrono::steady_clock::now();
  c.close();
  auto outcome = handler.finished.get_future();
  ASSERT_EQ(outcome.wait_for(10s), std::future_status::ready);
  Outcome o = outcome.get();
  const auto delay = std::chrono::duration<double, std::milli>(o.at - closed_at);
  std::printf("disconnect → handler context done: %.3f ms\n", delay.count());
  EXPECT_EQ(o.err, tether::errc::canceled);
  EXPECT_EQ(o.cause, "client disconnected");
  EXPECT_EQ(o.cause_code, tether::http::errc::client_disconnected);
  EXPECT_EQ(o.cause_code, std::errc::operation_canceled);
  EXPECT_LT(delay, 2s);
  auto entry = log.wait_for(1);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->status, 499);
  EXPECT_EQ(entry->cause, "client disconnected");
  EXPECT_EQ(entry->cause_code, tether::http::errc::client_disconnected);
}

TEST(HttpServer, ClientResetCancelsHandlerContext) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  BlockingHandler handler;
  server.route("GET", "/block",
               [&](const tether::Context& ctx, const Request&) { return handler(ctx); });
  server.start();
  RawSocket c(server.port());
  c.send(tether_test::get_request("/block"));
  ASSERT_EQ(handler.started.get_future().wait_for(10s), std::future_status::ready);
  c.reset();
  auto outcome = handler.finished.get_future();
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
  RawSocket c(server.port());
  c.send(tether_test::get_request("/first"));
  ASSERT_EQ(first_started.get_future().wait_for(10s), std::future_status::ready);
  // The first handler is running and the watch read is outstanding: these bytes reach it.
  c.send(tether_test::get_request("/second"));
  // The server answers nothing before the first handler returns; give the watch time to
  // see the pipelined bytes (a read that must NOT cancel), then release the handler.
  EXPECT_FALSE(c.read_response(200ms));
  release_first.set_value();
  auto r1 = c.read_response();
  auto r2 = c.read_response();
  ASSERT_TRUE(r1);
  ASSERT_TRUE(r2);
  EXPECT_FALSE(first_err.get_future().get());
  EXPECT_EQ(tether_test::body_of(*r1), "first");
  EXPECT_EQ(tether_test::body_of(*r2), "second");
}

TEST(HttpServer, RouteTimeoutAnswers504AndHandlerSeesDeadlineExceeded) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  BlockingHandler handler;
  server.route("GET", "/slow",
               [&](const tether::Context& ctx, const Request&) { return handler(ctx); },
               {.timeout = 100ms});
  server.start();
  RawSocket c(server.port());
  c.send(tether_test::get_request("/slow"));
  auto res = c.read_response();
  ASSERT_TRUE(res);
  EXPECT_EQ(tether_test::status_of(*res), 504);
  EXPECT_EQ(handler.finished.get_future().get().err, tether::errc::deadline_exceeded);
  auto entry = log.wait_for(1);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->status, 504);
  EXPECT_EQ(entry->cause, "context deadline exceeded");
}

TEST(HttpServer, BaseContextCancelCancelsRequests) {
  AccessLogSink log;
  auto [base, cancel_base] = tether::with_cancel_cause(tether::background());
  Server server(base, options_with(log));
  BlockingHandler handler;
  server.route("GET", "/block",
               [&](const tether::Context& ctx, const Request&) { return handler(ctx); });
  server.start();
  RawSocket c(server.port());
  c.send(tether_test::get_request("/block"));
  ASSERT_EQ(handler.started.get_future().wait_for(10s), std::future_status::ready);
  cancel_base(tether::Cause("maintenance"));
  EXPECT_EQ(handler.finished.get_future().get().cause, "maintenance");
  EXPECT_TRUE(c.wait_closed());  // nothing written for a cancelled request
  auto entry = log.wait_for(1);
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
  RawSocket c(server.port());
  c.send(tether_test::get_request("/throw"));
  auto res = c.read_response();
  ASSERT_TRUE(res);
  EXPECT_EQ(tether_test::status_of(*res), 500);
}

TEST(HttpServer, HandlerStatusOutsideHttpRangeAnswers500) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  server.route("GET", "/weird", [](const tether::Context&, const Request&) {
    return Response::text(1234, "not a status");
  });
  server.start();
  RawSocket c(server.port());
  c.send(tether_test::get_request("/weird"));
  auto res = c.read_response();
  ASSERT_TRUE(res);
  EXPECT_EQ(tether_test::status_of(*res), 500);
}

// Polls until a connection attempt is refused (the acceptor is closed); bounded.
bool wait_until_refused(std::uint16_t port) {
  for (int i = 0; i < 5000; ++i) {
    RawSocket probe(port);
    if (!probe.connected()) return true;
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
  RawSocket c(port);
  c.send(tether_test::get_request("/work"));
  ASSERT_EQ(started.get_future().wait_for(10s), std::future_status::ready);

  auto [grace, stop_grace] = tether::with_timeout(tether::background(), 20s);
  auto result = std::async(std::launch::async, [&, g = grace] { return server.shutdown(g); });
  EXPECT_TRUE(wait_until_refused(port));
  release.set_value();
  auto res = c.read_response();
  ASSERT_TRUE(res);
  EXPECT_EQ(tether_test::status_of(*res), 200);
  EXPECT_EQ(tether_test::header_of(*res, "Connection"), "close");
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(result.get());
}

TEST(HttpServer, ShutdownCancelsStragglersWhenGraceEnds) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  BlockingHandler handler;
  server.route("GET", "/stuck",
               [&](const tether::Context& ctx, const Request&) { return handler(ctx); });
  server.start();
  RawSocket c(server.port());
  c.send(tether_test::get_request("/stuck"));
  ASSERT_EQ(handler.started.get_future().wait_for(10s), std::future_status::ready);
  auto [grace, stop_grace] = tether::with_timeout(tether::background(), 100ms);
  EXPECT_EQ(server.shutdown(grace), tether::errc::deadline_exceeded);
  Outcome o = handler.finished.get_future().get();
  EXPECT_EQ(o.err, tether::errc::canceled);
  EXPECT_EQ(o.cause, "server shutdown");
  EXPECT_EQ(o.cause_code, tether::http::errc::server_shutdown);
  EXPECT_TRUE(c.wait_closed());
  EXPECT_FALSE(c.read_response(0ms));  // nothing was written
  auto entry = log.wait_for(1);
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
  RawSocket c(server.port());
  c.send(tether_test::get_request("/"));
  ASSERT_TRUE(c.read_response());
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
