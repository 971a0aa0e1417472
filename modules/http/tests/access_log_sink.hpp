// Collects the server's access-log records so tests can wait for them instead of sleeping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <vector>

#include "tether/http.hpp"

namespace tether_test {

class AccessLogSink {
 public:
  tether::http::AccessLog sink() {
    return [this](const tether::http::AccessLogEntry& e) {
      {
        std::lock_guard lock(mu_);
        entries_.push_back(e);
      }
      cv_.notify_all();
    };
  }
  /// The n-th record (1-based), waiting up to `timeout` for it.
  std::optional<tether::http::AccessLogEntry> wait_for(
      std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return entries_.size() >= n; })) return std::nullopt;
    return entries_[n - 1];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<tether::http::AccessLogEntry> entries_;
};

/// Default server options whose access log goes to `log`.
inline tether::http::ServerOptions options_with(AccessLogSink& log) {
  tether::http::ServerOptions o;
  o.access_log = log.sink();
  return o;
}

}  // namespace tether_test
