// Helpers for the concurrency_*_test.cpp tests (Channel, Group, sync, signals, ...).
//
// Nothing here sleeps to wait for an event that can be awaited: every wait is bounded by
// kBound so a deadlock fails the test instead of hanging ctest.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>
#include <utility>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/harness/threads.hpp"

namespace concurrency_test {

using namespace std::chrono_literals;

/// How long a test waits for something that must happen promptly before calling it a hang.
inline constexpr std::chrono::seconds kBound = context_test::kHangBound;

/// The number of threads of this process (tether/harness/threads.hpp).
using tether::harness::thread_count;

/// Starts tether's shared timer thread (it starts with the first armed deadline and then
/// lives as long as the process), so that a thread count taken afterwards is a baseline
/// that only the code under test can change.
inline std::size_t thread_baseline() {
  { auto [ctx, cancel] = tether::with_timeout(tether::background(), std::chrono::hours(1)); }
  return thread_count();
}

/// True once the thread count is at most `n` (within kBound): what a joined thread leaves
/// in /proc goes a moment after pthread_join returns (tether::harness::threads_beyond).
inline bool threads_settle_to(std::size_t n) {
  return tether::harness::threads_beyond(
             n, std::chrono::duration_cast<std::chrono::milliseconds>(kBound)) == 0;
}

/// Polls `pred` (yielding between polls) until it holds or kBound passes; returns pred().
/// For state that has no waitable signal (e.g. another thread's scheduler state).
template <class Pred>
bool eventually(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + kBound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until) return pred();
    std::this_thread::yield();
  }
  return true;
}

/// The scheduler state of thread `tid` of this process ('R' running, 'S' sleeping, ...),
/// from /proc/self/task/<tid>/stat; '?' if it cannot be read.
inline char thread_state(long tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return '?';
  char buf[512] = {};
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  // "tid (comm) S ...": the state follows the last ')' (comm may contain spaces).
  for (std::size_t i = n; i-- > 0;)
    if (buf[i] == ')') return i + 2 < n ? buf[i + 2] : '?';
  return '?';
}

/// Runs `f` on a new thread; join() fails loudly (abort) if it has not finished in kBound
/// (context_test_support.hpp).
using context_test::BoundedThread;

}  // namespace concurrency_test
