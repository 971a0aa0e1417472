// pg_preferences.hpp — preferences from PostgreSQL (--postgres), through tether::pg.
//
// With a conninfo (--postgres=CONNINFO or TETHER_DEMO_POSTGRES), the demo connects to that
// server; with none (--postgres), it starts a throwaway local PostgreSQL 15 cluster with
// tether::pg::LocalCluster (initdb in a temporary directory, removed when the demo exits —
// even if it is killed). Either way it creates and seeds table `preferences` (one
// INSERT ... SELECT over generate_series, the same rows as the SQLite file) and the function
// demo_fail(text), unless the table already holds the asked number of users.
//
// Queries go through a tether::pg::Pool. The artificial latency is pg_sleep() inside the
// query, so a cancelled context stops it on the server: tether::pg sends PQcancel and the
// backend answers "canceling statement due to user request".
//
// Thread safety: PgPreferences::fetch() from any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "error.hpp"
#include "log.hpp"
#include "sources.hpp"
#include "tether/pg.hpp"
#include "tether/pg_local_cluster.hpp"

namespace tether_demo {

class PgPreferences final : public PreferencesSource {
 public:
  PgPreferences(std::string conninfo, std::size_t max_connections);
  SourceResult fetch(const tether::Context& ctx, const SourceRequest& request) override;

 private:
  tether::pg::Pool pool_;
};

struct PgPreferencesStarted {
  std::unique_ptr<tether::pg::LocalCluster> local;  ///< the demo's own cluster, if it started one
  std::unique_ptr<PgPreferences> source;
  Fields note;  ///< for the "data ready" log line
};

/// Connects (starting a local cluster when `conninfo` is empty, with its initdb template
/// kept in `template_dir`), seeds, and returns the source — or the Error saying what
/// failed: errc::startup_failed when the local cluster does not start, else tether::pg's
/// code, with a message naming the step. Connecting and seeding are bounded by `ctx`;
/// starting the cluster by pg_ctl's own 30 s.
Result<PgPreferencesStarted> start_pg_preferences(const tether::Context& ctx,
                                                  const std::string& conninfo,
                                                  const std::string& template_dir,
                                                  std::int64_t users, std::size_t max_connections);

}  // namespace tether_demo
