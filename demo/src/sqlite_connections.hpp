// sqlite_connections.hpp — the demo's pools of read-only connections to one SQLite file, with
// the two SQL functions the demo's artificial latency and failures are made of.
//
// A tether::sqlite::Connection is used by one thread at a time, and opening one per request
// would cost more than the query: each source keeps a tether::sqlite::Pool (bounded; acquire
// waits under the request's context). Every connection gets two application-defined SQL
// functions (tether::sqlite::Connection::create_function):
//   demo_clock_us()     the steady clock in microseconds, read anew on every call
//                       (not deterministic), so a recursive CTE can run "until time T":
//                         WITH RECURSIVE busy(n) AS (SELECT 0 UNION ALL
//                           SELECT n + 1 FROM busy WHERE demo_clock_us() < ?)
//                       That is real work of the virtual machine — a statement that runs
//                       for the asked latency — so tether::sqlite's progress handler and
//                       sqlite3_interrupt stop it the moment its context ends.
//   demo_fail(source)   raises the SQL error "injected failure in <source>", so an injected
//                       failure travels the same error path as a real one.
//
//   tether::sqlite::Pool profiles = demo_sqlite_pool(dir + "/profiles.db");
//   auto conn = profiles.acquire(ctx);
//   if (!conn) return conn.error();
//   auto rows = (*conn)->query(ctx, "SELECT name FROM profiles WHERE id = ?", id);
//
// Thread safety: a Pool is thread-safe; a Lease is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tether/sqlite.hpp"

namespace tether_demo {

/// Connections per SQLite file: more than the requests the demo serves at once under its
/// load tests, so a request waits for one only when the service is overloaded.
inline constexpr std::size_t kSqliteConnections = 64;

/// Registers demo_clock_us() and demo_fail() on `conn` (see the header comment).
tether::sqlite::Result<void> add_demo_functions(tether::sqlite::Connection& conn);

/// The current value of demo_clock_us(): steady-clock microseconds.
std::int64_t demo_clock_us() noexcept;

/// Options for a pool of read-only connections to `path`, each with the demo functions.
tether::sqlite::Pool::Options demo_sqlite_pool(std::string path);

}  // namespace tether_demo
