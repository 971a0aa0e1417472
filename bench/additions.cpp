// bench/additions.cpp — benchmarks Go's suite does not have, for the claims tether makes
// beyond it: value chains, after_func, wide fan-out, wake-up latency, allocations per
// derived context, and a million live timeouts.
//
// These have no Go column in the `make bench` table; the allocation and memory ones carry
// the targets in docs/performance.md (one allocation per derived context, a million timeouts in
// 150 MB).
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "tether/context.hpp"
#include "tether/registry.hpp"

using namespace std::chrono_literals;

namespace tether_bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// ---- value chains ----------------------------------------------------------------------------

struct Keys {
  explicit Keys(int n) {
    for (int i = 0; i < n; i++) keys.emplace_back("k");
  }
  std::deque<tether::Key<int>> keys;  // Keys cannot move; their address is their identity
};

// Builds a chain of `depth` with_value contexts from background and drops it: the cost of
// with_value, including the flattened index tether builds at checkpoints, and of freeing.
void WithValueChain(benchmark::State& state, const Keys& keys, int depth) {
  AllocationMeter meter;
  for (auto _ : state) {
    tether::Context ctx;
    for (int i = 0; i < depth; i++) ctx = tether::with_value(ctx, keys.keys[i], i);
    benchmark::DoNotOptimize(tether::internal::Access::node(ctx));
  }
  meter.report(state);
}

// Finds the oldest value of a chain of `depth` (the deepest one; Go walks every node to it).
void ValueHit(benchmark::State& state, const Keys& keys, int depth) {
  tether::Context ctx;
  for (int i = 0; i < depth; i++) ctx = tether::with_value(ctx, keys.keys[i], i);
  const int* hit = ctx.value(keys.keys[0]);
  if (hit == nullptr || *hit != 0) return fail(state, "ValueHit: the oldest value is not found");
  AllocationMeter meter;
  for (auto _ : state) benchmark::DoNotOptimize(ctx.value(keys.keys[0]));
  meter.report(state);
}

// ---- after_func ------------------------------------------------------------------------------

// Registers a callback on an open context and stops it: the cost of an AfterFunc that never
// fires (the common case: the work finished before the context was cancelled).
void AfterFuncRegisterStop(benchmark::State& state) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  AllocationMeter meter;
  for (auto _ : state) {
    auto registration = tether::after_func(ctx, [] {});
    if (!registration.stop()) {
      fail(state, "AfterFuncRegisterStop: stop() did not prevent the run");
      break;
    }
  }
  meter.report(state);
}

// ---- derived contexts: time, allocations and bytes -------------------------------------------

// Each operation derives one context from an open cancellable parent (so it registers as a
// child) and drops it (which cancels and unregisters it). allocs_per_op is the number of heap
// allocations per derived context; the target is at most one.
template <class Derive>
void DerivedContext(benchmark::State& state, Derive derive) {
  auto [parent, cancel] = tether::with_cancel(tether::background());
  AllocationMeter meter;
  for (auto _ : state) derive(parent);
  meter.report(state);
}

const tether::Key<int> int_key{"int"};

// ---- fan-out ---------------------------------------------------------------------------------

// Cancels a parent with `children` live cancellable children. Only the cancel is timed (and
// its allocations counted); building and freeing the children is not.
void CancelFanOut(benchmark::State& state, int children) {
  AllocationMeter meter;
  meter.stop();
  for (auto _ : state) {
    state.PauseTiming();
    auto [parent, cancel] = tether::with_cancel(tether::background());
    std::vector<tether::Context> kids;
    kids.reserve(static_cast<std::size_t>(children));
    for (int i = 0; i < children; i++) {
      auto [child, child_cancel] = tether::with_cancel(parent);
      (void)child_cancel.release();  // only the parent's cancel may end them
      kids.push_back(std::move(child));
    }
    meter.start();
    state.ResumeTiming();

    cancel();

    state.PauseTiming();
    meter.stop();
    bool all_done = std::all_of(kids.begin(), kids.end(), [](const tether::Context& c) {
      return c.err() == tether::errc::canceled;
    });
    kids.clear();
    state.ResumeTiming();
    if (!all_done) {
      fail(state, "CancelFanOut: a child is not cancelled after cancel() returned");
      break;
    }
  }
  meter.report(state);
}

// ---- cancel → waiter wake-up latency ---------------------------------------------------------

// A waiter thread blocks in ctx.done().wait(); the benchmark thread cancels. One sample is
// the time from just before cancel() to the waiter running again, both read from the
// monotonic clock. ns/op is the mean; p50_ns and p99_ns are the percentiles.
class Waiter {
 public:
  Waiter() : thread_([this] { serve(); }) {}
  ~Waiter() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  /// Hands `ctx` to the waiter, which starts waiting for it to be done.
  void watch(tether::Context ctx) {
    {
      std::lock_guard lock(mu_);
      ctx_ = std::move(ctx);
      has_ctx_ = true;
      woke_ = false;
    }
    cv_.notify_all();
  }
  /// Waits (at most 10 s) for the waiter to return from done().wait(); the time it woke.
  std::optional<SteadyClock::time_point> woke_at() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, 10s, [&] { return woke_; })) return std::nullopt;
    return woke_at_;
  }

 private:
  void serve() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || has_ctx_; });
      if (stop_) return;
      tether::Context ctx = std::move(ctx_);
      has_ctx_ = false;
      lock.unlock();
      ctx.done().wait();
      SteadyClock::time_point now = SteadyClock::now();
      lock.lock();
      woke_at_ = now;
      woke_ = true;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  tether::Context ctx_;              // under mu_
  bool has_ctx_ = false;             // under mu_
  bool woke_ = false;                // under mu_
  bool stop_ = false;                // under mu_
  SteadyClock::time_point woke_at_;  // under mu_
  std::thread thread_;               // last: starts after the members above exist
};

// True once a thread may be parked in done().wait() on `ctx`. White-box: reads the
// kWaiters bit of the context's state word (tether/internal/node.hpp), which wait() sets
// before it sleeps on the futex.
bool has_waiter(const tether::Context& ctx) {
  return (tether::internal::Access::anchor(ctx.done())->state.load(std::memory_order_acquire) &
          tether::internal::kWaiters) != 0;
}

void CancelWakeLatency(benchmark::State& state) {
  Waiter waiter;
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(state.max_iterations));
  int unparked = 0;
  bool waiter_bit_seen = true;  // false once wait() was found not to set kWaiters
  for (auto _ : state) {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    waiter.watch(ctx);
    // Wait (bounded) until the waiter is inside wait(), then give it 50 µs more to reach
    // the kernel, so that every sample measures a wake-up from a real sleep. Should wait()
    // ever stop setting kWaiters, fall back to a fixed 200 µs head start.
    auto settle = 50us;
    if (waiter_bit_seen) {
      auto give_up = SteadyClock::now() + 100ms;
      while (!has_waiter(ctx) && SteadyClock::now() < give_up) std::this_thread::yield();
      waiter_bit_seen = has_waiter(ctx);
    }
    if (!waiter_bit_seen) {
      ++unparked;
      settle = 200us;
    }
    for (auto until = SteadyClock::now() + settle; SteadyClock::now() < until;) {
    }

    SteadyClock::time_point cancelled_at = SteadyClock::now();
    cancel();
    std::optional<SteadyClock::time_point> woke = waiter.woke_at();
    if (!woke) {
      fail(state, "CancelWakeLatency: the waiter did not wake within 10 s of cancel()");
      break;
    }
    double latency = std::chrono::duration<double>(*woke - cancelled_at).count();
    state.SetIterationTime(latency);
    samples.push_back(latency * 1e9);
  }
  if (samples.empty()) return;
  std::sort(samples.begin(), samples.end());
  auto percentile = [&](double p) {
    return samples[static_cast<std::size_t>(p * static_cast<double>(samples.size() - 1))];
  };
  state.counters["p50_ns"] = percentile(0.50);
  state.counters["p99_ns"] = percentile(0.99);
  state.counters["max_ns"] = samples.back();
  state.counters["samples"] = static_cast<double>(samples.size());
  // Samples taken without seeing the waiter's kWaiters bit (after a fixed head start).
  if (unparked > 0) state.counters["unparked_samples"] = unparked;
}

// ---- one million live timeouts ---------------------------------------------------------------

std::size_t resident_bytes() {
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

std::size_t heap_in_use() {
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// Creates `n` one-hour timeouts and keeps them live (Go's WithTimeout benchmark keeps the
// CancelFuncs; so do we), measures the memory they hold, then cancels them all.
//   resident_MB      growth of the resident set (/proc/self/statm) while they are live
//   heap_MB          growth of malloc's bytes in use (mallinfo2), headers included
//   create_ns        per with_timeout, while up to n are pending
//   cancel_ns        per cancel, with up to n pending
//   allocs_per_op    heap allocations per timeout created (bytes_per_op: bytes requested)
// ns/op is create + cancel per timeout. The array of n handles (8 bytes each) is allocated
// and touched before the baseline, so it is not counted.
void LiveTimeouts(benchmark::State& state, int n) {
  for (auto _ : state) {
    std::vector<tether::CancelFunc> live(static_cast<std::size_t>(n));
    malloc_trim(0);  // return freed memory, so reusing it shows up in the resident set
    const std::size_t rss_before = resident_bytes();
    const std::size_t heap_before = heap_in_use();
    const AllocationCount allocs_before = thread_allocations();

    auto start = SteadyClock::now();
    for (auto& f : live) f = tether::with_timeout(tether::background(), 1h).cancel.release();
    const double create_s = seconds_since(start);

    const AllocationCount allocs_after = thread_allocations();
    const std::size_t rss_during = resident_bytes();
    const std::size_t heap_during = heap_in_use();

    start = SteadyClock::now();
    for (auto& f : live) f();
    const double cancel_s = seconds_since(start);
    state.SetIterationTime((create_s + cancel_s) / n);

    constexpr double kMB = 1024.0 * 1024.0;
    auto grown = [](std::size_t after, std::size_t before) {
      return after > before ? static_cast<double>(after - before) : 0.0;
    };
    state.counters["timeouts"] = n;
    state.counters["resident_MB"] = grown(rss_during, rss_before) / kMB;
    state.counters["heap_MB"] = grown(heap_during, heap_before) / kMB;
    state.counters["resident_bytes_per_timeout"] = grown(rss_during, rss_before) / n;
    state.counters["create_ns"] = create_s * 1e9 / n;
    state.counters["cancel_ns"] = cancel_s * 1e9 / n;
    // Per timeout created (the benchmark runs one iteration of n timeouts).
    state.counters["allocs_per_op"] =
        static_cast<double>(allocs_after.allocations - allocs_before.allocations) / n;
    state.counters["bytes_per_op"] =
        static_cast<double>(allocs_after.bytes - allocs_before.bytes) / n;
  }
}

// ---- the live-context registry ---------------------------------------------------------------

const tether::Key<std::string> source_key{"source"};

// One request's context work, as the demo service does it: a request deadline, a group for
// the fan-out, three sources each with a name and its own cancel — then everything dropped.
// `how` 0: no registry call at all; 1: track() with the registry off; 2: with it on, live
// view only (history 0); 3: on with the history tether::debug keeps (256 finished requests,
// every context recorded: docs/debug.md, "Cost").
void RequestTree(benchmark::State& state, int how) {
  tether::registry::enable(how >= 2);
  tether::registry::set_history(how == 3 ? 256 : 0);
  auto [server, stop] = tether::with_cancel(tether::background());
  AllocationMeter meter;
  for (auto _ : state) {
    auto [request, cancel_request] = tether::with_timeout(server, 1h);
    tether::registry::Tracked tracked;
    if (how != 0) tracked = tether::registry::track(request, "GET /users/42");
    auto [group, cancel_group] = tether::with_cancel(request);
    for (const char* name : {"profile", "preferences", "activity"}) {
      auto [source, cancel_source] =
          tether::with_cancel(tether::with_value(group, source_key, std::string(name)));
      benchmark::DoNotOptimize(tether::internal::Access::node(source));
    }
  }
  meter.report(state);
  tether::registry::enable(false);
  tether::registry::set_history(0);
}

// A snapshot of `requests` tracked requests, each a request → group → three sources tree.
void RegistrySnapshot(benchmark::State& state, int requests) {
  tether::registry::enable(true);
  tether::registry::set_history(0);  // the live view alone
  // Kept alive until the end: the request trees and their tracking handles.
  std::deque<tether::Derived<tether::ScopedCancel>> contexts;
  std::vector<tether::registry::Tracked> tracked;
  for (int i = 0; i < requests; ++i) {
    auto& request = contexts.emplace_back(tether::with_timeout(tether::background(), 1h));
    tracked.push_back(tether::registry::track(request.ctx, "GET /users/42"));
    const tether::Context group = contexts.emplace_back(tether::with_cancel(request.ctx)).ctx;
    for (const char* name : {"profile", "preferences", "activity"})
      contexts.emplace_back(
          tether::with_cancel(tether::with_value(group, source_key, std::string(name))));
  }
  for (auto _ : state) {
    auto snap = tether::registry::snapshot();
    benchmark::DoNotOptimize(snap.data());
  }
  state.counters["contexts"] = static_cast<double>(requests) * 5;
  tracked.clear();
  contexts.clear();
  tether::registry::enable(false);
}

}  // namespace

void register_additions() {
  using benchmark::RegisterBenchmark;
  const bool smoke = smoke_mode();

  auto keys = std::make_shared<Keys>(100);
  for (int depth : {10, 100}) {
    RegisterBenchmark(("WithValueChain/depth=" + std::to_string(depth)).c_str(),
                      [keys, depth](benchmark::State& s) { WithValueChain(s, *keys, depth); });
  }
  for (int depth : {10, 100}) {
    RegisterBenchmark(("ValueHit/depth=" + std::to_string(depth)).c_str(),
                      [keys, depth](benchmark::State& s) { ValueHit(s, *keys, depth); });
  }

  RegisterBenchmark("AfterFuncRegisterStop", AfterFuncRegisterStop);

  RegisterBenchmark("DerivedContext/with_cancel", [](benchmark::State& s) {
    DerivedContext(s, [](const tether::Context& p) {
      auto d = tether::with_cancel(p);
      benchmark::DoNotOptimize(tether::internal::Access::node(d.ctx));
    });
  });
  RegisterBenchmark("DerivedContext/with_cancel_cause", [](benchmark::State& s) {
    DerivedContext(s, [](const tether::Context& p) {
      auto d = tether::with_cancel_cause(p);
      benchmark::DoNotOptimize(tether::internal::Access::node(d.ctx));
    });
  });
  RegisterBenchmark("DerivedContext/with_timeout", [](benchmark::State& s) {
    DerivedContext(s, [](const tether::Context& p) {
      auto d = tether::with_timeout(p, 1h);
      benchmark::DoNotOptimize(tether::internal::Access::node(d.ctx));
    });
  });
  RegisterBenchmark("DerivedContext/with_value", [](benchmark::State& s) {
    DerivedContext(s, [](const tether::Context& p) {
      tether::Context c = tether::with_value(p, int_key, 42);
      benchmark::DoNotOptimize(tether::internal::Access::node(c));
    });
  });
  RegisterBenchmark("DerivedContext/without_cancel", [](benchmark::State& s) {
    DerivedContext(s, [](const tether::Context& p) {
      tether::Context c = tether::without_cancel(p);
      benchmark::DoNotOptimize(tether::internal::Access::node(c));
    });
  });

  const int children = smoke ? 10000 : 100000;
  RegisterBenchmark(("CancelFanOut/children=" + std::to_string(children)).c_str(),
                    [children](benchmark::State& s) { CancelFanOut(s, children); })
      ->Iterations(smoke ? 1 : 20);

  RegisterBenchmark("RegistryRequestTree/no_registry_call",
                    [](benchmark::State& s) { RequestTree(s, 0); });
  RegisterBenchmark("RegistryRequestTree/registry_off",
                    [](benchmark::State& s) { RequestTree(s, 1); });
  RegisterBenchmark("RegistryRequestTree/registry_on",
                    [](benchmark::State& s) { RequestTree(s, 2); });
  RegisterBenchmark("RegistryRequestTree/registry_on_history",
                    [](benchmark::State& s) { RequestTree(s, 3); });
  RegisterBenchmark("RegistrySnapshot/requests=100",
                    [](benchmark::State& s) { RegistrySnapshot(s, 100); });

  RegisterBenchmark("CancelWakeLatency", CancelWakeLatency)
      ->UseManualTime()
      ->Iterations(smoke ? 20 : 2000);

  const int timeouts = smoke ? 10000 : 1000000;
  RegisterBenchmark(("LiveTimeouts/n=" + std::to_string(timeouts)).c_str(),
                    [timeouts](benchmark::State& s) { LiveTimeouts(s, timeouts); })
      ->UseManualTime()
      ->Iterations(1);
}

}  // namespace tether_bench
