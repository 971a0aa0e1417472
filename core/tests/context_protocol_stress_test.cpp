// The node protocol under random concurrent load (docs/design.md, "The life of a node").
//
// Several threads derive (cancel, deadline, value, without_cancel, after_func), drop
// handles, stop registrations and cancel random contexts, while another thread advances a
// ManualClock. A model of the tree (Entry, one per derived context) is checked against
// the library at every step:
//   * when a canceller returns, every descendant of its context is done;
//   * when ManualClock::advance returns, every context that existed before it and whose
//     deadline has passed is done;
//   * at the end of each round (no thread running): the number of armed timers equals the
//     number of live, not-done deadline contexts; an after_func ran once iff its context is
//     done and it was not stopped; once every handle is dropped no timer of the round is
//     left and the round's root has no registered children;
//   * an unrelated deadline armed at the start ("the victim") still fires at the end.
// The seed is printed; TETHER_TEST_SEED replays it (the interleaving is not replayed).
// TETHER_STRESS_MS sets the running time (default 1500 ms); CI runs it repeatedly under
// ThreadSanitizer and AddressSanitizer (.ci/run).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using tether::testing::ManualClock;

const tether::Key<int> kDepth{"depth"};

struct Entry {
  enum class Kind { kRoot, kCancel, kDeadline, kValue, kWithoutCancel, kAfterFunc };
  Kind kind = Kind::kRoot;
  std::shared_ptr<const Entry> parent;  // the entry it was derived from (null for roots)
  tether::Context ctx;                  // after_func: the context it watches
  std::optional<tether::CancelFunc> cancel;
  bool timer_node = false;  // kDeadline: its deadline was earlier than its parent's
  tether::Registration registration;
  std::shared_ptr<std::atomic<int>> runs;      // kAfterFunc: how often the callback ran
  std::shared_ptr<std::atomic<bool>> stopped;  // kAfterFunc: stop() returned true
  mutable std::mutex mu;
  mutable std::vector<std::weak_ptr<const Entry>> children;  // under mu
};
using EntryPtr = std::shared_ptr<const Entry>;

/// True if cancelling `ancestor` must cancel `e`: `e` is `ancestor` or below it, with no
/// without_cancel on the way (without_cancel cuts the cancellation chain).
bool cancelled_with(const Entry* e, const Entry* ancestor) {
  for (const Entry* x = e; x != nullptr; x = x->parent.get()) {
    if (x == ancestor) return true;
    if (x->kind == Entry::Kind::kWithoutCancel) return false;
  }
  return false;
}

/// Shared state of one round: the pool of live handles and every failure seen.
class Round {
 public:
  Round(ManualClock& clock, unsigned seed) : clock_(clock), seed_(seed) {
    auto root = std::make_shared<Entry>();
    root->ctx = root_.ctx;
    pool_.push_back(root);
    pool_.push_back(std::make_shared<Entry>());  // background() itself
    all_.push_back(root);
  }

  /// One worker: random operations until `until`.
  void work(unsigned id, std::chrono::steady_clock::time_point until) {
    std::mt19937 rng(seed_ * 7919u + id);
    while (std::chrono::steady_clock::now() < until && !failed()) {
      const int op = std::uniform_int_distribution<int>(0, 99)(rng);
      if (op < 40) {
        derive(pick(rng), rng);
      } else if (op < 50) {
        // A wide subtree in one go: long cascades, the window in which another thread's
        // cancel of an ancestor must still wait for them.
        EntryPtr parent = pick(rng);
        for (int n = std::uniform_int_distribution<int>(8, 64)(rng); n > 0; --n)
          derive(parent, rng);
        if (rng() % 2 == 0) cancel(parent);
      } else if (op < 72) {
        drop(rng);
      } else if (op < 93) {
        cancel(rng);
      } else {
        stop_registration(rng);
      }
    }
  }

  /// The clock thread: advance by 0–5 ms at a time, and check what became due.
  void tick(std::chrono::steady_clock::time_point until) {
    std::mt19937 rng(seed_ * 31u);
    while (std::chrono::steady_clock::now() < until && !failed()) {
      std::vector<EntryPtr> before = snapshot();
      clock_.advance(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 5000)(rng)));
      const auto now = clock_.now();
      for (const EntryPtr& e : before) {
        auto d = e->ctx.deadline();
        if (d && *d <= now && !e->ctx.err()) fail("a context whose deadline passed is not done");
      }
      std::this_thread::yield();
    }
  }

  /// The checks that need a quiet tree; then drops every handle and checks nothing is left.
  void finish() {
    std::size_t armed = 0;
    for (const auto& weak : all_snapshot()) {
      EntryPtr e = weak.lock();
      if (!e) continue;
      if (e->kind == Entry::Kind::kDeadline && e->timer_node && !e->ctx.err()) ++armed;
      for (const Entry* a = e.get(); a != nullptr; a = a->parent.get())
        if (a->cancel && a->ctx.err() && cancelled_with(e.get(), a) && !e->ctx.err())
          fail("a descendant of a cancelled context is not done");
      if (e->kind == Entry::Kind::kAfterFunc) check_after_func(*e);
    }
    EXPECT_EQ(tether::testing::pending_timers(), armed + 1)
        << "armed timers must be exactly the live deadline contexts (and the victim)";
    std::vector<std::weak_ptr<const Entry>> every = all_snapshot();
    // Stop every registration, as a program that is done with them does; then drop all.
    for (const EntryPtr& e : registrations_) e->registration.stop();
    {
      std::lock_guard lk(mu_);
      pool_.clear();
      all_.clear();
      registrations_.clear();
    }
    for (const auto& weak : every)
      if (!weak.expired()) fail("an entry outlived the pool (a test bug)");
    EXPECT_EQ(tether::testing::pending_timers(), 1u) << "only the victim may stay armed";
    EXPECT_EQ(tether::testing::registered_children(root_.ctx), 0u);
  }

  bool failed() const { return failures_.load() != 0; }
  std::size_t operations() const { return operations_.load(); }

 private:
  void fail(const char* what) {
    if (failures_.fetch_add(1) == 0) ADD_FAILURE() << what << " (seed " << seed_ << ")";
  }

  std::vector<EntryPtr> snapshot() {
    std::lock_guard lk(mu_);
    return pool_;
  }
  std::vector<std::weak_ptr<const Entry>> all_snapshot() {
    std::lock_guard lk(mu_);
    return all_;
  }
  /// A random live entry; half the time one of the newest, so that threads meet on the
  /// same nodes (the races are in the moments when two of them touch one node).
  EntryPtr pick(std::mt19937& rng) {
    std::lock_guard lk(mu_);
    if (pool_.empty()) return nullptr;
    std::size_t from = 0;
    if (rng() % 2 == 0 && pool_.size() > 16) from = pool_.size() - 16;
    return pool_[std::uniform_int_distribution<std::size_t>(from, pool_.size() - 1)(rng)];
  }

  void derive(const EntryPtr& parent, std::mt19937& rng) {
    if (!parent || parent->kind == Entry::Kind::kAfterFunc) return;
    auto e = std::make_shared<Entry>();
    e->parent = parent;
    const tether::Context& p = parent->ctx;
    switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
      case 0:
      case 1: {
        e->kind = Entry::Kind::kCancel;
        auto [ctx, cancel] = tether::with_cancel(p);
        e->ctx = ctx;
        e->cancel = cancel.release();
        break;
      }
      case 2: {
        e->kind = Entry::Kind::kDeadline;
        const auto at = clock_.now() + std::chrono::microseconds(
                                           std::uniform_int_distribution<int>(0, 50'000)(rng));
        const auto inherited = p.deadline();
        e->timer_node = !inherited || !(*inherited < at);
        auto [ctx, cancel] = tether::with_deadline(p, at);
        e->ctx = ctx;
        e->cancel = cancel.release();
        break;
      }
      case 3:
        e->kind = Entry::Kind::kValue;
        e->ctx = tether::with_value(p, kDepth, 1);
        break;
      case 4:
        e->kind = Entry::Kind::kWithoutCancel;
        e->ctx = tether::without_cancel(p);
        break;
      default: {
        e->kind = Entry::Kind::kAfterFunc;
        e->ctx = p;
        e->runs = std::make_shared<std::atomic<int>>(0);
        e->stopped = std::make_shared<std::atomic<bool>>(false);
        e->registration = tether::after_func(p, [runs = e->runs] { runs->fetch_add(1); });
        break;
      }
    }
    operations_.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lk(parent->mu);
      parent->children.push_back(e);
    }
    std::lock_guard lk(mu_);
    all_.push_back(e);
    if (e->kind == Entry::Kind::kAfterFunc) registrations_.push_back(e);
    if (pool_.size() < kPoolCap) pool_.push_back(std::move(e));
  }

  void drop(std::mt19937& rng) {
    std::lock_guard lk(mu_);
    if (pool_.size() <= 2) return;
    std::size_t i = std::uniform_int_distribution<std::size_t>(2, pool_.size() - 1)(rng);
    std::swap(pool_[i], pool_.back());
    pool_.pop_back();  // the entry (and its handles) may die here, or with its last child
  }

  /// Cancels a random ancestor (or the entry itself) of a random entry.
  void cancel(std::mt19937& rng) {
    EntryPtr target = pick(rng);
    for (int up = static_cast<int>(rng() % 4); up > 0 && target && target->parent; --up)
      target = target->parent;
    while (target && !target->cancel) target = target->parent;
    cancel(target);
  }

  void cancel(const EntryPtr& target) {
    if (!target || !target->cancel) return;
    (*target->cancel)();
    if (!target->ctx.err()) fail("a cancelled context is not done");
    // Walk down at once: a cascade still running on another thread must not be missed.
    std::vector<EntryPtr> todo{target};
    while (!todo.empty()) {
      EntryPtr e = std::move(todo.back());
      todo.pop_back();
      if (!e->ctx.err()) fail("cancel returned while a descendant was still live");
      std::lock_guard lk(e->mu);
      for (const auto& weak : e->children)
        if (EntryPtr c = weak.lock(); c && c->kind != Entry::Kind::kWithoutCancel)
          todo.push_back(std::move(c));
    }
  }

  void stop_registration(std::mt19937& rng) {
    EntryPtr e = pick(rng);
    if (!e || e->kind != Entry::Kind::kAfterFunc) return;
    if (e->registration.stop()) e->stopped->store(true);
  }

  void check_after_func(const Entry& e) {
    const int runs = e.runs->load();
    if (runs > 1) fail("an after_func ran more than once");
    if (e.stopped->load() && runs != 0) fail("an after_func ran after stop() returned true");
    if (!e.stopped->load() && e.ctx.err() && runs != 1)
      fail("an after_func of a done context did not run");
    if (!e.ctx.err() && runs != 0) fail("an after_func ran before its context was done");
  }

  static constexpr std::size_t kPoolCap = 1024;
  ManualClock& clock_;
  const unsigned seed_;
  tether::Derived<tether::ScopedCancel> root_ = tether::with_cancel(tether::background());
  std::mutex mu_;
  std::vector<EntryPtr> pool_;                   // live handles; [0] root, [1] background
  std::vector<std::weak_ptr<const Entry>> all_;  // every entry of the round
  // Every after_func entry, kept until finish(): a registration keeps its context (and
  // so its timer) alive until it runs or is stopped, with or without its handle (as
  // Go's AfterFunc does), so the model must keep the entry too.
  std::vector<EntryPtr> registrations_;
  std::atomic<int> failures_{0};
  std::atomic<std::size_t> operations_{0};
};

std::chrono::milliseconds stress_duration() {
  if (const char* ms = std::getenv("TETHER_STRESS_MS"))
    return std::chrono::milliseconds(std::atol(ms));
  return 1500ms;
}

TEST(ProtocolStress, RandomDeriveDropCancelAndClockKeepEveryInvariant) {
  const unsigned seed = context_test::test_seed();
  std::cout << "[ seed     ] " << seed << " (replay with TETHER_TEST_SEED=" << seed << ")\n";
  SCOPED_TRACE("seed=" + std::to_string(seed));
  ManualClock clock;
  auto [victim, cancel_victim] = tether::with_timeout(tether::background(), 1000h);
  ASSERT_EQ(clock.pending_timers(), 1u);

  constexpr unsigned kWorkers = 6;  // more than cores: preemption inside the windows
  constexpr auto kRoundLength = 100ms;
  const auto end = std::chrono::steady_clock::now() + stress_duration();
  std::size_t rounds = 0, operations = 0;
  for (unsigned r = 0; std::chrono::steady_clock::now() < end; ++r) {
    Round round(clock, seed + r);
    const auto until = std::chrono::steady_clock::now() + kRoundLength;
    {
      std::vector<std::jthread> threads;
      for (unsigned w = 0; w < kWorkers; ++w)
        threads.emplace_back([&round, w, until] { round.work(w, until); });
      threads.emplace_back([&round, until] { round.tick(until); });
    }
    round.finish();
    ++rounds;
    operations += round.operations();
    if (round.failed() || HasFailure()) break;
  }
  std::cout << "[ stress   ] " << rounds << " rounds, " << operations << " derivations\n";
  EXPECT_GT(operations, 0u);
  EXPECT_FALSE(victim.err());
  clock.advance(1000h);
  EXPECT_EQ(victim.err(), tether::errc::deadline_exceeded) << "the victim's deadline was lost";
  EXPECT_EQ(clock.pending_timers(), 0u);
}

// A deadline armed while ManualClock::advance is scanning the heaps, already past the new
// time, must not wait for the next advance: whoever finishes second fires it.
TEST(ProtocolStress, DeadlineArmedWhileTheManualClockAdvancesPastItIsDoneWhenSeen) {
  ManualClock clock;
  std::mutex mu;
  std::vector<tether::Context> created;
  std::atomic<bool> stop{false};
  std::jthread creator([&] {
    while (!stop.load()) {
      auto [ctx, cancel] = tether::with_timeout(tether::background(), 1ms);
      (void)cancel.release();  // keep it armed after this scope
      std::lock_guard lk(mu);
      created.push_back(ctx);
    }
  });
  const auto until = std::chrono::steady_clock::now() + 500ms;
  int late = 0;
  while (std::chrono::steady_clock::now() < until) {
    clock.advance(1ms);
    const auto now = clock.now();
    std::lock_guard lk(mu);
    for (const auto& ctx : created)
      if (*ctx.deadline() <= now && !ctx.err()) ++late;
    created.clear();
  }
  stop.store(true);
  EXPECT_EQ(late, 0) << "deadlines already due when advance() returned were not fired";
}

}  // namespace
