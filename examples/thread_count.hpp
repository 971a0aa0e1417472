// thread_count.hpp — how the examples show that they leave no thread behind.
//
// thread_count() counts this process's threads (/proc/self/task). An example takes it once
// its first deadline is armed (tether's shared timer thread, started by the first deadline,
// lives as long as the process: it is not a leak), does its work, joins what it started,
// and prints leaked_threads(before) — which must be 0.
#pragma once

#include <dirent.h>

#include <chrono>
#include <cstddef>
#include <thread>

namespace example {

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

/// Threads alive now beyond `before`. Everything has been joined by the caller; a joined
/// thread may keep its /proc entry for a moment after pthread_join returns, so this waits
/// (bounded, 2 s) for the kernel to drop it.
inline std::size_t leaked_threads(std::size_t before) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (thread_count() > before && std::chrono::steady_clock::now() < until) {
    std::this_thread::yield();
  }
  std::size_t now = thread_count();
  return now > before ? now - before : 0;
}

}  // namespace example
