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
// Thread safety: handle() runs concurrently on the server's worker threads.
#pragma once

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

  tether::http::Response handle(const tether::Context& ctx, const tether::http::Request& req);

 private:
  template <class Fetch>
  SourceResult observe(const tether::Context& ctx, Source source, const std::string& trace,
                       Fetch&& fetch);

  Parts p_;
};

}  // namespace tether_demo
