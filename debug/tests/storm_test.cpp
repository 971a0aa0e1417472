// Bounded memory under a disconnect storm: 10 000 requests whose clients hang up while
// their handlers wait, each derived a small tree; the history stays at its bound N, every
// kept entry is a hang-up with its whole tree, and nothing stays observed.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "debug_test_support.hpp"
#include "tether/asio/awaitable.hpp"
#include "tether/debug.hpp"

namespace {

using namespace std::chrono_literals;
using namespace tether_debug_test;
namespace registry = tether::registry;

constexpr std::size_t kRequests = 10'000;
constexpr std::size_t kClients = 4;
constexpr std::size_t kHistory = 50;

TEST(DebugStorm, TenThousandHangUpsKeepTheHistoryAtItsBound) {
  AccessLogCount log;
  tether::http::ServerOptions o;
  o.access_log = tether::debug::recording_status(log.sink());
  o.io_threads = 2;
  tether::http::Server server(tether::background(), o);
  // A coroutine route: it holds no thread while its client is gone, so the storm does not
  // queue behind a worker pool.
  server.route(
      "GET", "/wait",
      [](tether::Context ctx,
         const tether::http::Request& r) -> boost::asio::awaitable<tether::http::Response> {
        auto tracked = tether::debug::track_request(ctx, r);
        auto [query, cancel_query] = tether::with_timeout(ctx, 30s);
        auto [call, cancel_call] = tether::with_cancel(query);
        co_await tether::asio::done(call);
        co_return tether::http::Response::text(200, "late");
      });
  tether::debug::mount(server, {.history = kHistory});
  server.start();

  std::atomic<std::size_t> sent{0};
  std::atomic<std::size_t> max_seen{0};
  std::vector<std::thread> clients;
  for (std::size_t c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      for (std::size_t i = 0; i < kRequests / kClients; ++i) {
        RawClient raw(server.port());
        raw.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
        raw.close();  // hangs up at once: the server sees the request, then the hang-up
        sent.fetch_add(1);
      }
    });
  }
  // Meanwhile the history never grows past its bound.
  while (sent.load() < kRequests) {
    const std::size_t n = registry::history().size();
    max_seen.store(std::max(max_seen.load(), n));
    std::this_thread::yield();
  }
  for (auto& t : clients) t.join();
  ASSERT_TRUE(log.wait_for_count(kRequests, kBound)) << "only " << log.count() << " finished";

  EXPECT_LE(max_seen.load(), kHistory);
  const std::vector<registry::Finished> h = registry::history();
  ASSERT_EQ(h.size(), kHistory);
  for (const registry::Finished& f : h) {
    EXPECT_EQ(f.cause, "client disconnected");
    EXPECT_EQ(f.contexts.size(), 3u);
  }
  EXPECT_EQ(registry::stats().observed_contexts, 0u);
  EXPECT_EQ(registry::size(), 0u);
  server.shutdown(tether::background());
  registry::enable(false);
}

}  // namespace
