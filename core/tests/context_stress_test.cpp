// Stress and scale: Go's TestSimultaneousCancels, TestLayersCancel and TestLayersTimeout,
// plus tether's own obligations — a 100 000-deep chain that cancels and frees without
// recursion, and concurrent copy/derive/drop/cancel for ThreadSanitizer.
//
// Random tests print their seed ("[ seed     ] N" on stdout and in every failure message);
// rerun one with TETHER_TEST_SEED=N to replay it. Deadline tests use ManualClock.
#include <gtest/gtest.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <iostream>
#include <latch>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using context_test::BoundedThread;
using context_test::kHangBound;
using tether::testing::ManualClock;
using tether::testing::registered_children;

unsigned announce_seed() {
  const unsigned seed = context_test::test_seed();
  std::cout << "[ seed     ] " << seed << " (replay with TETHER_TEST_SEED=" << seed << ")\n";
  return seed;
}

// Runs `fn` on a thread with a deliberately small stack, so that any recursion proportional
// to the depth of a context chain overflows (and crashes the test) instead of passing by luck
// on an 8 MiB main stack.
void run_on_small_stack(const std::function<void()>& fn) {
  constexpr std::size_t kStackBytes = 512 * 1024;
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, kStackBytes), 0);
  pthread_t thread;
  auto trampoline = [](void* arg) -> void* {
    (*static_cast<const std::function<void()>*>(arg))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, trampoline, const_cast<std::function<void()>*>(&fn)), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

// ---- Go's TestSimultaneousCancels ---------------------------------------------------------

TEST(Stress, HundredNodeTreeCancelledFromHundredThreadsInRandomOrder) {
  const unsigned seed = announce_seed();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937 rng(seed);

  constexpr std::size_t kNodes = 100;
  std::vector<tether::Context> nodes;
  std::vector<tether::CancelFunc> cancels;
  {
    auto root = tether::with_cancel(tether::background());
    nodes.push_back(root.ctx);
    cancels.push_back(root.cancel.release());
  }
  // Breadth-first, four children per node, exactly kNodes nodes.
  for (std::size_t parent = 0; nodes.size() < kNodes; ++parent) {
    for (int i = 0; i < 4 && nodes.size() < kNodes; ++i) {
      auto child = tether::with_cancel(nodes[parent]);
      nodes.push_back(child.ctx);
      cancels.push_back(child.cancel.release());
    }
  }
  std::atomic<int> callbacks{0};
  std::vector<tether::Registration> regs;
  for (const auto& n : nodes) regs.push_back(tether::after_func(n, [&callbacks] { ++callbacks; }));

  std::vector<std::size_t> order(kNodes);
  for (std::size_t i = 0; i < kNodes; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);

  std::latch start(static_cast<std::ptrdiff_t>(kNodes));
  std::vector<std::unique_ptr<BoundedThread>> threads;
  for (std::size_t i : order) {
    threads.push_back(
        std::make_unique<BoundedThread>("canceller", [&start, f = cancels[i], spins = rng() % 64] {
          start.arrive_and_wait();
          for (unsigned s = 0; s < spins; ++s) std::this_thread::yield();
          f();
        }));
  }
  // Wait on all the contexts in a random order.
  std::shuffle(order.begin(), order.end(), rng);
  for (std::size_t i : order) {
    EXPECT_TRUE(nodes[i].done().wait_for(kHangBound)) << "node " << i << " never became done";
  }
  for (auto& t : threads) t->join();  // aborts with a message on a deadlock
  for (std::size_t i = 0; i < kNodes; ++i) {
    EXPECT_EQ(nodes[i].err(), tether::errc::canceled) << "node " << i;
    EXPECT_EQ(registered_children(nodes[i]), 0u) << "node " << i;
  }
  EXPECT_EQ(callbacks.load(), static_cast<int>(kNodes)) << "every after_func ran exactly once";
}

// ---- Go's TestLayersCancel / TestLayersTimeout --------------------------------------------

// A random stack of at least 30 value / cancel / timeout layers (with at least one of each),
// as in Go's testLayers. Rebuilding with the same seed gives the same stack.
struct Layers {
  enum class Kind { kValue, kCancel, kTimeout };
  std::vector<std::unique_ptr<tether::Key<int>>> keys;  // one per value layer
  std::vector<tether::Context> contexts;                // contexts[i] = after layer i
  std::vector<Kind> kinds;
  std::vector<tether::ScopedCancel> cancels;  // one per cancel/timeout layer
  std::vector<std::size_t> cancel_layer;      // layer index of cancels[j]

  Layers(unsigned seed, std::chrono::nanoseconds timeout) {
    std::mt19937 rng(seed);
    constexpr int kMinLayers = 30;
    tether::Context ctx = tether::background();
    int timers = 0;
    for (int i = 0; i < kMinLayers || timers == 0 || cancels.empty() || keys.empty(); ++i) {
      switch (rng() % 3) {
        case 0:
          keys.push_back(std::make_unique<tether::Key<int>>("layer"));
          ctx = tether::with_value(ctx, *keys.back(), static_cast<int>(keys.size() - 1));
          kinds.push_back(Kind::kValue);
          break;
        case 1: {
          auto d = tether::with_cancel(ctx);
          ctx = d.ctx;
          cancel_layer.push_back(contexts.size());
          cancels.push_back(std::move(d.cancel));
          kinds.push_back(Kind::kCancel);
          break;
        }
        default: {
          auto d = tether::with_timeout(ctx, timeout);
          ctx = d.ctx;
          cancel_layer.push_back(contexts.size());
          cancels.push_back(std::move(d.cancel));
          kinds.push_back(Kind::kTimeout);
          ++timers;
          break;
        }
      }
      contexts.push_back(ctx);
    }
  }
  const tether::Context& leaf() const { return contexts.back(); }

  void expect_values(const char* when) const {
    for (std::size_t k = 0; k < keys.size(); ++k) {
      const int* v = leaf().value(*keys[k]);
      ASSERT_NE(v, nullptr) << when << ": key " << k;
      EXPECT_EQ(*v, static_cast<int>(k)) << when << ": key " << k;
    }
  }
};

TEST(Stress, ThirtyRandomLayersCancellingAnyLayerCancelsTheLeaf) {
  ManualClock clock;
  const unsigned seed = announce_seed();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  const std::size_t cancellable = Layers(seed, 1000h).cancels.size();
  for (std::size_t j = 0; j < cancellable; ++j) {
    Layers layers(seed, 1000h);  // same seed: same stack
    SCOPED_TRACE("cancelling layer " + std::to_string(layers.cancel_layer[j]) + " of " +
                 std::to_string(layers.contexts.size()) + ": " + layers.leaf().describe());
    EXPECT_EQ(layers.leaf().describe().rfind("context.Background.", 0), 0u);
    EXPECT_FALSE(layers.leaf().err()) << "not cancelled yet";
    layers.expect_values("before cancel");

    layers.cancels[j]();

    EXPECT_EQ(layers.leaf().err(), tether::errc::canceled);
    EXPECT_TRUE(layers.leaf().done().ready());
    for (std::size_t i = 0; i < layers.contexts.size(); ++i) {
      const bool below = i >= layers.cancel_layer[j];
      EXPECT_EQ(bool(layers.contexts[i].err()), below) << "layer " << i;
    }
    layers.expect_values("after cancel");
  }
}

TEST(Stress, ThirtyRandomLayersTimeoutReachesTheLeaf) {
  ManualClock clock;
  const unsigned seed = announce_seed();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  Layers layers(seed, 1ms);
  SCOPED_TRACE(layers.leaf().describe());
  EXPECT_FALSE(layers.leaf().err());
  layers.expect_values("before timeout");
  clock.advance(1ms);
  EXPECT_EQ(layers.leaf().err(), tether::errc::deadline_exceeded);
  layers.expect_values("after timeout");
  EXPECT_EQ(clock.pending_timers(), 0u);
}

// ---- depth: iterative cascade and iterative destruction ----------------------------------

constexpr int kChainDepth = 100000;

TEST(Stress, ChainOfHundredThousandCancelsFromTheRootAndIsFreed) {
  run_on_small_stack([] {
    auto [root, cancel] = tether::with_cancel(tether::background());
    tether::Context leaf = root;
    for (int i = 0; i < kChainDepth; ++i) {
      auto d = tether::with_cancel(leaf);
      leaf = d.ctx;
      (void)d.cancel.release();  // only the leaf handle keeps the chain alive
    }
    EXPECT_FALSE(leaf.err());
    cancel();
    EXPECT_EQ(leaf.err(), tether::errc::canceled);
    EXPECT_TRUE(leaf.done().ready());
    leaf = tether::background();  // frees 100 000 nodes
    EXPECT_EQ(registered_children(root), 0u);
  });
}

TEST(Stress, ChainOfHundredThousandIsFreedWithoutBeingCancelled) {
  run_on_small_stack([] {
    auto [root, cancel] = tether::with_cancel(tether::background());
    {
      tether::Context leaf = root;
      for (int i = 0; i < kChainDepth; ++i) {
        auto d = tether::with_cancel(leaf);
        leaf = d.ctx;
        (void)d.cancel.release();
      }
      EXPECT_EQ(registered_children(root), 1u);
    }  // dropping the leaf unregisters and frees the whole chain
    EXPECT_EQ(registered_children(root), 0u);
    EXPECT_FALSE(root.err());
  });
}

TEST(Stress, MixedChainOfHundredThousandCancelsAndIsFreed) {
  run_on_small_stack([] {
    const tether::Key<int> key{"depth"};
    auto [root, cancel] = tether::with_cancel(tether::background());
    tether::Context leaf = tether::with_value(root, key, -1);
    const tether::Key<int> first{"first"};
    leaf = tether::with_value(leaf, first, 0);
    for (int i = 0; i < kChainDepth; ++i) {
      if (i % 2 == 0) {
        leaf = tether::with_value(leaf, key, i);
      } else {
        auto d = tether::with_cancel(leaf);
        leaf = d.ctx;
        (void)d.cancel.release();
      }
    }
    ASSERT_NE(leaf.value(key), nullptr);
    EXPECT_EQ(*leaf.value(key), kChainDepth - 2);
    ASSERT_NE(leaf.value(first), nullptr) << "a value 100 000 layers up is found";
    EXPECT_EQ(*leaf.value(first), 0);
    cancel();
    EXPECT_EQ(leaf.err(), tether::errc::canceled);
    leaf = tether::background();
  });
}

// ---- concurrency (run under ThreadSanitizer) ----------------------------------------------

TEST(Stress, ConcurrentCopiesDerivationsAndDropsWhileCancelling) {
  constexpr int kThreads = 8;
  constexpr int kIterations = 500;
  const tether::Key<int> key{"i"};
  auto [root, cancel] = tether::with_cancel(tether::background());
  const tether::Context shared = tether::with_value(root, key, -1);

  std::latch start(kThreads + 1);
  std::atomic<int> bad_values{0};
  std::vector<std::vector<tether::Context>> kept(kThreads);
  std::vector<std::unique_ptr<BoundedThread>> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.push_back(std::make_unique<BoundedThread>("worker", [&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kIterations; ++i) {
        tether::Context copy = shared;  // concurrent refcount traffic on one node
        tether::Context again = copy;
        auto d = tether::with_cancel(again);  // concurrent registration with the cascade
        tether::Context v = tether::with_value(d.ctx, key, i);
        const int* p = v.value(key);
        if (p == nullptr || *p != i) bad_values.fetch_add(1);
        if (i % 4 == 0) {
          kept[t].push_back(v);  // must end up cancelled by the root
          (void)d.cancel.release();
        } else if (i % 4 == 1) {
          (void)d.cancel.release();  // forgotten: unregisters when dropped, racing the cascade
        }  // otherwise the ScopedCancel cancels at the end of the iteration
      }
    }));
  }
  start.arrive_and_wait();
  cancel();
  for (auto& t : threads) t->join();

  EXPECT_EQ(bad_values.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    for (const tether::Context& c : kept[t]) {
      ASSERT_EQ(c.err(), tether::errc::canceled) << "thread " << t;
    }
  }
  EXPECT_EQ(registered_children(root), 0u);
}

TEST(Stress, ConcurrentTimeoutsCreatedCancelledAndFiredWhileTheClockAdvances) {
  ManualClock clock;
  const unsigned seed = announce_seed();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  constexpr int kThreads = 6;
  constexpr int kIterations = 300;
  auto parent_cancel = tether::with_cancel(tether::background());
  const tether::Context parent =
      parent_cancel.ctx;  // (lambdas cannot capture bindings in clang 14)

  std::latch start(kThreads + 1);
  std::vector<std::vector<tether::Context>> kept(kThreads);
  std::vector<std::unique_ptr<BoundedThread>> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.push_back(std::make_unique<BoundedThread>("timeouts", [&, t, thread_seed = seed + t] {
      std::mt19937 rng(thread_seed);
      start.arrive_and_wait();
      for (int i = 0; i < kIterations; ++i) {
        auto d = tether::with_timeout(parent, std::chrono::milliseconds(1 + rng() % 50));
        if (rng() % 2 == 0) {
          d.cancel();  // cancel racing the timer firing
        } else {
          kept[t].push_back(d.ctx);
          (void)d.cancel.release();
        }
      }
    }));
  }
  start.arrive_and_wait();
  for (int step = 0; step < 200; ++step) clock.advance(1ms);
  for (auto& t : threads) t->join();
  clock.advance(1s);  // everything still armed is now due

  for (int t = 0; t < kThreads; ++t) {
    for (const tether::Context& c : kept[t]) {
      ASSERT_EQ(c.err(), tether::errc::deadline_exceeded) << "thread " << t;
    }
  }
  EXPECT_EQ(clock.pending_timers(), 0u);
  EXPECT_FALSE(parent.err());
  kept.clear();
  EXPECT_EQ(registered_children(parent), 0u);
}

TEST(Stress, ConcurrentCancelsWithDifferentCausesAgreeOnOneWinner) {
  for (int round = 0; round < 50; ++round) {
    auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
    auto [child, child_cancel] = tether::with_cancel(ctx);
    std::latch start(4);
    std::vector<std::unique_ptr<BoundedThread>> threads;
    for (int t = 0; t < 4; ++t) {
      threads.push_back(std::make_unique<BoundedThread>("cancel", [&start, f = cancel.func(), t] {
        start.arrive_and_wait();
        f(tether::Cause("cause " + std::to_string(t)));
      }));
    }
    for (auto& t : threads) t->join();
    const std::string winner = tether::cause(ctx).message();
    EXPECT_EQ(winner.rfind("cause ", 0), 0u) << winner;
    EXPECT_EQ(tether::cause(child).message(), winner) << "the child saw the winning cause";
  }
}

}  // namespace
