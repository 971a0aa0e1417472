// tether_host_speed: how fast this host runs right now, for bench/quiet.py.
//
// A benchmark family is judged only on a quiet machine. bench/quiet.py sees other processes
// through /proc/stat, but not a host that slows the whole virtual machine down (a busy
// neighbour on the same physical core, a lower clock): in one quiet `make bench` run both Go
// and tether ran CommonParentCancel at half their usual speed, with nothing else running.
// This probe measures that, for the two things a benchmark waits on:
//   * the CPU: every CPU runs one thread through a fixed chain of dependent 64-bit
//     divisions — the floor of CommonParentCancel — all at once;
//   * memory: every CPU's thread then follows a random cycle of pointers through its own
//     64 MB (more than the last-level cache), one dependent load at a time — what a
//     neighbour sharing the host's cache and memory bandwidth slows down, and what the
//     benchmarks over a million contexts wait on.
// The wall time of each, from the start signal until the last thread is done, is one
// repetition. It prints the median of `repetitions` (default 5) of each, in microseconds:
// "CPU MEMORY". A slower host gives larger numbers; bench/quiet.py compares them with the
// run's calibration (`quiet.py calibrate`).
//
//   tether_host_speed [repetitions]     → e.g. "11052.3 20931.7"
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include <sys/mman.h>

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
std::atomic<std::int64_t> g_sink{0};  // every result lands here, so no work can be dropped

// One cache line per node; `next` is the index of the next line of a random cycle through
// all of them (Sattolo's algorithm), so every load waits for the one before and no
// prefetcher can guess it. The lines sit on 2 MB pages where the kernel allows
// (madvise(MADV_HUGEPAGE)): with 4 KB pages every load would also miss the TLB, and the
// probe would measure how its pages happened to land more than the host's memory.
struct alignas(64) Line {
  std::uint32_t next;
};
constexpr std::size_t kBytes = 64u << 20;  // 64 MB: more than the last-level cache
constexpr std::size_t kLines = kBytes / sizeof(Line);
constexpr std::int64_t kLoads = 200'000;  // about 20 ms here

struct FreeLines {
  void operator()(Line* p) const { std::free(p); }
};
using Lines = std::unique_ptr<Line[], FreeLines>;

Lines random_cycle(std::uint32_t seed) {
  Lines lines(static_cast<Line*>(std::aligned_alloc(2u << 20, kBytes)));
  if (!lines) {
    std::fprintf(stderr, "tether_host_speed: out of memory\n");
    std::exit(1);
  }
  madvise(lines.get(), kBytes, MADV_HUGEPAGE);  // a hint: without it, 4 KB pages
  std::vector<std::uint32_t> order(kLines);
  std::iota(order.begin(), order.end(), 0u);
  std::mt19937 rng(seed);
  for (std::size_t i = kLines - 1; i > 0; i--) {
    std::swap(order[i], order[std::uniform_int_distribution<std::size_t>(0, i - 1)(rng)]);
  }
  for (std::size_t i = 0; i < kLines; i++) lines[i].next = order[i];
  return lines;
}

std::int64_t chase(const Line* lines) {
  std::uint32_t at = static_cast<std::uint32_t>(g_seed);
  for (std::int64_t i = 0; i < kLoads; i++) at = lines[at].next;
  return at;
}

// One repetition: every CPU runs `work` at the same time; the wall time from the start
// signal until the last thread is done, in microseconds.
template <typename Work>
double one_repetition(unsigned threads, const Work& work) {
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; t++) {
    workers.emplace_back([&go, &work, t] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      g_sink.fetch_add(work(t), std::memory_order_relaxed);
    });
  }
  auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& w : workers) w.join();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
      .count();
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int repetitions = argc > 1 ? std::atoi(argv[1]) : 5;
  if (argc > 2 || repetitions < 1 || repetitions > 1000) {
    std::fprintf(stderr, "usage: tether_host_speed [repetitions: 1..1000, default 5]\n");
    return 2;
  }
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<Lines> cycles;
  for (unsigned t = 0; t < threads; t++) cycles.push_back(random_cycle(t + 1));
  std::vector<double> cpu, memory;
  for (int r = 0; r < repetitions; r++) {
    cpu.push_back(one_repetition(threads, [](unsigned) { return divide_chain(g_seed); }));
    memory.push_back(one_repetition(threads, [&](unsigned t) { return chase(cycles[t].get()); }));
  }
  std::printf("%.1f %.1f\n", median(cpu), median(memory));
  return 0;
}
