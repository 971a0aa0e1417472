// bench/go_suite.cpp — Go 1.19's src/context/benchmark_test.go, ported benchmark by
// benchmark with the same names and the same workloads, so that `make bench` can put Go's
// ns/op and ours side by side.
//
// Mapping (Go → tether):
//   ctx, cancel := WithCancel(p)        auto [ctx, cancel] = tether::with_cancel(p);
//   cancel()                            cancel();
//   _ = cancel (never called)           cancel.release(), dropped: our canceller cancels on
//                                       destruction, so release() is how to *not* call it
//   select { case <-ctx.Done(): default: }   ctx.done().ready()
//   ctx.Err()                           ctx.err()
//   ctx.Value(k)                        ctx.value(k)
//   WithValue(ctx, i, i), i = 0..99     with_value(ctx, keys[i], i): 100 distinct Key<int>
//   b.RunParallel                       ->Threads(GOMAXPROCS)->UseRealTime(): Go divides the
//                                       wall time by the operations of all goroutines, and
//                                       so does Google Benchmark with real time
//   go func() { ctx.Value(-1) }()       a hand-off to an already running thread (C++ has no
//                                       goroutines; see DeepValueNewGoRoutine)
//
// Results that Go throws away are passed to benchmark::DoNotOptimize so the compiler cannot
// delete the work.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "tether/context.hpp"

using namespace std::chrono_literals;

namespace tether_bench {
namespace {

// ---- BenchmarkCommonParentCancel ---------------------------------------------------------
// Many goroutines derive from, and cancel, children of one shared parent: the contention on
// the parent's children list.

const tether::Key<std::string> common_key{"key"};

struct CommonParent {
  tether::Context root = tether::with_value(tether::background(), common_key, "value");
  tether::Derived<tether::ScopedCancel> shared = tether::with_cancel(root);
};

// Go's `for i := 0; i < 100; i++ { x /= x + 1 }`: 100 dependent 64-bit divisions. The
// DoNotOptimize before the loop hides x's value (always 0) from the compiler, so it has to
// divide as Go does.
inline void divide_100_times(std::int64_t& x) {
  benchmark::DoNotOptimize(x);
  for (int i = 0; i < 100; i++) x /= x + 1;
}

void CommonParentCancel(benchmark::State& state, const CommonParent& common) {
  std::int64_t x = 0;
  AllocationMeter meter;
  for (auto _ : state) {
    auto [ctx, cancel] = tether::with_cancel(common.shared.ctx);
    const std::string* v = ctx.value(common_key);
    if (v == nullptr || *v != "value") {
      fail(state, "CommonParentCancel: value lookup through the cancel node failed");
      break;
    }
    divide_100_times(x);
    cancel();
    divide_100_times(x);
  }
  meter.report(state);
  benchmark::DoNotOptimize(x);
}

// Not in Go's suite: CommonParentCancel's 200 divisions alone, on as many threads. The part
// of CommonParentCancel above this floor is what the contexts cost.
void CommonParentCancelFloor(benchmark::State& state) {
  std::int64_t x = 0;
  for (auto _ : state) {
    divide_100_times(x);
    divide_100_times(x);
  }
  benchmark::DoNotOptimize(x);
}

// ---- BenchmarkWithTimeout ------------------------------------------------------------------
// With `concurrency` timeouts pending (spread over the GOMAXPROCS threads), each operation
// creates 10 timeouts of an hour and cancels them: timer insertion and removal under load.

void WithTimeout(benchmark::State& state, int concurrency) {
  const int per_thread = concurrency / state.threads();
  const tether::Context root = tether::background();

  // Generate concurrent contexts: Go keeps only the CancelFuncs, and so do we.
  std::vector<tether::CancelFunc> ccf;
  ccf.reserve(static_cast<std::size_t>(per_thread));
  for (int j = 0; j < per_thread; j++)
    ccf.push_back(tether::with_timeout(root, 1h).cancel.release());

  tether::CancelFunc wcf[10];
  AllocationMeter meter;
  for (auto _ : state) {
    for (auto& f : wcf) f = tether::with_timeout(root, 1h).cancel.release();
    for (auto& f : wcf) f();
  }
  meter.report(state);

  for (auto& f : ccf) f();
}

// ---- BenchmarkCancelTree -------------------------------------------------------------------
// Builds a chain of `depth` cancellable contexts under a root that is background, an open
// canceller or an already cancelled one, and lets it go.

// Go: `for d := 0; d < depth; d++ { root, _ = WithCancel(root) }`. The canceller is released
// (not called), as Go drops it; when `root` goes out of scope the chain is freed and
// unregisters from its parent, which Go leaves to its garbage collector.
void build_context_tree(tether::Context root, int depth) {
  for (int d = 0; d < depth; d++) {
    auto [ctx, cancel] = tether::with_cancel(root);
    (void)cancel.release();
    root = std::move(ctx);
  }
}

void CancelTreeBackground(benchmark::State& state, int depth) {
  AllocationMeter meter;
  for (auto _ : state) build_context_tree(tether::background(), depth);
  meter.report(state);
}

void CancelTreeOpenCanceler(benchmark::State& state, int depth) {
  AllocationMeter meter;
  for (auto _ : state) {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    build_context_tree(ctx, depth);
    cancel();
  }
  meter.report(state);
}

void CancelTreeClosedCanceler(benchmark::State& state, int depth) {
  AllocationMeter meter;
  for (auto _ : state) {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    cancel();
    build_context_tree(ctx, depth);
  }
  meter.report(state);
}

// ---- BenchmarkCheckCanceled ----------------------------------------------------------------
// Polling a cancelled context: Err() and a non-blocking receive from Done().

struct Cancelled {
  Cancelled() { derived.cancel(); }
  tether::Derived<tether::ScopedCancel> derived = tether::with_cancel(tether::background());
};

void CheckCanceledErr(benchmark::State& state, const tether::Context& ctx) {
  if (!ctx.err()) return fail(state, "CheckCanceled: the context is not cancelled");
  AllocationMeter meter;
  for (auto _ : state) benchmark::DoNotOptimize(ctx.err());
  meter.report(state);
}

void CheckCanceledDone(benchmark::State& state, const tether::Context& ctx) {
  if (!ctx.done().ready()) return fail(state, "CheckCanceled: done() is not ready");
  AllocationMeter meter;
  for (auto _ : state) benchmark::DoNotOptimize(ctx.done().ready());
  meter.report(state);
}

// ---- BenchmarkContextCancelDone ------------------------------------------------------------
// GOMAXPROCS goroutines poll Done() of one open context at once.

void ContextCancelDone(benchmark::State& state, const tether::Context& ctx) {
  AllocationMeter meter;
  for (auto _ : state) benchmark::DoNotOptimize(ctx.done().ready());
  meter.report(state);
}

// ---- BenchmarkDeepValue* -------------------------------------------------------------------
// A chain of `depth` values under 100 distinct keys; each operation looks up a key that is
// not there (Go: Value(-1)), the worst case of Go's linear walk.

struct ValueChain {
  explicit ValueChain(int depth) {
    for (int i = 0; i < depth; i++) {
      keys.emplace_back("i");
      ctx = tether::with_value(ctx, keys.back(), i);
    }
  }
  std::deque<tether::Key<int>> keys;  // deque: Keys cannot move, and their address is identity
  tether::Key<int> missing{"-1"};
  tether::Context ctx;
};

void DeepValueSameGoRoutine(benchmark::State& state, const ValueChain& chain) {
  AllocationMeter meter;
  for (auto _ : state) benchmark::DoNotOptimize(chain.ctx.value(chain.missing));
  meter.report(state);
}

// Go starts a goroutine per lookup and waits for it (wg.Wait). C++ has no goroutines and a
// new OS thread per operation would measure thread creation, not the context; the closest
// equivalent is handing the lookup to a thread that is already running and waiting for its
// answer. Both sides spin briefly before sleeping, as Go's scheduler does. This one is
// sensitive to machine load: when other processes hold the CPUs, each hand-off waits for
// the scheduler.
/// A word that one thread changes and another waits on, with the futex protocol written
/// out. (std::atomic::wait/notify_one hung here once: both threads asleep for 14 minutes.
/// The old code published with a release store, and libstdc++'s notify skips the wake
/// when it sees no waiter; a release store and a later load may be reordered, so the
/// notifier and the waiter could each miss the other.) Here the waiter announces itself and
/// re-reads the word, the publisher stores and then reads the announcement, all seq_cst: one of
/// them always sees the other, and FUTEX_WAIT re-compares the word in the kernel.
class HandOff {
 public:
  std::uint32_t load() const { return word_.load(std::memory_order_acquire); }

  void publish(std::uint32_t v) {
    word_.store(v, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) != 0)
      ::syscall(SYS_futex, &word_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }

  /// Spins for up to ~5 µs (about what a futex round trip costs), then sleeps until the
  /// word differs from `old`. In steady state both threads stay within the spin; on an
  /// oversubscribed machine they sleep instead of burning the slice the other one needs.
  std::uint32_t await_change(std::uint32_t old) {
    const auto spin_until = std::chrono::steady_clock::now() + 5us;
    for (int spin = 1;; spin++) {
      std::uint32_t v = load();
      if (v != old) return v;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      if (spin % 16 == 0 && std::chrono::steady_clock::now() >= spin_until) break;
    }
    for (;;) {
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      std::uint32_t v = word_.load(std::memory_order_seq_cst);
      if (v == old) ::syscall(SYS_futex, &word_, FUTEX_WAIT_PRIVATE, old, nullptr, nullptr, 0);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      if ((v = load()) != old) return v;
    }
  }

 private:
  std::atomic<std::uint32_t> word_{0};
  std::atomic<std::uint32_t> sleepers_{0};
};

class LookupThread {
 public:
  explicit LookupThread(const ValueChain& chain) : chain_(chain), thread_([this] { serve(); }) {}
  ~LookupThread() {
    requests_.publish(kStop);
    thread_.join();
  }
  LookupThread(const LookupThread&) = delete;
  LookupThread& operator=(const LookupThread&) = delete;

  /// Runs one lookup on the worker and waits for it; returns whether the key was found.
  bool lookup() {
    const std::uint32_t n = ++sent_;
    requests_.publish(n);
    answers_.await_change(n - 1);
    return found_.load(std::memory_order_relaxed);
  }

 private:
  static constexpr std::uint32_t kStop = 0xFFFFFFFFu;

  void serve() {
    std::uint32_t seen = 0;
    for (;;) {
      seen = requests_.await_change(seen);
      if (seen == kStop) return;
      found_.store(chain_.ctx.value(chain_.missing) != nullptr, std::memory_order_relaxed);
      answers_.publish(seen);
    }
  }

  const ValueChain& chain_;
  std::uint32_t sent_ = 0;
  HandOff requests_;
  HandOff answers_;
  std::atomic<bool> found_{false};
  std::thread thread_;  // last: starts after the hand-offs above exist
};

void DeepValueNewGoRoutine(benchmark::State& state, const ValueChain& chain) {
  LookupThread worker(chain);
  AllocationMeter meter;
  for (auto _ : state) {
    if (worker.lookup()) {
      fail(state, "DeepValueNewGoRoutine: found a key that was never stored");
      break;
    }
  }
  meter.report(state);
}

constexpr int kDepths[] = {10, 20, 30, 50, 100};

}  // namespace

void register_go_suite(int threads) {
  using benchmark::RegisterBenchmark;

  auto common = std::make_shared<CommonParent>();
  RegisterBenchmark("CommonParentCancel",
                    [common](benchmark::State& s) { CommonParentCancel(s, *common); })
      ->Threads(threads)
      ->UseRealTime();
  RegisterBenchmark("CommonParentCancelFloor", CommonParentCancelFloor)
      ->Threads(threads)
      ->UseRealTime();

  for (int concurrency = 40; concurrency <= 400000; concurrency *= 100) {
    RegisterBenchmark(("WithTimeout/concurrency=" + std::to_string(concurrency)).c_str(),
                      [concurrency](benchmark::State& s) { WithTimeout(s, concurrency); })
        ->Threads(threads)
        ->UseRealTime();
    // Not in Go's suite: the same on one thread, for the target "no slower per operation
    // on GOMAXPROCS threads than on one" (docs/performance.md; bench/compare.py).
    if (threads > 1) {
      RegisterBenchmark(
          ("WithTimeout/concurrency=" + std::to_string(concurrency) + "/threads=1").c_str(),
          [concurrency](benchmark::State& s) { WithTimeout(s, concurrency); })
          ->Threads(1)
          ->UseRealTime();
    }
  }

  for (int depth : {1, 10, 100, 1000}) {
    const std::string prefix = "CancelTree/depth=" + std::to_string(depth);
    RegisterBenchmark((prefix + "/Root=Background").c_str(),
                      [depth](benchmark::State& s) { CancelTreeBackground(s, depth); });
    RegisterBenchmark((prefix + "/Root=OpenCanceler").c_str(),
                      [depth](benchmark::State& s) { CancelTreeOpenCanceler(s, depth); });
    RegisterBenchmark((prefix + "/Root=ClosedCanceler").c_str(),
                      [depth](benchmark::State& s) { CancelTreeClosedCanceler(s, depth); });
  }

  auto cancelled = std::make_shared<Cancelled>();
  RegisterBenchmark("CheckCanceled/Err", [cancelled](benchmark::State& s) {
    CheckCanceledErr(s, cancelled->derived.ctx);
  });
  RegisterBenchmark("CheckCanceled/Done", [cancelled](benchmark::State& s) {
    CheckCanceledDone(s, cancelled->derived.ctx);
  });

  auto open = std::make_shared<tether::Derived<tether::ScopedCancel>>(
      tether::with_cancel(tether::background()));
  RegisterBenchmark("ContextCancelDone",
                    [open](benchmark::State& s) { ContextCancelDone(s, open->ctx); })
      ->Threads(threads)
      ->UseRealTime();

  for (int depth : kDepths) {
    auto chain = std::make_shared<ValueChain>(depth);
    RegisterBenchmark(("DeepValueNewGoRoutine/depth=" + std::to_string(depth)).c_str(),
                      [chain](benchmark::State& s) { DeepValueNewGoRoutine(s, *chain); });
  }
  for (int depth : kDepths) {
    auto chain = std::make_shared<ValueChain>(depth);
    RegisterBenchmark(("DeepValueSameGoRoutine/depth=" + std::to_string(depth)).c_str(),
                      [chain](benchmark::State& s) { DeepValueSameGoRoutine(s, *chain); });
  }
}

}  // namespace tether_bench
