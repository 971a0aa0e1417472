// <tether/harness/threads.hpp> — counting a process's threads, to show that code under test
// (an example, a test, a child service) leaves none behind.
//
//   const std::size_t before = tether::harness::thread_count();
//   run_the_example();                     // joins everything it started
//   std::printf("leaked threads: %zu\n", tether::harness::threads_beyond(before, 2s));
//
// Take the baseline after tether's shared timer thread has started (the first armed
// deadline starts it; it lives as long as the process: not a leak).
//
// Thread safety: every function may be called from any thread. What blocks:
// threads_beyond() polls (yielding) for up to `bound`; the others read /proc once.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>

namespace tether::harness {

/// The number of threads of this process (the entries of /proc/self/task).
std::size_t thread_count();

/// The number of threads of process `pid` (the Threads: line of /proc/PID/status), or
/// nullopt if it cannot be read (no such process).
std::optional<int> thread_count_of(pid_t pid);

/// How many threads this process has beyond `baseline`, once they have settled: the caller
/// has joined its threads, but pthread_join returns a moment before the kernel drops the
/// thread's /proc entry, so this polls (yielding) until the count is at most `baseline` or
/// `bound` has passed. 0 means nothing leaked.
std::size_t threads_beyond(std::size_t baseline, std::chrono::milliseconds bound);

}  // namespace tether::harness
