// tether::http::Client's awaitable calls (co_get, co_post, co_request): the same calls as
// the blocking ones, run on the awaiting coroutine's executor without blocking a thread,
// sharing the same pool; cancelled by their context; safe on a multi-threaded io_context
// (a randomized test, run under TSan).
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "proxied_upstream.hpp"
#include "tether/context.hpp"
#include "tether/http.hpp"

namespace {

using namespace std::chrono_literals;
namespace net = boost::asio;
using tether::http::Client;
using tether::http::Request;
using tether::http::Response;
using Result = tether::Result<tether::http::Response, tether::http::Error>;

// The proxied upstream, with POST /echo (the body) and GET /wait (until its context ends).
struct Upstream : tether_test::ProxiedUpstream {
  Upstream() : ProxiedUpstream(8) {
    server.route("POST", "/echo", [](const tether::Context&, const Request& r) {
      return Response::text(200, r.body);
    });
    server.route("GET", "/wait", [](const tether::Context& ctx, const Request&) {
      ctx.done().wait_for(10s);
      return Response::text(200, "late");
    });
  }
};

TEST(HttpClientCoro, AwaitableCallsAnswerAndShareThePoolWithBlockingOnes) {
  Upstream up;
  up.start();
  Client client;
  ASSERT_TRUE(client.get(tether::background(), up.url("/hello")).ok());  // blocking, pooled
  net::io_context ioc;
  std::vector<Result> results;
  net::co_spawn(
      ioc,
      [&]() -> net::awaitable<void> {
        results.push_back(co_await client.co_get(tether::background(), up.url("/hello")));
        results.push_back(
            co_await client.co_post(tether::background(), up.url("/echo"), "body", "text/plain"));
        results.push_back(
            co_await client.co_request(tether::background(), "GET", up.url("/nowhere"), {}, {}));
      },
      net::detached);
  ioc.run();
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0]->body, "hello");
  EXPECT_EQ(results[1]->body, "body");
  EXPECT_TRUE(results[2].ok());
  EXPECT_EQ(results[2]->status, 404);
  EXPECT_EQ(up.proxy->accepted(), 1);  // one connection: blocking and awaitable calls alike
}

TEST(HttpClientCoro, ManyCallsInFlightOnOneThreadAndOneCancelledAmongThem) {
  Upstream up;
  up.start();
  Client client;
  net::io_context ioc;  // one thread: a blocking call would serialise everything
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  const tether::CancelFunc cancel_wait = cancel.func();
  std::optional<Result> cancelled;
  int answered = 0;
  net::co_spawn(
      ioc,
      [&, c = ctx]() -> net::awaitable<void> {
        cancelled = co_await client.co_get(c, up.url("/wait"));
      },
      net::detached);
  for (int i = 0; i < 6; ++i) {
    net::co_spawn(
        ioc,
        [&, last = i == 5]() -> net::awaitable<void> {
          Result r = co_await client.co_get(tether::background(), up.url("/hello"));
          if (r.ok() && r->body == "hello") ++answered;
          if (last) cancel_wait();  // the /wait call is still in flight: only a cancel ends it
        },
        net::detached);
  }
  ioc.run();
  EXPECT_EQ(answered, 6);
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->error().code, tether::errc::canceled);
  EXPECT_FALSE(cancelled->error().response);
}

TEST(HttpClientCoro, RandomCancelsOnAMultiThreadedIoContext) {
  const unsigned seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  Upstream up;
  up.start();
  Client client;
  net::io_context ioc(2);
  constexpr int kCalls = 24;
  std::vector<tether::CancelFunc> cancels;
  std::vector<std::promise<Result>> done(kCalls);
  std::vector<bool> will_cancel(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    cancels.push_back(cancel.release());
    will_cancel[i] = rng() % 2 == 0;
    const std::string path = will_cancel[i] ? "/wait" : "/hello";
    net::co_spawn(
        ioc,
        [&client, &up, &done, i, path, c = ctx]() -> net::awaitable<void> {
          done[i].set_value(co_await client.co_get(c, up.url(path)));
        },
        net::detached);
  }
  std::thread a([&] { ioc.run(); }), b([&] { ioc.run(); });
  std::vector<int> order(kCalls);
  for (int i = 0; i < kCalls; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (int i : order)
    if (will_cancel[i]) cancels[i]();  // at a random moment of each call: before, during
  for (int i = 0; i < kCalls; ++i) {
    auto f = done[i].get_future();
    ASSERT_EQ(f.wait_for(20s), std::future_status::ready) << "call " << i << " hung";
    Result r = f.get();
    if (will_cancel[i]) {
      EXPECT_EQ(r.error().code, tether::errc::canceled) << i;
    } else {
      EXPECT_TRUE(r.ok()) << i << " " << r.error().message;
    }
  }
  a.join();
  b.join();
  EXPECT_LE(client.idle_connections(), 4u);  // max_idle_per_host
  EXPECT_TRUE(client.get(tether::background(), up.url("/hello")).ok());
}

}  // namespace
