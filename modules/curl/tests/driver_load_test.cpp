// The 200-transfer test: its own executable, run serially (RUN_SERIAL), so that under a
// sanitizer it does not starve the latency tests running beside it.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "curl_test_support.hpp"
#include "test_server.hpp"
#include "tether/curl.hpp"

using namespace std::chrono_literals;
using tether_test::Easy;
using tether_test::ms_since;
using tether_test::TestServer;

TEST(CurlDriver, TwoHundredConcurrentTransfersWithARandomHalfCancelled) {
  constexpr int kTransfers = 200;
  TestServer server;
  const int fds_before = tether_test::open_descriptors();
  const auto seed = std::random_device{}();
  std::printf("[ seed    ] %u\n", seed);
  std::mt19937 rng(seed);
  double slowest_cancel_ms = 0;
  {
    tether::curl::Driver driver;
    std::vector<std::unique_ptr<Easy>> handles;
    std::vector<tether::Context> contexts;
    std::vector<tether::ScopedCancel> cancels;
    std::vector<std::size_t> bytes(kTransfers, 0);
    std::vector<tether::curl::Transfer> transfers;
    for (int i = 0; i < kTransfers; ++i) {
      handles.push_back(std::make_unique<Easy>(server.url("/slow?n=40&ms=20")));  // 800 ms
      auto [ctx, cancel] = tether::with_cancel(tether::background());
      contexts.push_back(ctx);
      cancels.push_back(std::move(cancel));
      transfers.push_back(driver.start(contexts.back(), *handles.back(),
                                       {.on_body = [&bytes, i](std::string_view b) {
                                         bytes[static_cast<std::size_t>(i)] += b.size();
                                       }}));
    }
    EXPECT_EQ(driver.active(), static_cast<std::size_t>(kTransfers));
    ASSERT_TRUE(server.wait_requests(kTransfers, 20s));  // all of them in flight
    std::vector<int> order(kTransfers);
    for (int i = 0; i < kTransfers; ++i) order[static_cast<std::size_t>(i)] = i;
    std::shuffle(order.begin(), order.end(), rng);
    order.resize(kTransfers / 2);
    std::vector<bool> cancelled(kTransfers, false);
    for (int i : order) {
      cancelled[static_cast<std::size_t>(i)] = true;
      const auto at = std::chrono::steady_clock::now();
      cancels[static_cast<std::size_t>(i)]();
      EXPECT_EQ(transfers[static_cast<std::size_t>(i)].wait(), tether::errc::canceled);
      slowest_cancel_ms = std::max(slowest_cancel_ms, ms_since(at));
    }
    for (int i = 0; i < kTransfers; ++i) {
      const auto u = static_cast<std::size_t>(i);
      if (cancelled[u]) {
        EXPECT_LT(bytes[u], 40u * 64) << "transfer " << i;
        continue;
      }
      auto ec = transfers[u].wait();
      EXPECT_FALSE(ec) << "transfer " << i << ": " << ec.message();
      EXPECT_EQ(bytes[u], 40u * 64) << "transfer " << i;
    }
    EXPECT_EQ(driver.active(), 0u);
    // Every cancelled transfer's connection was closed; the completed ones are cached.
    ASSERT_TRUE(server.wait_closed(kTransfers / 2, 10s));
    std::printf(
        "[ measure ] driver, 200 transfers: the slowest of 100 cancels ended after "
        "%.2f ms\n",
        slowest_cancel_ms);
    EXPECT_LT(slowest_cancel_ms, tether_test::kPromptly.count());
  }  // ~Driver closes the cached connections
  ASSERT_TRUE(server.wait_closed(kTransfers, 10s));
  EXPECT_EQ(tether_test::open_descriptors(), fds_before);
}
