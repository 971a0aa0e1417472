// users_endpoint.hpp — GET /users/{id}: the tutorials' assembleResponse, on tether.
//
//   profile (critical) ─┐
//   preferences ────────┼─ in parallel under the request's context → merged JSON
//   activity ───────────┘
//
// The request context comes from tether::http::Server: its deadline is the route's timeout
// (--timeout, default 500 ms) or shorter if the caller sent grpc-timeout; it is cancelled
// when the client disconnects. The sources run under derived contexts (fan_out.hpp). Then:
//   200  {"id":42,"profile":{...},"preferences":{...}|null,"activity":[...]|null,
//         "degraded":["activity"],"trace_id":"<32 hex>","elapsed_ms":12.3}
//        degraded lists the non-critical sources that failed or ran out of time;
//   404  {"error":"user not found","id":42}       the profile has no such user;
//   400  {"error":"..."}                           a bad id or query parameter;
//   503  {"error":"profile unavailable",...}       the critical source failed;
//   504                                            the request deadline passed (written by
//                                                  the server, whatever the handler returns);
//   499  (logged, nothing written)                 the client left.
//
// Every source call is logged (msg "source", with "query_interrupted"/"call_interrupted"
// when the context stopped the statement or the call mid-run) and counted in Metrics.
//
// handle() is a coroutine route: it parses the request on the server's I/O thread, runs the
// SQLite sources on the TaskPool (blocking queries on pool threads, under their derived
// contexts), awaits the HTTP activity call there itself (Client::co_get; a gRPC activity
// source is a blocking call and runs on the pool), and awaits them all without holding a
// thread: a /users request in flight costs the pool threads of its queries and nothing else.
//
// Thread safety: handle() runs concurrently on the server's I/O threads.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "knobs.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "options.hpp"
#include "sources.hpp"
#include "task_pool.hpp"
#include "tether/http.hpp"

namespace tether_demo {

class UsersEndpoint {
 public:
  struct Parts {
    Log& log;
    Metrics& metrics;
    TaskPool& pool;
    ProfileSource& profile;
    PreferencesSource& preferences;
    ActivitySource& activity;
    const Options& options;
  };
  explicit UsersEndpoint(Parts parts) : p_(parts) {}

  /// The route's coroutine handler: it runs on the server's I/O thread and holds no thread
  /// while the sources run on the TaskPool (FanOut::co_wait).
  boost::asio::awaitable<tether::http::Response> handle(tether::Context ctx,
                                                        const tether::http::Request& req);

 private:
  /// What one request asks for.
  struct Call {
    std::int64_t id;
    RequestKnobs knobs;
    std::string trace;
    std::chrono::steady_clock::time_point started;
  };
  /// How the three sources ended.
  struct Sources {
    SourceResult profile, preferences, activity;
  };
  /// The fan-out: the three sources in parallel under the request's context tree.
  boost::asio::awaitable<Sources> fetch_all(tether::Context request_ctx,
                                            const tether::http::Request& req, Call call);
  /// The answer once the sources are in (the request context still alive).
  tether::http::Response answer(const Call& call, const Sources& got) const;

  // Runs a source's blocking fetch() and records it.
  template <class Fetch>
  SourceResult observe(const tether::Context& ctx, Source source, const std::string& trace,
                       Fetch&& fetch);
  // Logs one source call ("source" line) and counts it in the metrics.
  void record(const tether::Context& ctx, Source source, const std::string& trace,
              const SourceResult& r, std::chrono::steady_clock::duration took);

  Parts p_;
};

}  // namespace tether_demo
