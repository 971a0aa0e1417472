// activity_service.hpp — the "recent activity" service the demo calls over HTTP.
//
// The tutorials' service merges three sources; one of them lives in another process and is
// reached with an HTTP call. For `tether-demo` to work with nothing installed, that service
// runs in-process, on its own loopback port and its own tether::http::Server — the demo
// reaches it only through a real socket, so everything a remote call does happens: the
// deadline travels as grpc-timeout, the trace as traceparent, and when the demo's context
// ends, tether::http::Client closes the connection and this server cancels the handler's
// context ("client disconnected").
//
//   GET /activity/{id}[?latency_ms=N&fail=0|1]
//     200 [{"kind":"view","item":"item-1234","minutes_ago":7}, ...]   (5 events, a pure
//         function of the id), 404 for an id outside 1..users, 400 for a bad parameter,
//         503 {"error":"injected failure in activity"} when fail=1.
//   latency_ms: the handler, a coroutine on the server's I/O threads, waits on its own
//   request context for that long — tether::asio::sleep_for(ctx, latency), holding no
//   thread — so the wait ends the moment the caller hangs up or the propagated deadline
//   passes; the server then answers nothing (499) or 504.
//
// Each finished request is logged as msg "activity request" with "status", "cause" (e.g.
// "client disconnected") and "trace_id" (the caller's trace: the demo's request).
//
// Thread safety: as tether::http::Server — configure and start from one thread; port() and
// shutdown() from any.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "error.hpp"
#include "log.hpp"
#include "tether/context.hpp"
#include "tether/http.hpp"

namespace tether_demo {

class ActivityService {
 public:
  ActivityService(Log& log, std::uint16_t port, unsigned workers, std::int64_t users);

  /// Binds and starts. Throws std::system_error if the port is taken.
  void start();
  std::uint16_t port() const noexcept { return server_.port(); }
  /// Graceful stop, as tether::http::Server::shutdown.
  std::error_code shutdown(const tether::Context& grace) { return server_.shutdown(grace); }

 private:
  boost::asio::awaitable<tether::http::Response> handle(tether::Context ctx,
                                                        const tether::http::Request& req);

  std::int64_t users_;
  tether::http::Server server_;
};

/// The query of GET /activity/{id}: latency_ms (0..3600000) and fail (0 or 1).
struct ActivityQuery {
  std::chrono::milliseconds latency{0};
  bool fail = false;
};
/// Parses it; errc::bad_query (message for the 400 body) on a bad value.
Result<ActivityQuery> parse_activity_query(std::string_view query);

/// The 5 recent events of user `id` (what the service answers).
nlohmann::ordered_json activity_events(std::int64_t id);

}  // namespace tether_demo
