// bench/harness.hpp — what every tether benchmark shares: the thread count Go would use,
// the smoke mode of the ctest run, failure reporting, and allocation counting.
//
// Allocation counting: the benchmark binary replaces the global operator new/delete
// (allocation_counting.cpp) with versions that count, per thread, the allocations and the
// bytes requested. An AllocationMeter reads the calling thread's counters around a
// benchmark's timed loop and reports them as the counters `allocs_per_op` and
// `bytes_per_op`. Google Benchmark sums counters over a benchmark's threads and divides by
// the total iteration count, so a parallel benchmark reports the allocations of all of its
// threads per operation — Go's `-benchmem` allocs/op. Allocations made on threads that are
// not benchmark threads (tether's timer thread) are not counted.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string_view>

namespace tether_bench {

/// What Go's runtime.GOMAXPROCS(0) would be here: $GOMAXPROCS if set, else the number of
/// CPUs this process may run on. Go's RunParallel benchmarks use this many goroutines; our
/// ports use this many threads.
int gomaxprocs();

/// True when $TETHER_BENCH_SMOKE is set to a non-empty value other than "0": the ctest smoke
/// run, where the big workloads (a million timeouts, 100 000 children) are scaled down.
bool smoke_mode();

/// Marks the benchmark as failed (Google Benchmark's SkipWithError) and makes the process
/// exit non-zero, so the smoke test notices a port that no longer does its work.
void fail(benchmark::State& state, std::string_view what);
/// True once fail() has been called.
bool any_failed();

/// The calling thread's allocation counters since it started.
struct AllocationCount {
  std::uint64_t allocations = 0;
  std::uint64_t bytes = 0;
};
AllocationCount thread_allocations() noexcept;

/// Counts the calling thread's allocations between start() and stop() (repeatable: the
/// counts add up), and reports them per iteration with report().
///
///   AllocationMeter meter;            // starts counting
///   for (auto _ : state) { ... }
///   meter.report(state);              // stops, sets allocs_per_op and bytes_per_op
class AllocationMeter {
 public:
  AllocationMeter() noexcept { start(); }
  void start() noexcept {
    base_ = thread_allocations();
    counting_ = true;
  }
  void stop() noexcept {
    if (!counting_) return;
    AllocationCount now = thread_allocations();
    total_.allocations += now.allocations - base_.allocations;
    total_.bytes += now.bytes - base_.bytes;
    counting_ = false;
  }
  /// Stops counting (if still counting) and sets the per-iteration counters.
  void report(benchmark::State& state) noexcept;

 private:
  AllocationCount base_;
  AllocationCount total_;
  bool counting_ = false;
};

/// Registration of the parts of the suite (go_suite.cpp, additions.cpp, scale.cpp).
void register_go_suite(int threads);
void register_additions();
void register_scale();

}  // namespace tether_bench
