// Helpers of tether::debug's tests: a raw client that can hang up, an access log that
// counts (and can be waited on), a one-shot signal, the traceparent header of a trace.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>

#include "tether/http.hpp"
#include "tether/propagation.hpp"

namespace tether_debug_test {

inline constexpr std::chrono::seconds kBound{60};
inline const tether::Key<std::string> step_key{"step"};

/// The traceparent header value of `t` (a sampled span of its trace).
inline std::string traceparent_of(const tether::TraceContext& t) {
  return tether::format_traceparent(t);
}

/// A blocking TCP client on 127.0.0.1 that sends bytes and hangs up.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect failed");
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  void send(const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      sent += static_cast<std::size_t>(n);
    }
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

/// Set once; waited on with a bound.
class Signal {
 public:
  void notify() {
    std::lock_guard lock(mu_);
    set_ = true;
    cv_.notify_all();
  }
  bool wait(std::chrono::seconds bound) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return set_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

/// Counts access-log records; wait_for_count() waits until at least n were written.
class AccessLogCount {
 public:
  tether::http::AccessLog sink() {
    return [this](const tether::http::AccessLogEntry&) {
      std::lock_guard lock(mu_);
      ++count_;
      cv_.notify_all();
    };
  }
  bool wait_for_count(std::size_t n, std::chrono::seconds bound) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return count_ >= n; });
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return count_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t count_ = 0;
};

}  // namespace tether_debug_test
