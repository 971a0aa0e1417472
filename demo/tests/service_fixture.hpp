// The demo service's tests start the real service in-process (tether_demo::Service) on
// 127.0.0.1 with port 0, real SQLite files in a fresh temporary directory, and a log sink
// that keeps every line so a test can wait for the line it expects instead of sleeping.
//
// Every wait is bounded (kBound): a broken service fails a test, it never hangs it.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "log.hpp"
#include "options.hpp"
#include "service.hpp"
#include "tether/context.hpp"
#include "tether/http.hpp"
#include "tether/propagation.hpp"

namespace tether_demo_test {

using namespace std::chrono_literals;
using Json = nlohmann::json;

inline constexpr auto kBound = std::chrono::seconds(20);

/// Keeps the service's log lines (JSON), and lets a test wait for one.
class LogCapture {
 public:
  tether_demo::Log::Sink sink() {
    return [this](std::string_view line) {
      Json j = Json::parse(line, nullptr, false);
      {
        std::lock_guard lock(mu_);
        lines_.push_back(std::move(j));
      }
      cv_.notify_all();
    };
  }

  /// The first line (in order) matching `pred`, waiting up to kBound for it.
  std::optional<Json> wait_for(const std::function<bool(const Json&)>& pred) {
    std::unique_lock lock(mu_);
    std::optional<Json> found;
    cv_.wait_for(lock, kBound, [&] {
      for (const Json& j : lines_)
        if (pred(j)) {
          found = j;
          return true;
        }
      return false;
    });
    return found;
  }

  /// The line with msg `msg` whose `key` equals `value` (e.g. source == "profile") and
  /// whose trace_id is `trace`.
  std::optional<Json> wait_for_msg(const std::string& msg, const std::string& trace,
                                   const std::string& key = "", const Json& value = nullptr) {
    return wait_for([&](const Json& j) {
      return j.value("msg", "") == msg && j.value("trace_id", "") == trace &&
             (key.empty() || (j.contains(key) && j[key] == value));
    });
  }

  std::vector<Json> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Json> lines_;
};

/// A temporary directory, removed with its content.
class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "tether-demo-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Options for a test service: any free ports, 1000 users, a few workers.
inline tether_demo::Options test_options(const std::string& data_dir) {
  tether_demo::Options o;
  o.port = 0;
  o.activity_port = 0;
  o.data_dir = data_dir;
  o.users = 1000;
  o.workers = 4;
  o.timeout = std::chrono::milliseconds(10'000);
  return o;
}

/// `ctx` carrying trace `trace_id` (32 hex digits), so that tether::http::Client sends it
/// in its traceparent; `ctx` itself when trace_id is empty.
inline tether::Context with_trace(const tether::Context& ctx, const std::string& trace_id) {
  if (trace_id.empty()) return ctx;
  auto trace = tether::parse_traceparent("00-" + trace_id + "-00f067aa0ba902b7-01");
  if (!trace) throw std::invalid_argument("not a trace id: " + trace_id);
  return tether::with_value(ctx, tether::trace_key, *trace);
}

/// Sends `request` (the exact bytes: headers as the test writes them) to 127.0.0.1:port
/// and returns the status code of the answer, 0 if none came within kBound.
inline int raw_status(std::uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    pollfd p{fd, POLLIN, 0};
    while (answer.find("\r\n") == std::string::npos &&
           ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kBound).count())) > 0) {
      char buf[1024];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      answer.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  // "HTTP/1.1 504 Gateway Timeout"
  if (answer.size() < 12 || answer.compare(0, 5, "HTTP/") != 0) return 0;
  return std::atoi(answer.c_str() + 9);
}

/// A running service with its log captured.
class RunningService {
 public:
  explicit RunningService(tether_demo::Options options)
      : log_(tether_demo::LogFormat::json, capture.sink()),
        service_(std::make_unique<tether_demo::Service>(std::move(options), log_)) {
    auto [ctx, cancel] = tether::with_timeout(tether::background(), kBound);
    service_->start(ctx);
  }

  tether_demo::Service& service() { return *service_; }
  std::string url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(service_->port()) + target;
  }
  /// GET target, bounded by kBound; in trace `trace_id` when given (the client sends it
  /// as traceparent, as it would for a request it makes on behalf of that trace).
  tether::Result<tether::http::Response, tether::http::Error> get(
      const std::string& target, const std::string& trace_id = "") const {
    auto [ctx, cancel] = tether::with_timeout(tether::background(), kBound);
    return client_.get(with_trace(ctx, trace_id), url(target));
  }
  /// GET target and parse the body as JSON (null when it is not JSON).
  std::pair<int, Json> get_json(const std::string& target, const std::string& trace_id = "") {
    auto r = get(target, trace_id);
    // A 504 fails the call (deadline_exceeded) but keeps the response: report its status.
    const tether::http::Response* answer = tether::http::response_of(r);
    if (!answer) return {0, Json(r.error().message)};
    return {answer->status, Json::parse(answer->body, nullptr, false)};
  }

  LogCapture capture;

 private:
  tether_demo::Log log_;
  std::unique_ptr<tether_demo::Service> service_;
  tether::http::Client client_;
};

/// Polls `pred` until it holds, at most kBound; for states no event announces (a request
/// whose sources are all running). Returns whether it held.
inline bool eventually(const std::function<bool()>& pred) {
  const auto until = std::chrono::steady_clock::now() + kBound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

}  // namespace tether_demo_test
