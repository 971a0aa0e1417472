// bench/harness.cpp — the shared parts of the benchmarks declared in harness.hpp.
#include "harness.hpp"

#include <sched.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {
std::atomic<bool> g_failed{false};
}  // namespace

namespace tether_bench {

int gomaxprocs() {
  if (const char* env = std::getenv("GOMAXPROCS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return 1;
}

bool smoke_mode() {
  const char* env = std::getenv("TETHER_BENCH_SMOKE");
  return env != nullptr && *env != '\0' && std::string(env) != "0";
}

void fail(benchmark::State& state, std::string_view what) {
  g_failed.store(true);
  std::string message(what);
  std::fprintf(stderr, "benchmark failed: %s\n", message.c_str());
  state.SkipWithError(message.c_str());
}

bool any_failed() { return g_failed.load(); }

void AllocationMeter::report(benchmark::State& state) noexcept {
  stop();
  using benchmark::Counter;
  state.counters["allocs_per_op"] =
      Counter(static_cast<double>(total_.allocations), Counter::kAvgIterations);
  state.counters["bytes_per_op"] =
      Counter(static_cast<double>(total_.bytes), Counter::kAvgIterations);
}

}  // namespace tether_bench
