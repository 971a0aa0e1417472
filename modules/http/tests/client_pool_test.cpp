// tether::http::Client's keep-alive pool, on real sockets: a tether server behind a counting
// TCP proxy tells how many connections the client really opened.
//   * calls reuse one connection; parallel calls open more, and the pool keeps at most
//     max_idle_per_host of them;
//   * a call cancelled mid-flight closes its connection (the server's handler sees the
//     disconnect) and the next call opens a new one;
//   * an idle connection expires after idle_timeout, on the ManualClock (no sleeping);
//   * a connection the server closed while idle is not used: the next call opens another;
//   * a reused connection that fails before any response byte is retried once, fresh, for
//     an idempotent request only (a raw server that closes instead of answering).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <list>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "proxied_upstream.hpp"
#include "tether/context.hpp"
#include "tether/http.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using tether::http::Client;
using tether::http::ClientOptions;
using tether::http::Request;
using tether::http::Response;

ClientOptions idle_per_host(std::size_t n) {
  ClientOptions o;
  o.max_idle_per_host = n;
  return o;
}

// A tether server with "/hello" and a counting proxy in front of it.
using Upstream = tether_test::ProxiedUpstream;

TEST(HttpClientPool, SequentialCallsReuseOneConnection) {
  Upstream up;
  up.start();
  Client client;
  for (int i = 0; i < 5; ++i) {
    auto r = client.get(tether::background(), up.url("/hello"));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->body, "hello");
  }
  EXPECT_EQ(up.proxy->accepted(), 1);
  EXPECT_EQ(client.idle_connections(), 1u);
}

TEST(HttpClientPool, ParallelCallsOpenMoreAndThePoolKeepsAtMostMaxIdlePerHost) {
  Upstream up(3);
  std::atomic<int> arrived{0};
  std::promise<void> all_in;
  std::shared_future<void> all_in_f = all_in.get_future().share();
  up.server.route("GET", "/gather", [&](const tether::Context&, const Request&) {
    if (++arrived == 3) all_in.set_value();
    all_in_f.wait_for(10s);  // three calls in flight at once: three connections
    return Response::text(200, "ok");
  });
  up.start();
  Client client(idle_per_host(2));
  std::vector<std::future<tether::Result<tether::http::Response, tether::http::Error>>> calls;
  for (int i = 0; i < 3; ++i)
    calls.push_back(std::async(
        std::launch::async, [&] { return client.get(tether::background(), up.url("/gather")); }));
  for (auto& c : calls) EXPECT_TRUE(c.get().ok());
  EXPECT_EQ(up.proxy->accepted(), 3);
  EXPECT_EQ(client.idle_connections(), 2u);  // the third was closed on return
  EXPECT_TRUE(client.get(tether::background(), up.url("/hello")).ok());
  EXPECT_EQ(up.proxy->accepted(), 3);  // taken from the pool
}

TEST(HttpClientPool, ACallCancelledMidFlightClosesItsConnectionAndIsNeverReused) {
  Upstream up;
  std::promise<void> started;
  std::promise<std::error_code> handler_saw;
  up.server.route("GET", "/wait", [&](const tether::Context& ctx, const Request&) {
    started.set_value();
    ctx.done().wait_for(10s);
    handler_saw.set_value(tether::cause(ctx).code());
    return Response::text(200, "late");
  });
  up.start();
  Client client;
  ASSERT_TRUE(client.get(tether::background(), up.url("/hello")).ok());
  ASSERT_EQ(client.idle_connections(), 1u);

  auto [ctx, cancel] = tether::with_cancel(tether::background());
  auto call =
      std::async(std::launch::async, [&, c = ctx] { return client.get(c, up.url("/wait")); });
  ASSERT_EQ(started.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ(up.proxy->accepted(), 1);  // the cancelled call took the pooled connection
  cancel();
  EXPECT_EQ(call.get().error().code, tether::errc::canceled);
  auto saw = handler_saw.get_future();
  ASSERT_EQ(saw.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(saw.get(), tether::http::errc::client_disconnected);  // really closed
  EXPECT_EQ(client.idle_connections(), 0u);

  ASSERT_TRUE(client.get(tether::background(), up.url("/hello")).ok());
  EXPECT_EQ(up.proxy->accepted(), 2);  // a new connection
}

TEST(HttpClientPool, IdleConnectionsExpireAfterIdleTimeout) {
  tether::testing::ManualClock clock;
  Upstream up;
  up.start();
  Client client(ClientOptions{.idle_timeout = 30s});
  ASSERT_TRUE(client.get(tether::background(), up.url("/hello")).ok());
  EXPECT_EQ(client.idle_connections(), 1u);
  clock.advance(29s);
  EXPECT_EQ(client.idle_connections(), 1u);
  ASSERT_TRUE(client.get(tether::background(), up.url("/hello")).ok());  // reused: idle anew
  EXPECT_EQ(up.proxy->accepted(), 1);
  clock.advance(29s);
  EXPECT_EQ(client.idle_connections(), 1u);
  clock.advance(1s);  // 30 s since its last use: closed, on this thread, before advance returns
  EXPECT_EQ(client.idle_connections(), 0u);
  ASSERT_TRUE(client.get(tether::background(), up.url("/hello")).ok());
  EXPECT_EQ(up.proxy->accepted(), 2);
}

TEST(HttpClientPool, AConnectionClosedWhileIdleIsNotUsed) {
  Upstream up;
  up.start();
  Client client;
  ASSERT_TRUE(client.get(tether::background(), up.url("/hello")).ok());
  ASSERT_EQ(client.idle_connections(), 1u);
  up.proxy->close_all();  // the "server" ends the idle connection (a FIN reaches the client)
  // Noticed before reuse (the descriptor reads EOF), or at the latest when the request on it
  // gets no response (then the GET is sent again, fresh): either way the call succeeds.
  auto r = client.get(tether::background(), up.url("/hello"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "hello");
  EXPECT_EQ(up.proxy->accepted(), 2);
}

TEST(HttpClientPool, MaxIdlePerHostZeroMeansAConnectionPerCall) {
  Upstream up;
  up.start();
  Client client(idle_per_host(0));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client.get(tether::background(), up.url("/hello")).ok());
  EXPECT_EQ(up.proxy->accepted(), 3);
  EXPECT_EQ(client.idle_connections(), 0u);
}

// A raw HTTP/1.1 server: on its first connection it answers the first request ("first")
// and closes when the second arrives, without answering — the race of a server closing an
// idle connection just as the client reuses it. Later connections answer every request
// ("fresh"). Bodies are not read: requests carry none.
class ClosesOnSecondRequest {
 public:
  ClosesOnSecondRequest() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener_, 8) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("listen failed");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ClosesOnSecondRequest() {
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  int accepted() const { return accepted_.load(); }

 private:
  // Reads one request's headers; false on EOF, error or 10 s of silence.
  static bool read_request(int fd, std::string& buffer) {
    while (buffer.find("\r\n\r\n") == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      char chunk[4096];
      if (::poll(&p, 1, 10'000) <= 0) return false;
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    buffer.erase(0, buffer.find("\r\n\r\n") + 4);
    return true;
  }
  static void answer(int fd, const std::string& body) {
    const std::string r =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    (void)::send(fd, r.data(), r.size(), MSG_NOSIGNAL);
  }
  void serve() {
    std::list<std::thread> connections;
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) break;
      const bool first = accepted_.fetch_add(1) == 0;
      connections.emplace_back([fd, first] {
        std::string buffer;
        for (int n = 0; read_request(fd, buffer); ++n) {
          if (first && n == 1) break;  // the second request: close without a word
          answer(fd, first ? "first" : "fresh");
        }
        ::close(fd);
      });
    }
    for (auto& t : connections) t.join();
  }
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

TEST(HttpClientPool, AReusedConnectionThatFailsBeforeAnyResponseIsRetriedFreshWhenIdempotent) {
  ClosesOnSecondRequest server;
  Client client;
  auto first = client.get(tether::background(), server.url());
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->body, "first");
  auto retried = client.get(tether::background(), server.url());  // the pooled one fails
  ASSERT_TRUE(retried.ok()) << retried.error().message;
  EXPECT_EQ(retried->body, "fresh");
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpClientPool, ANonIdempotentRequestIsNotSentTwice) {
  ClosesOnSecondRequest server;
  Client client;
  ASSERT_TRUE(client.post(tether::background(), server.url(), "").ok());
  auto r = client.post(tether::background(), server.url(), "");  // the pooled one fails
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.error().response);
  EXPECT_EQ(server.accepted(), 1);  // not retried: the server may have acted on it
}

}  // namespace
