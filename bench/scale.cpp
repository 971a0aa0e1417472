// bench/scale.cpp — the C++ halves of the side-by-side benchmarks Go's suite does not have
// (docs/performance.md, "Targets"); the Go halves, same names and workloads, are in
// bench/go/scale/scale_test.go.
//
//   TimeoutsCancel/order=oldest|newest/n=N   n one-hour timeouts live, then every one
//                                            cancelled in that order (only the cancels
//                                            are timed)
//   ScaleLiveTimeouts/n=N                    n timeouts created (up to n pending), then
//                                            cancelled oldest first (both timed)
//   ScaleFanOut/n=N                          one cancel() of a parent with n live children
//   ScaleChain/n=N                           one cancel() of the root of a chain of n
//
// One iteration is one batch of n; building it (and freeing it) is not timed (manual time
// around the timed part). bench/compare.py divides ns/op by n: the cost per context, which
// should not grow with n (no cliff). n = 1 000 … 1 000 000; the smoke and quick runs keep
// n ≤ 10 000.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "harness.hpp"
#include "tether/context.hpp"

using namespace std::chrono_literals;

namespace tether_bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

std::vector<int> sizes() {
  const char* quick = std::getenv("TETHER_BENCH_QUICK");
  if (smoke_mode() || (quick != nullptr && *quick != '\0' && *quick != '0')) return {1000, 10000};
  return {1000, 10000, 100000, 1000000};
}

void TimeoutsCancel(benchmark::State& state, int n, bool oldest_first) {
  std::vector<tether::CancelFunc> cancels(static_cast<std::size_t>(n));
  for (auto _ : state) {
    for (auto& c : cancels) c = tether::with_timeout(tether::background(), 1h).cancel.release();
    auto start = SteadyClock::now();
    if (oldest_first) {
      for (auto& c : cancels) c();
    } else {
      for (auto it = cancels.rbegin(); it != cancels.rend(); ++it) (*it)();
    }
    state.SetIterationTime(seconds_since(start));
    for (auto& c : cancels) c = tether::CancelFunc();  // frees the nodes, untimed
  }
  state.counters["n"] = n;
}

void ScaleLiveTimeouts(benchmark::State& state, int n) {
  std::vector<tether::CancelFunc> cancels(static_cast<std::size_t>(n));
  for (auto _ : state) {
    auto start = SteadyClock::now();
    for (auto& c : cancels) c = tether::with_timeout(tether::background(), 1h).cancel.release();
    for (auto& c : cancels) c();
    state.SetIterationTime(seconds_since(start));
    for (auto& c : cancels) c = tether::CancelFunc();
  }
  state.counters["n"] = n;
}

void ScaleFanOut(benchmark::State& state, int n) {
  std::vector<tether::Context> children(static_cast<std::size_t>(n));
  for (auto _ : state) {
    auto [parent, cancel] = tether::with_cancel(tether::background());
    for (auto& c : children) {
      auto [child, child_cancel] = tether::with_cancel(parent);
      (void)child_cancel.release();  // only the parent's cancel may end them
      c = std::move(child);
    }
    auto start = SteadyClock::now();
    cancel();
    state.SetIterationTime(seconds_since(start));
    bool all_done = std::all_of(children.begin(), children.end(), [](const tether::Context& c) {
      return c.err() == tether::errc::canceled;
    });
    for (auto& c : children) c = tether::Context();
    if (!all_done) return fail(state, "ScaleFanOut: a child is not cancelled after cancel()");
  }
  state.counters["n"] = n;
}

void ScaleChain(benchmark::State& state, int n) {
  for (auto _ : state) {
    auto [root, cancel] = tether::with_cancel(tether::background());
    tether::Context leaf = root;
    for (int i = 0; i < n; i++) {
      auto [child, child_cancel] = tether::with_cancel(leaf);
      (void)child_cancel.release();
      leaf = std::move(child);
    }
    auto start = SteadyClock::now();
    cancel();
    state.SetIterationTime(seconds_since(start));
    bool done = leaf.err() == tether::errc::canceled;
    leaf = tether::Context();  // frees the chain (iteratively), untimed
    if (!done) return fail(state, "ScaleChain: the leaf is not cancelled after cancel()");
  }
  state.counters["n"] = n;
}

}  // namespace

void register_scale() {
  using benchmark::RegisterBenchmark;
  for (const char* order : {"oldest", "newest"}) {
    for (int n : sizes()) {
      bool oldest = std::string(order) == "oldest";
      RegisterBenchmark(
          ("TimeoutsCancel/order=" + std::string(order) + "/n=" + std::to_string(n)).c_str(),
          [n, oldest](benchmark::State& s) { TimeoutsCancel(s, n, oldest); })
          ->UseManualTime();
    }
  }
  for (int n : sizes()) {
    std::string suffix = "/n=" + std::to_string(n);
    RegisterBenchmark(("ScaleLiveTimeouts" + suffix).c_str(), [n](benchmark::State& s) {
      ScaleLiveTimeouts(s, n);
    })->UseManualTime();
    RegisterBenchmark(("ScaleFanOut" + suffix).c_str(), [n](benchmark::State& s) {
      ScaleFanOut(s, n);
    })->UseManualTime();
    RegisterBenchmark(("ScaleChain" + suffix).c_str(), [n](benchmark::State& s) {
      ScaleChain(s, n);
    })->UseManualTime();
  }
}

}  // namespace tether_bench
