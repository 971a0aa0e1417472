// Sleeping on a 32-bit atomic word, and descriptors that become readable when signalled.
//
// Linux builds use futexes and eventfd (inline here and in wait_linux.cpp). Two kinds of
// sleepers share a CancelNode's state word, told apart by futex bitsets so that waking one
// kind never steals the wake-up of the other. Portable builds (-DTETHER_PORTABLE=ON, defines
// TETHER_PORTABLE_WAIT) use a table of mutex/condition-variable pairs keyed by the word's
// address and a pipe (wait_portable.cpp): wakes are broader (every sleeper on the bucket),
// which callers already tolerate, since every wait may return spuriously.
#pragma once

#if !TETHER_PORTABLE_WAIT
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <ctime>

#if defined(__SANITIZE_THREAD__)
#define TETHER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TETHER_TSAN 1
#endif
#endif
#ifndef TETHER_TSAN
#define TETHER_TSAN 0
#endif

namespace tether::internal {

inline constexpr std::uint32_t kLockBitset = 1;  // sleepers on the node lock
inline constexpr std::uint32_t kDoneBitset = 2;  // sleepers waiting for done / settled

/// The two ends of a descriptor that becomes readable once signalled: Done::fd()'s. Both
/// are one eventfd on Linux; a non-blocking pipe in portable builds.
struct NotifierFds {
  int read;
  int write;
};
/// Opens one (close-on-exec, non-blocking). Throws std::system_error when out of descriptors.
NotifierFds open_notifier();
/// Makes the read end readable (for good: nothing ever reads it). Async-signal-safe.
void signal_notifier(NotifierFds fds) noexcept;
void close_notifier(NotifierFds fds) noexcept;

#if TETHER_PORTABLE_WAIT
/// Sleeps while `word == expected`, until woken or until the absolute steady-clock time
/// `deadline_ns` (INT64_MAX: no limit). Returns false on timeout. May return spuriously.
bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, std::uint32_t bitset,
                std::int64_t deadline_ns = INT64_MAX) noexcept;
/// Wakes the sleepers on `word` (all of them, whatever `bitset` and `count` say).
void futex_wake(std::atomic<std::uint32_t>& word, std::uint32_t bitset,
                int count = INT_MAX) noexcept;
#else

/// The futex system call itself: see futex_wait.
inline bool futex_wait_raw(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                           std::uint32_t bitset, std::int64_t deadline_ns) noexcept {
  timespec ts{};
  timespec* tsp = nullptr;
  if (deadline_ns != INT64_MAX) {
    ts.tv_sec = static_cast<time_t>(deadline_ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(deadline_ns % 1'000'000'000);
    tsp = &ts;
  }
  long rc = syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word),
                    FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, tsp, nullptr, bitset);
  return !(rc == -1 && errno == ETIMEDOUT);
}

/// Sleeps while *word == expected, until woken for `bitset` or until the absolute
/// CLOCK_MONOTONIC time `deadline_ns` (INT64_MAX: no limit). Returns false on timeout.
/// May return early (spuriously): callers re-check their condition.
inline bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       std::uint32_t bitset, std::int64_t deadline_ns = INT64_MAX) noexcept {
#if TETHER_TSAN
  // ThreadSanitizer defers a signal that arrives on a thread outside an intercepted
  // blocking call and runs its handler at the next intercepted call; a raw futex is not
  // one, and SA_RESTART resumes it, so a handler would never run on a thread parked here
  // (signal_context would never fire). Under TSan only: wake at least every 10 ms and make
  // an intercepted blocking call (nanosleep), which runs the deferred handlers.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const std::int64_t slice = std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec + 10'000'000;
  const bool woken = futex_wait_raw(word, expected, bitset, std::min(deadline_ns, slice));
  const timespec zero{};
  nanosleep(&zero, nullptr);
  return woken || deadline_ns > slice;
#else
  return futex_wait_raw(word, expected, bitset, deadline_ns);
#endif
}

inline void futex_wake(std::atomic<std::uint32_t>& word, std::uint32_t bitset,
                       int count = INT_MAX) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word),
          FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, count, nullptr, nullptr, bitset);
}
#endif  // TETHER_PORTABLE_WAIT

}  // namespace tether::internal
