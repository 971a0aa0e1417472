// Helpers for the concurrency_*_test.cpp tests (Channel, Group, sync, signals, ...).
//
// Nothing here sleeps to wait for an event that can be awaited: every wait is bounded by
// kBound so a deadlock fails the test instead of hanging ctest.
#pragma once

#include <dirent.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>
#include <utility>

#include "tether/context.hpp"

namespace concurrency_test {

using namespace std::chrono_literals;

/// How long a test waits for something that must happen promptly before calling it a hang.
inline constexpr std::chrono::seconds kBound{10};

/// The number of threads of this process (entries of /proc/self/task).
inline std::size_t thread_count() {
  std::size_t n = 0;
  if (DIR* dir = ::opendir("/proc/self/task")) {
    while (const dirent* e = ::readdir(dir)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(dir);
  }
  return n;
}

/// Starts tether's shared timer thread (it starts with the first armed deadline and then
/// lives as long as the process), so that a thread count taken afterwards is a baseline
/// that only the code under test can change.
inline std::size_t thread_baseline() {
  { auto [ctx, cancel] = tether::with_timeout(tether::background(), std::chrono::hours(1)); }
  return thread_count();
}

/// True once the thread count is at most `n`. pthread_join returns when the thread has
/// cleared its tid, a moment before the kernel drops its /proc/self/task entry, so this
/// polls (yielding) for that last step only; everything else has been joined already.
inline bool threads_settle_to(std::size_t n) {
  const auto until = std::chrono::steady_clock::now() + kBound;
  while (thread_count() > n) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::yield();
  }
  return true;
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

/// Runs `f` on a new thread; join() fails loudly (abort) if it has not finished in kBound.
class BoundedThread {
 public:
  template <class F>
  explicit BoundedThread(F&& f) {
    finished_ = done_.get_future();
    thread_ = std::thread([this, fn = std::forward<F>(f)]() mutable {
      fn();
      done_.set_value();
    });
  }
  BoundedThread(const BoundedThread&) = delete;
  BoundedThread& operator=(const BoundedThread&) = delete;
  ~BoundedThread() { join(); }

  /// True if the function returned within `bound` (waits at most that long).
  bool finished_within(std::chrono::steady_clock::duration bound) {
    return finished_.wait_for(bound) == std::future_status::ready;
  }
  void join() {
    if (!thread_.joinable()) return;
    if (!finished_within(kBound)) {
      std::fprintf(stderr, "HANG: a test thread did not finish within %lld s\n",
                   static_cast<long long>(kBound.count()));
      std::abort();
    }
    thread_.join();
  }

 private:
  std::promise<void> done_;
  std::future<void> finished_;
  std::thread thread_;
};

}  // namespace concurrency_test
