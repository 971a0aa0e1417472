// tether::http::Server, blocking handlers: the worker writes a response the socket takes at
// once itself, and the connection's I/O thread learns it from the client's next request or
// EOF (no post); anything else is handed back to the I/O thread. These tests stress the
// hand-off: randomized traffic (pipelining, large responses, disconnects, deadlines,
// exceptions, closing connections), shutdown and the idle timeout after such a response.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "access_log_sink.hpp"
#include "tether/context.hpp"
#include "tether/harness/raw_http.hpp"
#include "tether/http.hpp"

namespace {

using namespace std::chrono_literals;
using tether::harness::Connection;
using tether::harness::format_get;
using tether::harness::RawConnection;
using tether::http::Request;
using tether::http::Response;
using tether::http::Server;
using tether::http::ServerOptions;
using tether_test::AccessLogSink;
using tether_test::options_with;

// GET `target` on a keep-alive connection (requests pipeline).
std::string get(const std::string& target) {
  return format_get(target, {}, Connection::keep_alive);
}

// Larger than the socket's send buffer can ever grow (net.ipv4.tcp_wmem's maximum is 4 MB
// by default): the worker's send() stops part way (EAGAIN) and the I/O thread writes the rest.
constexpr std::size_t kLargerThanASendBuffer = 8 << 20;

// What the /hold handlers saw: which request ids started, and how each ended.
class Holds {
 public:
  void started(const std::string& id) {
    std::lock_guard lock(mu_);
    started_.insert(id);
    cv_.notify_all();
  }
  void ended(const std::string& id, const std::string& cause) {
    std::lock_guard lock(mu_);
    ended_[id] = cause;
    cv_.notify_all();
  }
  bool wait_started(const std::string& id) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return started_.count(id) != 0; });
  }
  std::string wait_ended(const std::string& id) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 10s, [&] { return ended_.count(id) != 0; });
    return ended_.count(id) != 0 ? ended_[id] : "never ended";
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> started_;
  std::map<std::string, std::string> ended_;
};

std::string query_value(const Request& r, const std::string& name) {
  const std::string target = r.target;
  const auto at = target.find(name + "=");
  if (at == std::string::npos) return "";
  const auto start = at + name.size() + 1;
  return target.substr(start, target.find('&', start) - start);
}

void add_routes(Server& server, Holds& holds) {
  // Echoes its id, padded to `pad` bytes (more than the id); `yield` shuffles its timing.
  server.route("GET", "/echo", [](const tether::Context&, const Request& r) {
    if (query_value(r, "yield") == "1") std::this_thread::yield();
    std::string body = "id=" + query_value(r, "id") + ";";
    const std::string pad = query_value(r, "pad");
    if (!pad.empty()) body.resize(std::stoul(pad), '.');
    return Response::text(200, body);
  });
  server.route("GET", "/hold", [&holds](const tether::Context& ctx, const Request& r) {
    const std::string id = query_value(r, "id");
    holds.started(id);
    ctx.done().wait_for(20s);
    holds.ended(id, tether::cause(ctx).message());
    return Response::text(200, "held");
  });
  server.route("GET", "/throw", [](const tether::Context&, const Request&) -> Response {
    throw std::runtime_error("boom");
  });
  server.route("GET", "/empty",
               [](const tether::Context&, const Request&) { return Response::text(204, ""); });
  server.route(
      "GET", "/late",
      [](const tether::Context& ctx, const Request&) {
        ctx.done().wait_for(20s);
        return Response::text(200, "late");
      },
      tether::http::RouteOptions{5ms});
}

// One client thread's random walk; returns the number of requests the server answered or
// cancelled (each has one access-log record). Failures are gtest failures.
std::size_t random_client(std::uint16_t port, Holds& holds, unsigned seed, int steps) {
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  std::unique_ptr<RawConnection> c;
  std::size_t requests = 0;
  for (int step = 0; step < steps; ++step) {
    if (!c) c = std::make_unique<RawConnection>(RawConnection::connect(port));
    const std::string id = std::to_string(seed) + "-" + std::to_string(step);
    switch (pick(7)) {
      case 0:
      case 1: {  // 1-3 pipelined requests, in one write
        const int n = 1 + pick(3);
        std::string batch;
        for (int i = 0; i < n; ++i)
          batch +=
              get("/echo?id=" + id + "." + std::to_string(i) + "&yield=" + std::to_string(pick(2)) +
                  (pick(3) == 0 ? "&pad=" + std::to_string(64 + pick(3000)) : ""));
        c->send_all(batch);
        for (int i = 0; i < n; ++i) {
          auto r = c->read_response();
          EXPECT_TRUE(r.complete) << id << ": " << r.error;
          if (!r.complete) return requests;
          EXPECT_EQ(r.status, 200) << id;
          EXPECT_EQ(r.body.rfind("id=" + id + "." + std::to_string(i) + ";", 0), 0u) << id;
        }
        requests += static_cast<std::size_t>(n);
        break;
      }
      case 2: {  // a response that may not fit the send buffer, then one more request
        auto big = std::make_unique<RawConnection>(RawConnection::connect(port));
        big->send_all(get("/echo?id=" + id + "&pad=300000") + get("/echo?id=x"));
        auto r1 = big->read_response();
        auto r2 = big->read_response();
        EXPECT_TRUE(r1.complete && r2.complete) << id << ": " << r1.error << r2.error;
        EXPECT_EQ(r1.body.size(), 300000u) << id;
        EXPECT_EQ(r2.body, "id=x;") << id;
        requests += 2;
        break;
      }
      case 3: {  // a hang-up (FIN or reset) while the handler runs
        c->send_all(get("/hold?id=" + id));
        EXPECT_TRUE(holds.wait_started(id)) << id;
        if (pick(2) == 0) {
          c->close();
        } else {
          c->reset();
        }
        c.reset();
        EXPECT_EQ(holds.wait_ended(id), "client disconnected") << id;
        requests += 1;
        break;
      }
      case 4: {  // handed back: an exception (500), a deadline (504), no content (204)
        const int kind = pick(3);
        const char* path[] = {"/throw", "/late", "/empty"};
        const int want[] = {500, 504, 204};
        c->send_all(get(path[kind]));
        auto r = c->read_response();
        EXPECT_TRUE(r.complete) << id << ": " << r.error;
        if (!r.complete) return requests;
        EXPECT_EQ(r.status, want[kind]) << id;
        requests += 1;
        break;
      }
      case 5: {  // the client asks to close: the I/O thread writes "Connection: close"
        c->send_all(format_get("/echo?id=" + id));
        auto r = c->read_response();
        EXPECT_TRUE(r.complete) << id << ": " << r.error;
        EXPECT_EQ(r.header("Connection"), "close") << id;
        EXPECT_TRUE(c->wait_closed()) << id;
        c.reset();
        requests += 1;
        break;
      }
      default: {  // a request, then EOF right after reading the response
        c->send_all(get("/echo?id=" + id));
        auto r = c->read_response();
        EXPECT_TRUE(r.complete) << id << ": " << r.error;
        c.reset();
        requests += 1;
        break;
      }
    }
  }
  return requests;
}

TEST(HttpWorkerHandoff, RandomizedTrafficGetsEveryResponseInOrder) {
  const unsigned seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  AccessLogSink log;
  ServerOptions o = options_with(log);
  o.io_threads = 2;
  o.workers = 1 + rng() % 3;
  Server server(tether::background(), o);
  Holds holds;
  add_routes(server, holds);
  server.start();

  std::vector<std::future<std::size_t>> clients;
  for (unsigned i = 0; i < 4; ++i) {
    clients.push_back(std::async(std::launch::async, [&, s = seed + i] {
      return random_client(server.port(), holds, s, 40);
    }));
  }
  std::size_t requests = 0;
  for (auto& c : clients) requests += c.get();
  // Every request was logged once (the worker logs what it wrote, the I/O thread the rest).
  EXPECT_TRUE(log.wait_for(requests));
  EXPECT_FALSE(log.wait_for(requests + 1, 0ms));
  auto [grace, stop] = tether::with_timeout(tether::background(), 10s);
  EXPECT_FALSE(server.shutdown(grace));
}

// A connection whose last response a worker wrote looks busy to its I/O thread until the
// client's next request or EOF; shutdown still closes it at once, as an idle connection.
TEST(HttpWorkerHandoff, ShutdownClosesAConnectionWhoseResponseTheWorkerWrote) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  Holds holds;
  add_routes(server, holds);
  server.start();
  auto idle = RawConnection::connect(server.port());
  idle.send_all(get("/echo?id=idle"));
  ASSERT_TRUE(idle.read_response().complete);
  auto busy = RawConnection::connect(server.port());
  busy.send_all(get("/hold?id=busy"));
  ASSERT_TRUE(holds.wait_started("busy"));

  auto [grace, stop] = tether::with_timeout(tether::background(), 200ms);
  auto result = std::async(std::launch::async, [&, g = grace] { return server.shutdown(g); });
  // Closed while the /hold request is still in flight (it ends with the grace period).
  EXPECT_TRUE(idle.wait_closed());
  EXPECT_EQ(holds.wait_ended("busy"), "server shutdown");
  EXPECT_EQ(result.get(), tether::errc::deadline_exceeded);
}

// The idle timeout (read_timeout) of a keep-alive connection counts from the response the
// worker wrote, not from the request: a handler longer than read_timeout still answers.
TEST(HttpWorkerHandoff, IdleTimeoutCountsFromTheResponseTheWorkerWrote) {
  AccessLogSink log;
  ServerOptions o = options_with(log);
  o.read_timeout = 50ms;
  Server server(tether::background(), o);
  server.route("GET", "/slow", [](const tether::Context&, const Request&) {
    std::this_thread::sleep_for(200ms);  // a slow handler: 4 read timeouts
    return Response::text(200, "slow");
  });
  server.start();
  auto c = RawConnection::connect(server.port());
  c.send_all(get("/slow"));
  auto r = c.read_response();
  ASSERT_TRUE(r.complete) << r.error;
  EXPECT_EQ(r.body, "slow");
  EXPECT_TRUE(c.wait_closed());  // and then the idle connection times out
  auto entry = log.wait_for(1);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->status, 200);
}

// As in Go, a request's context ends once its response is written, also when the worker
// wrote it; the access-log record, made before, shows no cause.
TEST(HttpWorkerHandoff, RequestContextEndsOnceTheWorkerWroteTheResponse) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  std::promise<tether::Context> seen;
  server.route("GET", "/keep", [&](const tether::Context& ctx, const Request&) {
    seen.set_value(ctx);
    return Response::text(200, "kept");
  });
  server.start();
  auto r = tether::harness::get_once(server.port(), "/keep");
  ASSERT_TRUE(r.complete) << r.error;
  EXPECT_EQ(r.status, 200);
  tether::Context ctx = seen.get_future().get();
  EXPECT_TRUE(ctx.done().wait_for(10s));
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  auto entry = log.wait_for(1);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->status, 200);
  EXPECT_EQ(entry->cause, "");
}

// A response the socket does not take at once: the worker sends what fits and the I/O
// thread writes the rest; the connection then serves the next request.
TEST(HttpWorkerHandoff, ResponseLargerThanTheSocketTakesIsWrittenWhole) {
  AccessLogSink log;
  Server server(tether::background(), options_with(log));
  Holds holds;
  add_routes(server, holds);
  server.start();
  auto c = RawConnection::connect(server.port());
  c.send_all(get("/echo?id=big&pad=" + std::to_string(kLargerThanASendBuffer)));
  auto big = c.read_response();
  ASSERT_TRUE(big.complete) << big.error;
  EXPECT_EQ(big.body.size(), kLargerThanASendBuffer);
  EXPECT_EQ(big.body.rfind("id=big;", 0), 0u);
  c.send_all(get("/echo?id=next"));
  auto next = c.read_response();
  ASSERT_TRUE(next.complete) << next.error;
  EXPECT_EQ(next.body, "id=next;");
}

}  // namespace
