// Helpers shared by the context_*_test.cpp behaviour tests of tether's core.
//
// Nothing here sleeps: threads are sequenced with promises and latches, and every wait is
// bounded by kHangBound so a deadlock fails the test instead of hanging ctest.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "tether/context.hpp"

namespace context_test {

/// How long a test waits for something that must happen promptly before calling it a hang.
inline constexpr std::chrono::seconds kHangBound{10};

/// A thread whose join is bounded: if it has not finished within kHangBound, the process
/// aborts with a message naming it (a deadlock must fail loudly, not hang the suite).
class BoundedThread {
 public:
  template <class F>
  explicit BoundedThread(F&& f) : BoundedThread("test thread", std::forward<F>(f)) {}
  template <class F>
  BoundedThread(const char* name, F&& f) : name_(name) {
    finished_ = done_.get_future();
    thread_ = std::thread([this, fn = std::forward<F>(f)]() mutable {
      fn();
      done_.set_value();
    });
  }
  BoundedThread(const BoundedThread&) = delete;
  BoundedThread& operator=(const BoundedThread&) = delete;
  ~BoundedThread() { join(); }

  /// True if the thread's function returned within `bound` (never waits longer).
  template <class Rep, class Period>
  bool finished_within(std::chrono::duration<Rep, Period> bound) {
    return finished_.wait_for(bound) == std::future_status::ready;
  }

  void join() {
    if (!thread_.joinable()) return;
    if (!finished_within(kHangBound)) {
      std::fprintf(stderr, "HANG: thread '%s' did not finish within %lld s; aborting\n", name_,
                   static_cast<long long>(kHangBound.count()));
      std::abort();
    }
    thread_.join();
  }

 private:
  const char* name_;
  std::promise<void> done_;
  std::future<void> finished_;
  std::thread thread_;
};

/// Polls `pred` (yielding between polls) until it holds or `bound` passes; returns pred().
/// For state that has no waitable signal (e.g. cause() racing a cancel on another thread).
template <class Pred>
bool eventually(Pred pred, std::chrono::steady_clock::duration bound = kHangBound) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until) return pred();
    std::this_thread::yield();
  }
  return true;
}

/// A random seed for stress tests: TETHER_TEST_SEED if set (to replay a failure), else
/// std::random_device. The caller prints it (SCOPED_TRACE + stdout).
inline unsigned test_seed() {
  if (const char* s = std::getenv("TETHER_TEST_SEED")) return static_cast<unsigned>(std::stoul(s));
  return std::random_device{}();
}

/// Counts its own destruction, to prove a value stored in a context is destroyed exactly
/// once, and only when the last handle drops. Move-only; a moved-from probe counts nothing.
class DestructionProbe {
 public:
  explicit DestructionProbe(std::atomic<int>* destroyed) noexcept : destroyed_(destroyed) {}
  DestructionProbe(DestructionProbe&& o) noexcept
      : destroyed_(std::exchange(o.destroyed_, nullptr)) {}
  DestructionProbe(const DestructionProbe&) = delete;
  DestructionProbe& operator=(const DestructionProbe&) = delete;
  DestructionProbe& operator=(DestructionProbe&&) = delete;
  ~DestructionProbe() {
    if (destroyed_ != nullptr) destroyed_->fetch_add(1);
  }

 private:
  std::atomic<int>* destroyed_;
};

/// True if `s` matches `pattern`, where '*' matches any run of characters (possibly empty)
/// and every other character matches itself. (std::regex trips a GCC 12 false-positive
/// -Wmaybe-uninitialized under -O2 with sanitizers, so describe() checks use this.)
inline bool glob_match(std::string_view pattern, std::string_view s) {
  std::size_t p = 0, i = 0, star = std::string_view::npos, resume = 0;
  while (i < s.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = i;
    } else if (p < pattern.size() && pattern[p] == s[i]) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

/// A cause with an application error code and a message, easy to tell apart in asserts.
inline tether::Cause make_cause(std::errc code, const char* message) {
  return tether::Cause(std::make_error_code(code), message);
}

}  // namespace context_test
