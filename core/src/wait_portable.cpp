// Portable waiting (-DTETHER_PORTABLE=ON): what the futex and the eventfd do on Linux, with
// standard C++ and POSIX pipes only.
//
// A sleeper on a word locks the word's bucket (a mutex/condition-variable pair chosen by
// address), checks the word and waits on the condition variable; a waker changes the word
// first (the callers do), then locks and unlocks the bucket and notifies every sleeper on
// it. A sleeper that checked before the change is already waiting when the notification
// comes, so no wake-up is lost; one that checks after sees the new value. Sleepers on other
// words of the same bucket wake spuriously and re-check, as futex callers must anyway.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <system_error>

#include "internal/futex.hpp"

namespace tether::internal {
namespace {

struct alignas(64) Bucket {
  std::mutex mu;
  std::condition_variable cv;
};

Bucket& bucket_of(const void* word) noexcept {
  static std::array<Bucket, 64> table;
  return table[std::hash<const void*>{}(word) % table.size()];
}

void set_flags(int fd) {
  if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
    throw std::system_error(errno, std::generic_category(), "fcntl");
}

}  // namespace

bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, std::uint32_t,
                std::int64_t deadline_ns) noexcept {
  Bucket& b = bucket_of(&word);
  std::unique_lock lock(b.mu);
  if (word.load(std::memory_order_seq_cst) != expected) return true;
  if (deadline_ns == INT64_MAX) {
    b.cv.wait(lock);
    return true;
  }
  const std::chrono::steady_clock::time_point deadline{std::chrono::nanoseconds(deadline_ns)};
  return b.cv.wait_until(lock, deadline) == std::cv_status::no_timeout;
}

void futex_wake(std::atomic<std::uint32_t>& word, std::uint32_t, int) noexcept {
  Bucket& b = bucket_of(&word);
  { std::lock_guard lock(b.mu); }
  b.cv.notify_all();
}

NotifierFds open_notifier() {
  int fds[2];
  if (::pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  try {
    set_flags(fds[0]);
    set_flags(fds[1]);
  } catch (...) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw;
  }
  return {fds[0], fds[1]};
}

void signal_notifier(NotifierFds fds) noexcept {
  const char byte = 1;
  [[maybe_unused]] auto n = ::write(fds.write, &byte, 1);
}

void close_notifier(NotifierFds fds) noexcept {
  ::close(fds.read);
  ::close(fds.write);
}

}  // namespace tether::internal
