// tether::http::Client: every phase ends when the context does, and it propagates the
// remaining time and the trace.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <thread>

#include "tether/context.hpp"
#include "tether/http.hpp"
#include "tether/propagation.hpp"

namespace {

using namespace std::chrono_literals;
using tether::http::Client;
using tether::http::Request;
using tether::http::Response;
using tether::http::Server;

// A TCP server that accepts one connection, reads the request headers, reports them, and
// never answers. Closes when destroyed.
class SilentServer {
 public:
  SilentServer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 4) != 0)
      throw std::runtime_error("listen failed");
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~SilentServer() {
    ::shutdown(listener_, SHUT_RDWR);
    stop_.set_value();
    thread_.join();
    ::close(listener_);
  }
  std::uint16_t port() const { return port_; }
  std::future<std::string>& headers() { return headers_future_; }

 private:
  void serve() {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) return headers_.set_value("");
    int fd = ::accept(listener_, nullptr, nullptr);
    std::string in;
    char buf[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
      pollfd q{fd, POLLIN, 0};
      if (::poll(&q, 1, 10'000) <= 0) break;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
    }
    headers_.set_value(in);
    stop_future_.wait_for(20s);  // hold the connection open, answer nothing
    ::close(fd);
  }

  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::promise<std::string> headers_;
  std::future<std::string> headers_future_ = headers_.get_future();
  std::promise<void> stop_;
  std::future<void> stop_future_ = stop_.get_future();
  std::thread thread_;
};

std::string header_value(const std::string& raw, const std::string& name) {
  auto at = raw.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  at += name.size() + 4;
  return raw.substr(at, raw.find("\r\n", at) - at);
}

TEST(HttpClient, ReturnsDeadlineExceededWhenServerNeverAnswers) {
  SilentServer silent;
  Client client;  // margin 20ms
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 300ms);
  const auto start = std::chrono::steady_clock::now();
  auto result = client.get(ctx, "http://127.0.0.1:" + std::to_string(silent.port()) + "/never");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  std::printf("client returned after %.1f ms (deadline 300 ms)\n",
              std::chrono::duration<double, std::milli>(elapsed).count());
  EXPECT_EQ(result.error().code, tether::errc::deadline_exceeded);
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 2s);

  ASSERT_EQ(silent.headers().wait_for(10s), std::future_status::ready);
  const std::string headers = silent.headers().get();
  auto sent = tether::parse_grpc_timeout(header_value(headers, "grpc-timeout"));
  ASSERT_TRUE(sent) << headers;
  EXPECT_LE(sent->duration(), 280ms);  // 300 ms minus the 20 ms margin, minus travel
  EXPECT_GT(sent->duration(), 100ms);
  EXPECT_TRUE(tether::parse_traceparent(header_value(headers, "traceparent")));
}

TEST(HttpClient, CancelEndsAPendingReadWithCanceled) {
  SilentServer silent;
  Client client;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  auto result = std::async(std::launch::async, [&, c = ctx] {
    return client.get(c, "http://127.0.0.1:" + std::to_string(silent.port()) + "/never");
  });
  ASSERT_EQ(silent.headers().wait_for(10s), std::future_status::ready);  // request sent
  cancel();
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(result.get().error().code, tether::errc::canceled);
}

TEST(HttpClient, AlreadyDoneContextReturnsWithoutConnecting) {
  Client client;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  EXPECT_EQ(client.get(ctx, "http://127.0.0.1:1/").error().code, tether::errc::canceled);
}

TEST(HttpClient, InvalidUrlIsAnError) {
  Client client;
  EXPECT_EQ(client.get(tether::background(), "ftp://x/").error().code, std::errc::invalid_argument);
  EXPECT_EQ(client.get(tether::background(), "http://:80/").error().code,
            std::errc::invalid_argument);
}

TEST(HttpClient, PropagatesTraceAndDeadlineToTetherServer) {
  Server server(tether::background(), {.access_log = [](const auto&) {}});
  server.route("GET", "/echo", [](const tether::Context& ctx, const Request&) {
    const tether::TraceContext* t = ctx.value(tether::trace_key);
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(*ctx.deadline() - tether::now());
    return Response::text(200,
                          (t ? t->trace_id_hex() : "none") + " " + std::to_string(left.count()));
  });
  server.start();
  auto trace = tether::TraceContext::new_root();
  auto traced = tether::with_value(tether::background(), tether::trace_key, trace);
  auto [ctx, cancel] = tether::with_timeout(traced, 2s);
  Client client;
  auto result = client.get(ctx, "http://127.0.0.1:" + std::to_string(server.port()) + "/echo");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->status, 200);
  const std::string& body = result->body;
  EXPECT_EQ(body.substr(0, 32), trace.trace_id_hex());
  long left = std::stol(body.substr(33));
  EXPECT_LE(left, 1980);
  EXPECT_GT(left, 1000);
}

TEST(HttpClient, PostSendsBody) {
  Server server(tether::background(), {.access_log = [](const auto&) {}});
  server.route("POST", "/len", [](const tether::Context&, const Request& r) {
    return Response::text(200,
                          std::to_string(r.body.size()) + " " + *r.headers.find("content-type"));
  });
  server.start();
  Client client;
  auto result = client.post(tether::background(),
                            "http://127.0.0.1:" + std::to_string(server.port()) + "/len",
                            std::string(1234, 'x'), "text/plain");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->body, "1234 text/plain");
}

}  // namespace
