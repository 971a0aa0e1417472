// The two windows of the derive/cancel protocol that a careful user found (and that no
// earlier test hit): both are logic races on atomics, invisible to ThreadSanitizer, so each
// test checks the promise itself. docs/design.md, "The life of a node", is the protocol
// these tests hold the implementation to.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using context_test::BoundedThread;
using tether::testing::ManualClock;

// Defect 1: a deadline child became visible in its parent's children list before its timer
// bookkeeping (heap position, shard) was set; a cancel cascade that reached it in that
// window "disarmed" slot 0 of shard 0 — somebody else's deadline — or an empty heap.
TEST(ProtocolRace, DerivingDeadlineChildrenWhileTheParentIsCancelledLeavesOtherDeadlinesArmed) {
  ManualClock clock;
  auto [victim, cancel_victim] = tether::with_timeout(tether::background(), 10s);
  ASSERT_EQ(clock.pending_timers(), 1u);
  // More derivers than cores: a deriver preempted inside the window is what the cancel
  // cascade must find, so oversubscription makes the window wide.
  constexpr int kDerivers = 8;
  constexpr int kRounds = 20000;
  std::vector<tether::Context> parents;
  std::vector<tether::ScopedCancel> cancels;
  for (int r = 0; r < kRounds; ++r) {
    auto [p, cancel_p] = tether::with_cancel(tether::background());
    parents.push_back(p);
    cancels.push_back(std::move(cancel_p));
  }
  std::atomic<int> round{0};
  std::atomic<int> derived{0};
  auto derive = [&] {
    for (int r; (r = round.load(std::memory_order_acquire)) < kRounds;) {
      auto [child, cancel_child] = tether::with_timeout(parents[r], 1h);
      derived.fetch_add(1, std::memory_order_relaxed);
    }
  };
  {
    std::vector<std::unique_ptr<BoundedThread>> derivers;
    for (int i = 0; i < kDerivers; ++i)
      derivers.push_back(std::make_unique<BoundedThread>("deriver", derive));
    // Bounded in time, not only in rounds: on a loaded machine fewer rounds run. Before the
    // fix this crashed or lost the victim's deadline within about a second.
    const auto until = std::chrono::steady_clock::now() + 2s;
    for (int r = 0; r < kRounds && std::chrono::steady_clock::now() < until; ++r) {
      const int before = derived.load();
      while (derived.load() < before + kDerivers) std::this_thread::yield();  // amid derives
      cancels[r]();
      round.store(r + 1, std::memory_order_release);
    }
    round.store(kRounds, std::memory_order_release);
  }
  EXPECT_EQ(clock.pending_timers(), 1u) << "only the victim is armed";
  clock.advance(10s);
  EXPECT_EQ(victim.err(), tether::errc::deadline_exceeded) << "the victim's deadline was lost";
}

// Defect 2: a node was unlinked from its parent as soon as it was published as cancelled,
// before its own cascade had finished; an ancestor's cancel that started in that window
// neither saw it nor waited for it, and returned with part of the subtree still live.
TEST(ProtocolRace, CancelReturnsOnlyAfterASubtreeAnotherThreadIsCancellingIsDone) {
  constexpr int kGrandchildren = 100'000;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto [x, cancel_x] = tether::with_cancel(tether::background());
    auto [y, cancel_y] = tether::with_cancel(x);
    std::vector<tether::Context> leaves;
    std::vector<tether::ScopedCancel> keep;
    leaves.reserve(kGrandchildren);
    keep.reserve(kGrandchildren);
    for (int i = 0; i < kGrandchildren; ++i) {
      auto [leaf, cancel_leaf] = tether::with_cancel(y);
      leaves.push_back(leaf);
      keep.push_back(std::move(cancel_leaf));
    }
    BoundedThread b("cancels y", [cy = cancel_y.func()] { cy(); });
    while (!y.err()) std::this_thread::yield();  // y is published; its cascade runs on b
    cancel_x();
    int live = 0;
    for (const auto& leaf : leaves) live += leaf.err() ? 0 : 1;
    ASSERT_EQ(live, 0) << "attempt " << attempt << ": cancel(x) returned with live descendants";
  }
}

}  // namespace
