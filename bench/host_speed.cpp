// tether_host_speed: how fast this host runs right now, for bench/quiet.py.
//
// A benchmark family is judged only on a quiet machine. bench/quiet.py sees other processes
// through /proc/stat, but not a host that slows the whole virtual machine down (a busy
// neighbour on the same physical core, a lower clock): in one quiet `make bench` run both Go
// and tether ran CommonParentCancel at half their usual speed, with nothing else running.
// This probe measures that. Every CPU runs one thread through a fixed chain of dependent
// 64-bit divisions — the floor of CommonParentCancel, whose verdict the slowdown spoiled —
// all at once; the wall time of that is one repetition. It prints the median of
// `repetitions` (default 5) in microseconds. A slower host gives a larger number; bench/quiet.py
// compares it with the run's calibration (`quiet.py calibrate`).
//
//   tether_host_speed [repetitions]     → e.g. "21843.5"
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

constexpr std::int64_t kDivisions = 4'000'000;  // about 22 ms on the 2-core bench machine

// `seed` is always 0 at run time; reading it from a volatile hides that from the compiler, so
// every division is done, each waiting for the one before (x /= x + 1, as in Go's suite).
std::int64_t divide_chain(std::int64_t seed) {
  std::int64_t x = seed;
  for (std::int64_t i = 0; i < kDivisions; i++) x /= x + 1;
  return x;
}

volatile std::int64_t g_seed = 0;
std::atomic<std::int64_t> g_sink{0};

// One repetition: every CPU divides at the same time; the wall time from the start signal
// until the last thread is done, in microseconds.
double one_repetition(unsigned threads) {
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; t++) {
    workers.emplace_back([&go] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      g_sink.fetch_add(divide_chain(g_seed), std::memory_order_relaxed);
    });
  }
  auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& w : workers) w.join();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  int repetitions = argc > 1 ? std::atoi(argv[1]) : 5;
  if (argc > 2 || repetitions < 1 || repetitions > 1000) {
    std::fprintf(stderr, "usage: tether_host_speed [repetitions: 1..1000, default 5]\n");
    return 2;
  }
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<double> times;
  for (int r = 0; r < repetitions; r++) times.push_back(one_repetition(threads));
  std::nth_element(times.begin(), times.begin() + repetitions / 2, times.end());
  std::printf("%.1f\n", times[static_cast<std::size_t>(repetitions / 2)]);
  return g_sink.load() == 0 ? 0 : 1;  // the sink is always 0; using it keeps the work
}
