// Thin wrappers over Linux futexes on a 32-bit atomic word.
//
// Two kinds of sleepers share a CancelNode's state word, told apart by futex bitsets so
// that waking one kind never steals the wake-up of the other.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <ctime>

namespace tether::internal {

inline constexpr std::uint32_t kLockBitset = 1;  // sleepers on the node lock
inline constexpr std::uint32_t kDoneBitset = 2;  // sleepers waiting for done / settled

/// Sleeps while *word == expected, until woken for `bitset` or until the absolute
/// CLOCK_MONOTONIC time `deadline_ns` (INT64_MAX: no limit). Returns false on timeout.
inline bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       std::uint32_t bitset, std::int64_t deadline_ns = INT64_MAX) noexcept {
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

inline void futex_wake(std::atomic<std::uint32_t>& word, std::uint32_t bitset,
                       int count = INT_MAX) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word),
          FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, count, nullptr, nullptr, bitset);
}

}  // namespace tether::internal
