// tether::registry's history: finished tracked contexts with every context of their trees,
// recorded as they were derived, cancelled and freed; bounded; and the counters behind the
// debug module's metrics.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tether/propagation.hpp"
#include "tether/registry.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
namespace registry = tether::registry;

inline const tether::Key<std::string> step_key{"step"};

class History : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(registry::size(), 0u);
    registry::enable(true);
    registry::set_history(0);  // drops what earlier tests left
    registry::set_history(16);
  }
  void TearDown() override {
    registry::enable(false);
    registry::set_history(256);
  }
};

TEST_F(History, FinishedEntryKeepsEveryContextOfItsTreeWithTimesAndCauses) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  registry::Tracked t = registry::track(ctx, "GET /users/7");
  clock.advance(2ms);
  {
    auto [query, cancel_query] =
        tether::with_timeout(tether::with_value(ctx, step_key, "query"), 50ms);
    auto hook = tether::after_func(query, [] {});
    auto [call, cancel_call] = tether::with_cancel(query);
    clock.advance(3ms);
    cancel(tether::Cause(std::errc::connection_reset, "client disconnected"));  // the hang-up
    clock.advance(1ms);
  }
  t.set_result("499");
  t.reset();

  const std::vector<registry::Finished> h = registry::history();
  ASSERT_EQ(h.size(), 1u);
  const registry::Finished& f = h[0];
  EXPECT_EQ(f.label, "GET /users/7");
  EXPECT_EQ(f.result, "499");
  EXPECT_EQ(f.duration, 6ms);
  EXPECT_EQ(f.state, registry::State::canceled);
  EXPECT_EQ(f.cause, "client disconnected");
  ASSERT_EQ(f.contexts.size(), 3u);  // the request, the query, the call beneath it
  const registry::FinishedNode& root = f.contexts[0];
  EXPECT_EQ(root.parent, registry::FinishedNode::kNoParent);
  EXPECT_EQ(root.kind, "WithCancel");
  EXPECT_EQ(root.ended, 5ms);
  const registry::FinishedNode& query = f.contexts[1];
  EXPECT_EQ(query.parent, 0u);
  EXPECT_EQ(query.kind, "WithDeadline");
  EXPECT_EQ(query.created, 2ms);
  EXPECT_EQ(query.deadline, 52ms);
  EXPECT_EQ(query.ended, 5ms);
  EXPECT_EQ(query.state, registry::State::canceled);
  EXPECT_EQ(query.cause, "client disconnected");
  EXPECT_EQ(query.callbacks, 1u);
  ASSERT_EQ(query.values.size(), 1u);
  EXPECT_EQ(query.values[0].first, "step");
  const registry::FinishedNode& call = f.contexts[2];
  EXPECT_EQ(call.parent, 1u);
  EXPECT_EQ(call.ended, 5ms);
  EXPECT_EQ(call.cause, "client disconnected");
}

TEST_F(History, DeadlineAndReleaseAreToldApart) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  registry::Tracked t = registry::track(ctx, "work");
  {
    auto [fast, cancel_fast] = tether::with_timeout(ctx, 10ms);
    clock.advance(10ms);  // fires
  }
  tether::Context kept;
  {
    auto [released, cancel_released] = tether::with_cancel(ctx);
    kept = released;
    tether::CancelFunc disarmed = cancel_released.release();  // dropped without a call
  }
  kept = tether::Context();
  t.reset();
  const registry::Finished f = registry::history().at(0);
  ASSERT_EQ(f.contexts.size(), 3u);
  EXPECT_EQ(f.contexts[0].deadline, 1s);
  EXPECT_FALSE(f.contexts[0].ended.has_value()) << "the root was alive when tracking ended";
  EXPECT_EQ(f.contexts[1].state, registry::State::deadline_exceeded);
  EXPECT_EQ(f.contexts[1].ended, 10ms);
  EXPECT_TRUE(f.contexts[2].ended.has_value());
  EXPECT_TRUE(f.contexts[2].released);
  EXPECT_EQ(f.contexts[2].state, registry::State::active);
  EXPECT_EQ(f.state, registry::State::active);
}

TEST_F(History, StaysAtItsBoundKeepingTheNewest) {
  registry::set_history(4);
  std::uint64_t last = 0;
  for (int i = 0; i < 100; ++i) {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    registry::Tracked t = registry::track(ctx, "r" + std::to_string(i));
    auto [child, cancel_child] = tether::with_cancel(ctx);
    cancel();
    last = registry::snapshot().back().id;
  }
  const auto h = registry::history();
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h.back().id, last);
  EXPECT_EQ(h.front().label, "r96");
  EXPECT_EQ(registry::history_capacity(), 4u);
  EXPECT_EQ(registry::stats().observed_contexts, 0u) << "finished entries leave nothing observed";
}

TEST_F(History, OffRecordsNothing) {
  registry::set_history(0);
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  {
    registry::Tracked t = registry::track(ctx, "unrecorded");
    auto [child, cancel_child] = tether::with_cancel(ctx);
    EXPECT_EQ(registry::stats().observed_contexts, 0u);
  }
  EXPECT_TRUE(registry::history().empty());
}

TEST_F(History, AnnotateFindsTheEntryByTraceIdAndJsonCarriesIt) {
  auto trace = tether::TraceContext::new_root();
  auto [base, cancel] = tether::with_cancel(tether::background());
  tether::Context ctx = tether::with_value(base, tether::trace_key, trace);
  { registry::Tracked t = registry::track(ctx, "traced \"quoted\""); }
  EXPECT_TRUE(registry::annotate(trace.trace_id_hex(), "504"));
  EXPECT_FALSE(registry::annotate(trace.trace_id_hex(), "200")) << "the result is set once";
  const auto found = registry::find_finished(trace.trace_id_hex());
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->result, "504");
  EXPECT_FALSE(registry::find_finished("0123").has_value());
  const std::string json = registry::history_to_json(registry::history());
  EXPECT_NE(json.find("\"result\":\"504\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"label\":\"traced \\\"quoted\\\"\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"trace_id\":\"" + trace.trace_id_hex() + "\""), std::string::npos);
  EXPECT_NE(json.find("\"parent\":-1"), std::string::npos) << json;
}

TEST_F(History, StatsCountCancellationsByCauseAndDeadlineLeft) {
  tether::testing::ManualClock clock;
  const registry::Stats before = registry::stats();
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 200ms);
  {
    registry::Tracked t = registry::track(ctx, "timed");
    EXPECT_EQ(registry::stats().tracked, 1u);
    EXPECT_EQ(registry::stats().observed_contexts, 1u);
    clock.advance(200ms);
  }
  const registry::Stats after = registry::stats();
  auto count = [](const registry::Stats& s, const std::string& cause) {
    for (const auto& [c, n] : s.cancellations)
      if (c == cause) return n;
    return std::uint64_t{0};
  };
  EXPECT_EQ(count(after, "context deadline exceeded") - count(before, "context deadline exceeded"),
            1u);
  EXPECT_EQ(after.finished - before.finished, 1u);
  // 0.2 s left at track(): counted in the 0.25 bucket and not in 0.1.
  auto bucket = [](const registry::Stats& s, double le) {
    for (const auto& [b, n] : s.deadline_left)
      if (b == le) return n;
    return std::uint64_t{0};
  };
  EXPECT_EQ(bucket(after, 0.25) - bucket(before, 0.25), 1u);
  EXPECT_EQ(bucket(after, 0.1) - bucket(before, 0.1), 0u);
}

// Randomized: workers track, derive, cancel and free concurrently with readers of the
// history, snapshots and stats; nothing stays observed and the bound holds (TSan/ASan).
TEST_F(History, RecordingRacesSafelyWithReaders) {
  registry::set_history(8);
  std::atomic<int> finished_workers{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&, seed = w] {
      std::mt19937 rng(static_cast<unsigned>(seed));
      for (int i = 0; i < 300; ++i) {
        auto [a, ca] = tether::with_cancel(tether::background());
        registry::Tracked ta = registry::track(a, "worker");
        auto [b, cb] = tether::with_timeout(a, 1h);
        auto reg = tether::after_func(b, [] {});
        auto [c, cc] = tether::with_cancel(b);
        switch (rng() % 3) {
          case 0:
            ca();
            break;
          case 1:
            cc();
            break;
          default:
            break;
        }
        if (rng() % 2) ta.reset();
      }
      finished_workers.fetch_add(1);
    });
  }
  while (finished_workers.load() < 3) {
    for (const auto& f : registry::history()) ASSERT_FALSE(f.contexts.empty());
    ASSERT_LE(registry::history().size(), 8u);
    (void)registry::snapshot();
    (void)registry::stats();
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(registry::history().size(), 8u);
  EXPECT_EQ(registry::stats().observed_contexts, 0u);
}

}  // namespace
