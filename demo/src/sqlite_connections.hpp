// sqlite_connections.hpp — reusable read-only connections to one SQLite file, with the two
// SQL functions the demo's artificial latency and failures are made of.
//
// A tether::sqlite::Connection is used by one thread at a time, and opening one per request
// would cost more than the query. SqliteConnections keeps the idle ones; acquire() hands one
// out (opening a new one when none is idle, so there are never more than the requests in
// flight), and the Lease puts it back.
//
// Every connection gets two application-defined SQL functions:
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
//   SqliteConnections profiles(dir + "/profiles.db");
//   auto conn = profiles.acquire();
//   if (!conn) return conn.error();
//   auto rows = (*conn)->query(ctx, "SELECT name FROM profiles WHERE id = ?", id);
//
// Thread safety: acquire() may be called from any thread; a Lease is used by one thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tether/sqlite.hpp"

namespace tether_demo {

/// Registers demo_clock_us() and demo_fail() on `conn` (see the header comment).
tether::sqlite::Result<void> add_demo_functions(tether::sqlite::Connection& conn);

/// The current value of demo_clock_us(): steady-clock microseconds.
std::int64_t demo_clock_us() noexcept;

class SqliteConnections {
 public:
  explicit SqliteConnections(std::string path) : path_(std::move(path)) {}

  /// A connection borrowed from the set; goes back when destroyed.
  class Lease {
   public:
    Lease(SqliteConnections* owner, std::unique_ptr<tether::sqlite::Connection> conn) noexcept
        : owner_(owner), conn_(std::move(conn)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    tether::sqlite::Connection& operator*() const noexcept { return *conn_; }
    tether::sqlite::Connection* operator->() const noexcept { return conn_.get(); }

   private:
    SqliteConnections* owner_;
    std::unique_ptr<tether::sqlite::Connection> conn_;
  };

  /// An idle connection, or a newly opened one (read-only, with the demo functions).
  tether::sqlite::Result<Lease> acquire();
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  std::mutex mu_;
  std::vector<std::unique_ptr<tether::sqlite::Connection>> idle_;  // under mu_
};

}  // namespace tether_demo
