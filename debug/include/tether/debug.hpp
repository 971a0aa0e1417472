// tether/debug.hpp — the context debug view a service mounts, as Go users mount
// net/http/pprof: what every request is waiting on now, and how recent ones ended.
//
// One call puts the routes on a tether::http server (before start()):
//
//   tether::http::Server server(tether::background(), {.port = 8080});
//   server.route("GET", "/users/{id}", [](const tether::Context& ctx, const tether::http::Request&
//   r) {
//     auto tracked = tether::debug::track_request(ctx, r);  // this request shows up in the views
//     ...
//   });
//   tether::debug::mount(server);                           // GET /debug/contexts, ...
//   server.start();
//
// A service whose traffic is gRPC (or anything else) serves the same views from a side port:
//
//   tether::debug::SidePort debug(tether::background(), {.port = 6060});  // 127.0.0.1:6060
//
// The routes (under Options::prefix, "/debug" by default):
//   GET /debug/contexts          the page: live trees, history with filters, timelines. Static
//                                HTML/CSS/JS compiled into the library (debug/web/), rendering
//                                from the JSON below; no build step, nothing fetched from
//                                elsewhere.
//   GET /debug/contexts.json     live: tether::registry::to_json(snapshot()); with
//                                tracking off, {"contexts":[],"registry":"off"}
//   GET /debug/history.json      finished requests (tether::registry::history_to_json), newest
//                                first, filtered by ?trace_id= ?status= ?cause= (substring),
//                                ?sort=slowest, ?limit=
//   GET /debug/timeline.svg?id=N one finished request as an SVG timeline (timeline_svg()); or
//                                ?trace_id=
//   GET /debug/metrics           Prometheus text about contexts (metrics_text())
// Every answer carries Cache-Control: no-store. The routes are coroutines that never block
// (a snapshot takes brief locks), so they answer while every worker is busy.
//
// What shows up: contexts tracked with tether::registry (track_request() does it for an HTTP
// request, under the label "GET /path"). Tracking is off until mount() (or
// tether::registry::enable) turns it on; off, a handler's track_request() is one relaxed
// atomic load. History keeps the last Options::history finished requests
// (tether::registry::set_history): the memory is bounded by that count and by 512 contexts
// per request.
//
// Security: the views show labels, context values and causes — what a service keeps in
// its contexts. Mount them on a port only operators reach (SidePort binds 127.0.0.1 by
// default), as one would pprof.
//
// Thread safety: mount() before the server starts, from the thread that configures it;
// everything else may be called from any thread. What blocks: nothing waits for work; the
// renderers take the registry's locks briefly. SidePort's constructor binds and starts a
// server; shutdown() blocks as http::Server::shutdown does.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include "tether/context.hpp"
#include "tether/http.hpp"
#include "tether/registry.hpp"

namespace tether::debug {

struct Options {
  /// The routes' common prefix: "/debug" serves /debug/contexts, ...
  std::string prefix = "/debug";
  /// Finished requests kept (tether::registry::set_history, called by mount()); 0 keeps none.
  std::size_t history = 256;
  /// mount() turns tracking on (tether::registry::enable(true)) unless this is false: then
  /// the caller decides (a service with a --registry off switch).
  bool enable_tracking = true;
};

/// Adds the debug routes to `server` (call before server.start()), sets the history bound
/// and turns tracking on (see Options). Throws what http::Server::route throws for a
/// prefix that is not a path ("/debug", not "debug/").
void mount(http::Server& server, const Options& options = {});

/// Tracks a request's context under the label "METHOD /path" (the target without its
/// query). Empty (and one relaxed load) when tracking is off.
[[nodiscard]] registry::Tracked track_request(const Context& ctx, const http::Request& request);

/// An access log that records each request's status on its history entry — the newest one
/// with the request's trace id (tether::registry::annotate) — and then calls `next` (which
/// may be empty). The status filter of /debug/history.json reads it.
http::AccessLog recording_status(http::AccessLog next);

/// Prometheus text exposition (version 0.0.4) of tether::registry::stats():
///   tether_tracked_contexts                 gauge: tracked requests in flight
///   tether_observed_contexts                gauge: contexts alive in their trees
///   tether_tracked_finished_total           counter
///   tether_context_cancellations_total{cause="…"}  counter: contexts of tracked trees
///                                           cancelled, by cause
///   tether_deadline_left_seconds            histogram: deadline left when tracking began
std::string metrics_text();

/// One finished request as an SVG timeline: a bar per context from its creation to its
/// end on a shared time axis, indented under its parent, coloured by how it ended (done or
/// released: green, cancelled: red, deadline exceeded: orange, alive when the request
/// finished: blue, drawn to the end of the axis), its deadline marked by a vertical tick,
/// its cause in the bar's tooltip. Each bar is <rect class="bar STATE" data-cause="…">.
std::string timeline_svg(const registry::Finished& finished);

/// A small HTTP server of its own serving only the debug routes, for services whose
/// traffic is not tether::http. Binds at construction (throws std::system_error if it
/// cannot); stops at shutdown() or destruction.
class SidePort {
 public:
  struct Config {
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;  ///< 0: any free port (see port())
    Options debug;
  };
  SidePort(const Context& base, Config config);
  SidePort(const SidePort&) = delete;
  SidePort& operator=(const SidePort&) = delete;

  /// The port bound.
  std::uint16_t port() const noexcept { return server_.port(); }
  /// Stops the server (http::Server::shutdown). Blocks until its requests end or `ctx` is
  /// done.
  std::error_code shutdown(const Context& ctx) { return server_.shutdown(ctx); }

 private:
  http::Server server_;
};

}  // namespace tether::debug
