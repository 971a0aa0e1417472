// bench/main.cpp — the tether_bench binary: Go's context benchmarks ported (go_suite.cpp)
// and tether's own (additions.cpp), run by Google Benchmark.
//
//   tether_bench                                  everything, console table
//   tether_bench --benchmark_format=json          what `make bench` reads (bench/run.sh)
//   tether_bench --benchmark_filter=CancelTree    one family
//   TETHER_BENCH_SMOKE=1 tether_bench --benchmark_min_time=0.001   the ctest smoke run
//
// Exits non-zero when a benchmark found its workload broken (a lookup that should hit
// missed, a cancel that did not reach a child), so the smoke run checks the ports still
// do their work; it never judges timings.
#include <string>

#include "harness.hpp"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

  const int threads = tether_bench::gomaxprocs();
  benchmark::AddCustomContext("gomaxprocs", std::to_string(threads));
  benchmark::AddCustomContext(
      "parallel benchmarks",
      "CommonParentCancel, WithTimeout and ContextCancelDone run on gomaxprocs threads, like "
      "Go's RunParallel; ns/op is wall time divided by the operations of all threads");
  benchmark::AddCustomContext(
      "DeepValueNewGoRoutine",
      "C++ has no goroutines: each operation hands the lookup to an already running thread "
      "and waits for its answer, instead of starting a goroutine");
  benchmark::AddCustomContext(
      "allocs_per_op",
      "heap allocations on the benchmark threads per operation (replaced operator new)");
  if (tether_bench::smoke_mode()) {
    benchmark::AddCustomContext("smoke", "TETHER_BENCH_SMOKE: big workloads scaled down");
  }

  tether_bench::register_go_suite(threads);
  tether_bench::register_additions();
  tether_bench::register_scale();

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return tether_bench::any_failed() ? 1 : 0;
}
