// service.hpp — the whole demo service, assembled: what main() runs and what tests start.
//
//   tether_demo::Log log(LogFormat::json);
//   tether_demo::Service service(options, log);
//   service.start(ctx);                 // seeds (bounded by ctx), binds, starts threads
//   log.info("listening", {{"port", service.port()}, ...});
//   ...
//   auto [grace, cancel] = tether::with_timeout(tether::background(), 5s);
//   Service::StopReport report = service.shutdown(grace);
//
// Parts: the data (seed.hpp), the three sources (sources.hpp, pg_preferences.hpp), the
// in-process activity service (activity_service.hpp) or, with --activity-grpc, a client of
// the gRPC one in another process (grpc_activity.hpp), the task pool the sources run on,
// the metrics, and one tether::http::Server with the routes
//   GET /users/{id}          users_endpoint.hpp
//   GET /debug/...           tether::debug (tether/debug.hpp): live trees, history, timelines
//   GET /metrics             metrics.hpp
//   GET /healthz             "ok"
// Every finished request is logged (msg "request") and counted from the server's access
// log.
//
// Shutdown: shutdown(grace) stops accepting, lets the requests in flight finish until
// `grace` ends (then they are cancelled with cause "server shutdown"), then stops the
// activity service the same way. The report counts what happened to the requests that
// were in flight when it began.
//
// Thread safety: start() and shutdown() from one thread (not from a handler); the
// accessors from any thread after start().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "log.hpp"
#include "metrics.hpp"
#include "options.hpp"
#include "tether/context.hpp"

namespace tether::http {
struct AccessLogEntry;
class Server;
}  // namespace tether::http

namespace tether_demo {

class Service {
 public:
  Service(Options options, Log& log);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  /// Prepares the data (seeding if needed, bounded by `ctx`), starts the activity service
  /// and the HTTP server. Throws std::runtime_error saying what failed.
  void start(const tether::Context& ctx);

  std::uint16_t port() const noexcept;
  std::uint16_t activity_port() const noexcept;
  Metrics& metrics() noexcept { return metrics_; }
  /// Lines for the log once "listening" is out: how the data was prepared.
  const std::vector<Fields>& start_notes() const noexcept { return notes_; }

  struct StopReport {
    std::int64_t in_flight = 0;            ///< /users requests in flight when it began
    std::int64_t in_flight_completed = 0;  ///< requests answered after it began
    std::int64_t dropped = 0;              ///< cancelled by it (cause "server shutdown")
    std::int64_t client_left = 0;          ///< ended by their client meanwhile (499)
    std::error_code error;                 ///< grace's error if it ran out, else empty
  };
  /// Graceful stop; see the header comment. Blocks until every handler returned.
  StopReport shutdown(const tether::Context& grace);

  struct Parts;

 private:
  // start()'s steps, in order: each fills its Parts (and notes_) or throws.
  void start_profiles(const tether::Context& ctx);     // seeds profiles.db
  void start_preferences(const tether::Context& ctx);  // SQLite, or --postgres
  void start_activity();                               // in-process, or --activity-grpc
  void start_server();                                 // binds the routes' server
  void add_routes(tether::http::Server& server);
  void on_request_finished(const tether::http::AccessLogEntry& entry);

  Options options_;
  Log& log_;
  Metrics metrics_;
  std::vector<Fields> notes_;
  std::atomic<bool> draining_{false};
  std::atomic<std::int64_t> completed_{0}, dropped_{0}, client_left_{0};
  std::unique_ptr<Parts> parts_;
};

}  // namespace tether_demo
