// demo_service.hpp — a running tether-demo, as the tour and the demo tests drive it.
//
// Starts the executable with the given flags (always `--port 0`: the kernel picks a free
// port, the service reports it), waits — bounded — for its first log line
// {"msg":"listening","port":…,"activity_port":…,"pid":…}, and keeps reading its log:
//
//   DemoService demo({.program = "build/demo/tether-demo", .args = {"--data-dir", dir}});
//   Fetched r = fetch(demo.port(), "/users/42", 5s);
//   demo.process().signal(SIGTERM);
//
// If the service exits or stays silent before "listening", the constructor throws
// std::runtime_error with the last lines of its stdout and stderr. The destructor kills a
// service that is still running. Thread safety: log() may be used from any thread; the rest
// from one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "service_log.hpp"
#include "tether/harness/process.hpp"
#include "tether/http.hpp"
#include "tether/propagation.hpp"

namespace tether::demo_tour {

// The process helpers the tour shares with the tests (harness/, docs/design.md).
using harness::ChildProcess;
using harness::describe_wait_status;
using harness::exited_cleanly;

struct DemoServiceOptions {
  std::string program;            ///< path of tether-demo
  std::vector<std::string> args;  ///< flags besides --port 0
  std::string log_path;           ///< mirror of its stdout (empty: none)
  std::string stderr_path;        ///< its stderr (empty: ours)
  std::chrono::milliseconds start_timeout{std::chrono::seconds(180)};
};

class DemoService {
 public:
  explicit DemoService(DemoServiceOptions options);
  DemoService(const DemoService&) = delete;
  DemoService& operator=(const DemoService&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  std::uint16_t activity_port() const noexcept { return activity_port_; }
  const ServiceLog& log() const noexcept { return *log_; }
  ChildProcess& process() noexcept { return process_; }
  /// The "listening" line.
  const LogLine& listening() const noexcept { return listening_; }
  /// The last lines of the service's stderr file (empty if it went to ours).
  std::string stderr_tail(std::size_t lines) const;

 private:
  DemoServiceOptions options_;
  ChildProcess process_;
  std::unique_ptr<ServiceLog> log_;
  LogLine listening_;
  std::uint16_t port_ = 0;
  std::uint16_t activity_port_ = 0;
};

/// The outcome of one call made with tether::http::Client, and how long it took.
struct Fetched {
  tether::Result<http::Response, http::Error> result;
  std::chrono::duration<double, std::milli> elapsed{0};

  /// The response that arrived, whatever the call's verdict (a 504 fails the call and keeps
  /// its response in the error); nullptr when none did.
  const http::Response* response() const noexcept { return http::response_of(result); }
  /// The status that arrived; 0 when no response did.
  int status() const noexcept { return response() ? response()->status : 0; }
  /// The body that arrived; empty when no response did.
  std::string body() const { return response() ? response()->body : std::string(); }
  /// Why the call failed, for the tour's report; empty when it succeeded.
  std::string why() const { return result ? std::string() : result.error().message; }
};

/// GET http://127.0.0.1:<port><target> with tether::http::Client under a `timeout` context
/// (which the client also sends as grpc-timeout, minus its margin). With `trace`, the request
/// carries a traceparent in that trace.
Fetched fetch(std::uint16_t port, std::string_view target, std::chrono::milliseconds timeout,
              const std::optional<TraceContext>& trace = std::nullopt, http::Headers headers = {});

/// Like fetch() but the context has no deadline (so the client sends no grpc-timeout and the
/// caller's own headers stand); it is cancelled after `bound` all the same.
Fetched fetch_without_deadline(std::uint16_t port, std::string_view target,
                               std::chrono::milliseconds bound, http::Headers headers);

/// A "traceparent" value for `trace`.
std::string traceparent_of(const TraceContext& trace);

}  // namespace tether::demo_tour
