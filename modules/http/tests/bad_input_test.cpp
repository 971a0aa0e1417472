// tether::http::Server against bad input: malformed requests, oversized headers and bodies,
// slow clients, and propagation headers that must not be trusted.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <stdexcept>

#include <chrono>
#include <future>
#include <string>

#include "access_log_sink.hpp"
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

// A server with one route, "/budget", that answers how long its context has left (ms),
// and the trace id it was given.
struct BudgetServer {
  explicit BudgetServer(ServerOptions o) : server(tether::background(), with_log(std::move(o))) {
    server.route("GET", "/budget", [](const tether::Context& ctx, const Request&) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*ctx.deadline() - tether::now());
      return Response::text(200, std::to_string(left.count()));
    });
    server.route("POST", "/upload", [](const tether::Context&, const Request& r) {
      return Response::text(200, std::to_string(r.body.size()));
    });
    server.start();
  }
  ServerOptions with_log(ServerOptions o) {
    o.access_log = log.sink();
    return o;
  }
  // The remaining budget the handler saw for a GET with this grpc-timeout header.
  long budget_ms(const std::string& grpc_timeout) {
    auto c = RawConnection::connect(server.port());
    c.send_all(format_get("/budget", {{"grpc-timeout", grpc_timeout}}, Connection::keep_alive));
    auto res = c.read_response();
    if (!res.complete || res.status != 200) return -1;
    return std::stol(res.body);
  }
  AccessLogSink log;
  Server server;
};

int status_after_sending(std::uint16_t port, const std::string& raw) {
  auto c = RawConnection::connect(port);
  c.send_all(raw);
  auto res = c.read_response();
  return res.complete ? res.status : 0;
}

TEST(HttpBadInput, MalformedRequestIs400) {
  BudgetServer s({});
  EXPECT_EQ(status_after_sending(s.server.port(), "THIS IS NOT HTTP\r\n\r\n"), 400);
  EXPECT_EQ(status_after_sending(s.server.port(), "GET /budget HTTP/9.9\r\n\r\n"), 400);
  EXPECT_EQ(status_after_sending(s.server.port(), "GET /budget HTTP/1.1\r\nBad Header\r\n\r\n"),
            400);
}

TEST(HttpBadInput, HeadersOverTheLimitAre431) {
  ServerOptions o;
  o.header_limit = 1024;
  BudgetServer s(o);
  const std::string big(4000, 'a');
  EXPECT_EQ(status_after_sending(s.server.port(), format_get("/budget", {{"X-Filler", big}},
                                                             Connection::keep_alive)),
            431);
}

TEST(HttpBadInput, BodyOverTheLimitIs413) {
  ServerOptions o;
  o.body_limit = 1000;
  BudgetServer s(o);
  EXPECT_EQ(
      status_after_sending(s.server.port(),
                           "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"),
      413);
}

TEST(HttpBadInput, BodyWithinTheLimitIsServed) {
  ServerOptions o;
  o.body_limit = 1000;
  BudgetServer s(o);
  auto c = RawConnection::connect(s.server.port());
  c.send_all("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
  auto res = c.read_response();
  ASSERT_TRUE(res.complete) << res.error;
  EXPECT_EQ(res.body, "10");
}

// Peak resident memory of this process (each ctest test runs in a process of its own).
long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// Sends `head`, then `piece` until `total` bytes went out or the server stopped taking
// them, then reads the answer.
int status_after_flood(std::uint16_t port, const std::string& head, const std::string& piece,
                       std::size_t total) {
  auto c = RawConnection::connect(port);
  c.send_all(head);
  try {
    for (std::size_t sent = 0; sent < total; sent += piece.size()) c.send_all(piece);
  } catch (const std::runtime_error&) {
    // the server answered and closed: what we wanted to see
  }
  auto res = c.read_response();
  return res.complete ? res.status : 0;
}

TEST(HttpBadInput, TwentyMegabytesOfTrailersAre431WithBoundedMemory) {
  BudgetServer s({});
  const long before = peak_rss_kib();
  const std::string head =
      "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n";
  const std::string trailer = "X-T: " + std::string(1000, 'a') + "\r\n";
  EXPECT_EQ(status_after_flood(s.server.port(), head, trailer, 20u << 20), 431);
  const long grown_kib = peak_rss_kib() - before;
  EXPECT_LT(grown_kib, 8 * 1024) << "the server buffered the trailers (" << grown_kib << " KiB)";
}

TEST(HttpBadInput, ChunkExtensionsBeyondTheHeaderLimitAre400WithBoundedMemory) {
  ServerOptions o;
  o.header_limit = 1024;
  BudgetServer s(o);
  const long before = peak_rss_kib();
  const std::string head = "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  // Many chunks, each with a modest extension: each line fits, their sum does not.
  const std::string chunk = "1;ext=" + std::string(200, 'e') + "\r\nx\r\n";
  EXPECT_EQ(status_after_flood(s.server.port(), head, chunk, 64 * 1024), 400);
  // One chunk-size line far beyond the limit: refused before it is held whole.
  EXPECT_EQ(
      status_after_flood(s.server.port(), head + "1;ext=", std::string(64 * 1024, 'e'), 20u << 20),
      431);
  EXPECT_LT(peak_rss_kib() - before, 8 * 1024);
}

TEST(HttpBadInput, TransferEncodingWhoseLastCodingIsNotChunkedIs400) {
  BudgetServer s({});
  const std::string body = "5\r\nhello\r\n0\r\n\r\n";
  EXPECT_EQ(status_after_sending(s.server.port(),
                                 "POST /upload HTTP/1.1\r\nHost: x\r\n"
                                 "Transfer-Encoding: gzip\r\n\r\n" +
                                     body),
            400);
  EXPECT_EQ(status_after_sending(s.server.port(),
                                 "POST /upload HTTP/1.1\r\nHost: x\r\n"
                                 "Transfer-Encoding: chunked, gzip\r\n\r\n" +
                                     body),
            400);
  EXPECT_EQ(status_after_sending(s.server.port(),
                                 "POST /upload HTTP/1.1\r\nHost: x\r\n"
                                 "Transfer-Encoding: Chunked\r\n\r\n" +
                                     body),
            200);
}

TEST(HttpBadInput, AHandlerThatThrowsGets500WithoutItsMessageWhichGoesToTheLog) {
  AccessLogSink log;
  Server server(tether::background(), tether_test::options_with(log));
  server.route("GET", "/boom", [](const tether::Context&, const Request&) -> Response {
    throw std::runtime_error("secret: db password is hunter2");
  });
  server.start();
  auto res = get_once(server.port(), "/boom");
  ASSERT_TRUE(res.complete) << res.error;
  EXPECT_EQ(res.status, 500);
  EXPECT_EQ(res.body, "Internal Server Error");
  for (const auto& [name, value] : res.headers)
    EXPECT_EQ(value.find("hunter2"), std::string::npos) << name;
  auto entry = log.wait_for(1);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->status, 500);
  EXPECT_EQ(entry->error, "secret: db password is hunter2");
  EXPECT_NE(entry->format().find("error=\"secret: db password is hunter2\""), std::string::npos);
}

TEST(HttpBadInput, StalledHalfRequestIsClosedAfterReadTimeout) {
  ServerOptions o;
  o.read_timeout = 200ms;
  BudgetServer s(o);
  auto c = RawConnection::connect(s.server.port());
  const auto start = std::chrono::steady_clock::now();
  c.send_all("GET /budget HTTP/1.1\r\nHost: x\r\n");  // and never the blank line
  EXPECT_TRUE(c.wait_closed(10s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  EXPECT_FALSE(c.read_response(0ms).complete);
}

TEST(HttpBadInput, PropagatedTimeoutShortensTheRequestDeadline) {
  BudgetServer s({});
  long left = s.budget_ms("5S");
  EXPECT_GT(left, 4000);
  EXPECT_LE(left, 5000);
}

TEST(HttpBadInput, HugeTimeoutHeaderIsCappedByServerMaximum) {
  ServerOptions o;
  o.max_timeout = 2s;
  o.default_timeout = 60s;
  BudgetServer s(o);
  long left = s.budget_ms("99999999H");
  EXPECT_GT(left, 1000);
  EXPECT_LE(left, 2000);
}

TEST(HttpBadInput, InvalidTimeoutHeaderIsIgnored) {
  ServerOptions o;
  o.default_timeout = 3s;
  BudgetServer s(o);
  for (const char* bad : {"1.5S", "-1S", "123456789m", "10", "10s", ""}) {
    long left = s.budget_ms(bad);
    EXPECT_GT(left, 2000) << bad;
    EXPECT_LE(left, 3000) << bad;
  }
}

TEST(HttpBadInput, InvalidTraceparentStartsANewTrace) {
  BudgetServer s({});
  const std::string upper = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01";
  auto res = get_once(s.server.port(), "/budget", {{"traceparent", upper}});
  ASSERT_TRUE(res.complete) << res.error;
  EXPECT_EQ(res.status, 200);
  auto echoed = tether::parse_traceparent(res.header("traceparent").value_or(""));
  ASSERT_TRUE(echoed);
  EXPECT_NE(echoed->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
}

}  // namespace
