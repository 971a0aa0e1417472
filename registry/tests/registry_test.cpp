// tether::registry: opt-in tracking of live contexts and snapshots of their trees.
#include "tether/registry.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tether/propagation.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
namespace registry = tether::registry;

inline const tether::Key<std::string> source_key{"source"};

class Registry : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(registry::size(), 0u);
    registry::enable(true);
  }
  void TearDown() override { registry::enable(false); }

  static const registry::Entry* find(const std::vector<registry::Entry>& entries,
                                     const std::string& label) {
    for (const auto& e : entries)
      if (e.label == label) return &e;
    return nullptr;
  }
};

TEST_F(Registry, TrackReturnsAnEmptyHandleWhenTheRegistryIsOff) {
  registry::enable(false);
  EXPECT_FALSE(registry::enabled());
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  registry::Tracked t = registry::track(ctx, "off");
  EXPECT_FALSE(t);
  EXPECT_EQ(registry::size(), 0u);
  EXPECT_TRUE(registry::snapshot().empty());
}

TEST_F(Registry, TrackedContextIsListedUntilItsHandleIsDestroyed) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  {
    registry::Tracked t = registry::track(ctx, "GET /users/42");
    EXPECT_TRUE(t);
    EXPECT_EQ(registry::size(), 1u);
    auto entries = registry::snapshot();
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].label, "GET /users/42");
    EXPECT_EQ(entries[0].context.kind, "WithCancel");
    EXPECT_EQ(entries[0].context.state, registry::State::active);
    EXPECT_FALSE(entries[0].context.time_left.has_value());
  }
  EXPECT_EQ(registry::size(), 0u);
  EXPECT_TRUE(registry::snapshot().empty());
}

TEST_F(Registry, ResetUntracksAndMovingTransfersTheEntry) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  registry::Tracked a = registry::track(ctx, "a");
  registry::Tracked b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_TRUE(b);
  EXPECT_EQ(registry::size(), 1u);
  b.reset();
  b.reset();
  EXPECT_FALSE(b);
  EXPECT_EQ(registry::size(), 0u);
}

TEST_F(Registry, DisablingKeepsContextsAlreadyTrackedUntilTheirHandlesGo) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  registry::Tracked t = registry::track(ctx, "kept");
  registry::enable(false);
  EXPECT_EQ(registry::size(), 1u);
  t.reset();
  EXPECT_EQ(registry::size(), 0u);
}

TEST_F(Registry, EntriesAreListedOldestFirstWithIncreasingIds) {
  registry::Tracked first = registry::track(tether::background(), "first");
  registry::Tracked second = registry::track(tether::background(), "second");
  auto entries = registry::snapshot();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].label, "first");
  EXPECT_EQ(entries[1].label, "second");
  EXPECT_LT(entries[0].id, entries[1].id);
  EXPECT_EQ(entries[0].context.kind, "Background");
}

TEST_F(Registry, SnapshotShowsDerivedChildrenWithTheValuesAddedOnTheWay) {
  auto [request, cancel] = tether::with_cancel(tether::background());
  registry::Tracked t = registry::track(request, "request");
  auto [group, cancel_group] = tether::with_cancel(request);
  auto [profile, cancel_profile] =
      tether::with_cancel(tether::with_value(group, source_key, std::string("profile")));
  auto [activity, cancel_activity] =
      tether::with_cancel(tether::with_value(group, source_key, std::string("activity")));

  auto entries = registry::snapshot();
  ASSERT_EQ(entries.size(), 1u);
  const registry::ContextNode& root = entries[0].context;
  ASSERT_EQ(root.children.size(), 1u);
  const registry::ContextNode& g = root.children[0];
  EXPECT_EQ(g.kind, "WithCancel");
  EXPECT_TRUE(g.values.empty());
  ASSERT_EQ(g.children.size(), 2u);
  std::vector<std::string> sources;
  for (const auto& c : g.children) {
    ASSERT_EQ(c.values.size(), 1u);
    EXPECT_EQ(c.values[0].first, "source");
    sources.push_back(c.values[0].second);
  }
  // Newest first; a string value is described as Go's %v would: "activity".
  EXPECT_EQ(sources, (std::vector<std::string>{"activity", "profile"}));
}

TEST_F(Registry, ChildWhoseHandlesAreAllGoneIsNoLongerShown) {
  auto [request, cancel] = tether::with_cancel(tether::background());
  registry::Tracked t = registry::track(request, "request");
  {
    auto [child, cancel_child] = tether::with_cancel(request);
    EXPECT_EQ(registry::snapshot()[0].context.children.size(), 1u);
  }
  EXPECT_TRUE(registry::snapshot()[0].context.children.empty());
}

TEST_F(Registry, SnapshotReportsTimeLeftOnTheManualClock) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 2s);
  auto [inner, cancel_inner] = tether::with_timeout(ctx, 500ms);
  registry::Tracked t = registry::track(ctx, "timed");
  clock.advance(200ms);
  auto entries = registry::snapshot();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].age, 200ms);
  const registry::ContextNode& root = entries[0].context;
  EXPECT_EQ(root.kind, "WithDeadline");
  ASSERT_TRUE(root.time_left.has_value());
  EXPECT_EQ(*root.time_left, 1800ms);
  ASSERT_EQ(root.children.size(), 1u);
  ASSERT_TRUE(root.children[0].time_left.has_value());
  EXPECT_EQ(*root.children[0].time_left, 300ms);
}

TEST_F(Registry, ExpiredDeadlineShowsDeadlineExceededAndNoChildren) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 100ms);
  auto [child, cancel_child] = tether::with_cancel(ctx);
  registry::Tracked t = registry::track(ctx, "late");
  clock.advance(150ms);
  const registry::ContextNode root = registry::snapshot().at(0).context;
  EXPECT_EQ(root.state, registry::State::deadline_exceeded);
  EXPECT_EQ(root.cause, "context deadline exceeded");
  ASSERT_TRUE(root.time_left.has_value());
  EXPECT_EQ(*root.time_left, -50ms);
  EXPECT_TRUE(root.children.empty());  // a cancel detaches the subtree
}

TEST_F(Registry, CancelledContextShowsItsCause) {
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  registry::Tracked t = registry::track(ctx, "gone");
  cancel(tether::Cause(std::errc::connection_reset, "client disconnected"));
  const registry::ContextNode root = registry::snapshot().at(0).context;
  EXPECT_EQ(root.state, registry::State::canceled);
  EXPECT_EQ(root.cause, "client disconnected");
}

TEST_F(Registry, SnapshotCountsPendingAfterFuncCallbacks) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  registry::Tracked t = registry::track(ctx, "hooks");
  auto r1 = tether::after_func(ctx, [] {});
  auto r2 = tether::after_func(ctx, [] {});
  EXPECT_EQ(registry::snapshot().at(0).context.callbacks, 2u);
  r1.stop();
  EXPECT_EQ(registry::snapshot().at(0).context.callbacks, 1u);
}

TEST_F(Registry, SnapshotShowsTheTraceIdOfTheTrackedContextAndItsChildren) {
  auto trace = tether::TraceContext::new_root();
  auto [timed, cancel] = tether::with_cancel(tether::background());
  tether::Context ctx = tether::with_value(timed, tether::trace_key, trace);
  registry::Tracked t = registry::track(ctx, "traced");
  auto [child, cancel_child] = tether::with_cancel(ctx);
  const registry::ContextNode root = registry::snapshot().at(0).context;
  EXPECT_EQ(root.trace_id, trace.trace_id_hex());
  ASSERT_EQ(root.values.size(), 1u);
  EXPECT_EQ(root.values[0].first, "trace");
  ASSERT_EQ(root.children.size(), 1u);
  EXPECT_EQ(root.children[0].trace_id, trace.trace_id_hex());
  // The root already lists the trace value: its child does not repeat it.
  EXPECT_TRUE(root.children[0].values.empty());
}

TEST_F(Registry, DeepTreesAreTruncatedAtSixtyFourLevels) {
  auto [root_ctx, cancel] = tether::with_cancel(tether::background());
  registry::Tracked t = registry::track(root_ctx, "deep");
  std::vector<tether::Context> chain{root_ctx};
  std::vector<tether::ScopedCancel> cancels;
  for (int i = 0; i < 100; ++i) {
    auto [c, k] = tether::with_cancel(chain.back());
    chain.push_back(c);
    cancels.push_back(std::move(k));
  }
  const registry::ContextNode root = registry::snapshot().at(0).context;
  const registry::ContextNode* n = &root;
  std::size_t depth = 0;
  while (!n->children.empty()) {
    n = &n->children[0];
    ++depth;
  }
  EXPECT_EQ(depth, 63u);
  EXPECT_TRUE(n->truncated);
  EXPECT_FALSE(root.truncated);
}

TEST_F(Registry, ToJsonWritesTheTreeWithEscapedStrings) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  auto [child, cancel_child] =
      tether::with_cancel(tether::with_value(ctx, source_key, std::string("a\"b\\c\n")));
  registry::Tracked t = registry::track(ctx, "GET /x?q=\"1\"");
  const std::string json = registry::to_json(registry::snapshot());
  EXPECT_EQ(json,
            "{\"contexts\":[{\"id\":" + std::to_string(registry::snapshot().at(0).id) +
                ",\"label\":\"GET /x?q=\\\"1\\\"\",\"age_ns\":0,\"context\":{\"kind\":"
                "\"WithDeadline\",\"state\":\"active\",\"time_left_ns\":1000000000,\"cause\":\"\","
                "\"trace_id\":\"\",\"values\":[],\"callbacks\":0,\"truncated\":false,"
                "\"children\":[{\"kind\":\"WithCancel\",\"state\":\"active\",\"time_left_ns\":"
                "1000000000,\"cause\":\"\",\"trace_id\":\"\",\"values\":[{\"key\":\"source\","
                "\"value\":\"a\\\"b\\\\c\\n\"}],\"callbacks\":0,\"truncated\":false,"
                "\"children\":[]}]}}]}");
  EXPECT_EQ(registry::to_json({}), "{\"contexts\":[]}");
}

TEST_F(Registry, SnapshotsRaceSafelyWithDerivingCancellingAndUntracking) {
  auto [root_ctx, cancel] = tether::with_cancel(tether::background());
  registry::Tracked t = registry::track(root_ctx, "busy");
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&, ctx = root_ctx] {
      while (!stop.load()) {
        auto [a, ca] = tether::with_cancel(ctx);
        registry::Tracked ta = registry::track(a, "worker");
        auto [b, cb] = tether::with_timeout(a, 1h);
        auto reg = tether::after_func(b, [] {});
        if (b.deadline()) ca();
      }
    });
  }
  std::size_t snapshots = 0;
  for (; snapshots < 300; ++snapshots) {
    for (const auto& e : registry::snapshot()) {
      ASSERT_FALSE(e.label.empty());
      ASSERT_FALSE(e.context.kind.empty());
    }
  }
  stop = true;
  for (auto& w : workers) w.join();
  EXPECT_EQ(snapshots, 300u);
  auto entries = registry::snapshot();
  ASSERT_EQ(entries.size(), 1u);  // every worker's entry is gone
  EXPECT_TRUE(entries[0].context.children.empty());
}

}  // namespace
