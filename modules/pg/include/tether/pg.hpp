// tether/pg.hpp — PostgreSQL (libpq) queries that stop when their context does.
//
// A cancelled request must not leave a query running on the server, holding a connection.
// tether::pg runs every libpq operation asynchronously and waits on two descriptors at
// once: the connection's socket and the context's done descriptor (ctx.done().fd()). When
// the context ends first:
//
//   1. a cancel request (PQcancel) goes out on a shared cancel thread — PQcancel blocks,
//      so it never runs on the caller's thread, and the cancel threads are reused, never
//      one per query;
//   2. the call returns the context's error at once: a cleanup never extends a deadline.
//      What the server already sent is read; the rest is left for later;
//   3. the connection *settles* off the request path: before its next use (the next query,
//      Pool::acquire, or settle()) the interrupted query's results are read to the end
//      AND the server's acknowledgement of the cancel request is awaited (the postmaster
//      has then signalled the backend, which is idle by then, so the signal lands on
//      nothing), within Options::cancel_grace of the cancel. A connection that does not
//      settle in time is closed. So a late cancel can never hit the next query on it: a
//      connection whose cancel is not yet acknowledged is not reused until it is;
//   4. the error's message says what was known at return: the server's word if it had
//      already come ("context canceled: ERROR: canceling statement due to user request"),
//      else that the cancel was sent.
//
// As a server-side backstop, a query whose context has a deadline also sets
// statement_timeout to the remaining time plus Options::statement_timeout_margin, local to
// the query's transaction (set_config(..., is_local => true) pipelined in front of the
// query, one round trip): if the client vanishes, the server still stops.
//
//   auto conn = tether::pg::Connection::connect(ctx, "host=127.0.0.1 dbname=app");
//   if (!conn) return conn.error();
//   auto rows = conn->query(ctx, "SELECT name FROM users WHERE id = $1", 42);
//   if (!rows) log(rows.error().message);   // errc::deadline_exceeded, ...
//   else for (const auto& row : *rows) use(row.get<std::string>(0));
//
// Pool keeps a bounded set of connections: acquire(ctx) waits for a free one or for the
// context, and a returned connection goes back only if it is healthy (open, idle, not in a
// transaction); otherwise it is closed and a new one is made on demand.
//
// Errors are values: every call returns a Result<T> holding the value or an Error {code,
// message, sqlstate}. Values, rows and errors are tether::sql's (<tether/sql.hpp>), the
// same types tether::sqlite returns: a Row holds typed values (bool, int2/4/8 and oid as
// std::int64_t, float4/8 as double, bytea as Blob, every other type as its text), so it
// reads the same from either engine. `code` is the context's error (tether::errc) when the
// context ended, a server error's SQLSTATE (sqlstate_category()), or a tether::pg::errc
// (category "tether.pg"); compare it with tether::sql::errc for a portable test. Misuse
// of the row accessors (index out of range, NULL read as a non-optional, a column read as
// a type it does not hold) throws, like std::vector::at.
//
// Thread safety: a Connection is used by one thread at a time (it may move between
// threads). Pool is fully thread-safe; a Lease is used by one thread at a time. Contexts
// may be cancelled from any thread.
//
// What blocks: connect, query and exec block the caller until the server answers or the
// context ends, never longer (a query on a settling connection first waits for it to
// settle, within the same context). Pool::acquire blocks until a connection is free or the
// context ends. Process exit waits for cancel requests still in
// flight (each is one short TCP exchange with the server).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "tether/context.hpp"
#include "tether/result.hpp"
#include "tether/sql.hpp"
#include "tether/sql/lease.hpp"

namespace tether::pg {

// ---- errors ----------------------------------------------------------------------------

/// Client-side failures. The context's own errors are tether::errc; a statement the server
/// rejected has a code of sqlstate_category() (its SQLSTATE is in Error::sqlstate too).
enum class errc {
  connection_failed = 1,  ///< could not connect (bad conninfo, server down, auth failed)
  connection_lost,        ///< the connection broke mid-call; it has been closed
  unsupported = 4,        ///< a result tether does not handle (COPY); the connection closed
  closed,                 ///< the connection is closed (never opened, or discarded)
  pool_closed,            ///< the pool was destroyed
};
/// The category of tether::pg::errc; its name is "tether.pg". Its codes compare equal to
/// tether::sql::errc conditions: connection_failed -> unavailable, connection_lost ->
/// connection_lost, closed and pool_closed -> closed.
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// The category of the server's errors: value() is the SQLSTATE read as a base-36 number
/// (sqlstate_code("23505")), message() says "SQLSTATE 23505"; its name is
/// "tether.pg.sqlstate". Its codes compare equal to tether::sql::errc conditions by
/// SQLSTATE class: 23 -> constraint_violation; 40001, 40P01 and 55P03 -> busy; 42 ->
/// invalid_statement; 22 -> invalid_data; 25006 -> read_only; 08 and 57P01-57P03 ->
/// connection_lost.
const std::error_category& sqlstate_category() noexcept;
/// The error_code of an SQLSTATE ("23505"): compare a server error with a precise state,
/// `err.code == tether::pg::sqlstate_code("23505")`. Five characters 0-9 / A-Z; anything
/// else gives the code of "XX000" (internal_error).
std::error_code sqlstate_code(std::string_view sqlstate) noexcept;

// ---- values and errors: tether::sql's, shared with tether::sqlite ------------------------

using sql::Blob;
using sql::Error;
using sql::Null;
using sql::Param;
using sql::Row;
using sql::Rows;
using sql::Value;
/// Either a value or an Error: what every call returns (tether::sql::Result).
template <class T>
using Result = sql::Result<T>;

// ---- the connection ---------------------------------------------------------------------

/// One PostgreSQL connection (a PGconn), closed by the destructor. Move-only.
class Connection {
 public:
  struct Options {
    /// After a context ended a query: how long, from the cancel, the connection may take to
    /// settle (the interrupted query's results read, the cancel acknowledged) before it is
    /// closed instead. Waited for off the request path: by the connection's next use, never
    /// by the call that was cancelled. Real time.
    std::chrono::milliseconds cancel_grace{1000};
    /// statement_timeout = remaining deadline + this margin, so the client's own deadline
    /// fires first and the server's is only a backstop. Real time.
    std::chrono::milliseconds statement_timeout_margin{100};
  };

  /// A closed connection: every call returns errc::closed.
  Connection() noexcept = default;
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  /// Connects with a libpq connection string ("host=... dbname=..." or a postgresql://
  /// URI), without blocking: PQconnectStartParams, then PQconnectPoll driven by poll() on
  /// the socket and the context's descriptor. Returns the context's error if it ends
  /// first (the half-open connection is closed). Server notices (NOTICE, WARNING) are
  /// dropped rather than printed to stderr.
  static Result<Connection> connect(const Context& ctx, std::string_view conninfo);
  static Result<Connection> connect(const Context& ctx, std::string_view conninfo, Options options);

  /// Runs one statement with `params` bound to $1, $2, ... and returns all its rows.
  template <class... Args>
  Result<Rows> query(const Context& ctx, std::string_view sql, const Args&... params) {
    const Param ps[] = {Param(params)..., Param(Null{})};
    return query_params(ctx, sql, std::span<const Param>(ps, sizeof...(Args)));
  }
  /// Runs one statement; returns the number of rows it affected (0 when not applicable).
  template <class... Args>
  Result<std::int64_t> exec(const Context& ctx, std::string_view sql, const Args&... params) {
    const Param ps[] = {Param(params)..., Param(Null{})};
    auto r = query_params(ctx, sql, std::span<const Param>(ps, sizeof...(Args)));
    if (!r) return r.error();
    return r->affected();
  }
  /// query with the parameters as a span (for parameter lists built at run time).
  Result<Rows> query_params(const Context& ctx, std::string_view sql,
                            std::span<const Param> params);

  /// True if the connection is open, not broken, not settling and idle outside a
  /// transaction — fit to be used. Does no I/O.
  bool healthy() const noexcept;
  /// Like healthy(), and also reads whatever the server sent while the connection sat
  /// idle (without blocking): notices that the server shut the connection down are seen,
  /// and a settling connection whose cleanup has completed becomes healthy.
  bool probe() noexcept;
  /// True while a cancel cleanup is pending: a query was cancelled and returned, and the
  /// server has not yet acknowledged the cancel or sent the end of that query's results.
  bool settling() const noexcept { return settling_ != nullptr; }
  /// Finishes a pending cancel cleanup on this thread: waits until the interrupted query's
  /// results are read and the cancel is acknowledged (then the connection is healthy), or
  /// until cancel_grace from the cancel passes (then it is closed), or until `ctx` ends
  /// (then it is still settling). Returns healthy(). Queries call it first themselves.
  bool settle(const Context& ctx);
  bool is_open() const noexcept { return conn_ != nullptr; }
  /// The server process id of this connection (PQbackendPID); 0 if closed.
  int backend_pid() const noexcept;
  /// Closes the connection now. Idempotent.
  void close() noexcept;
  /// The raw PGconn* (as void*, to keep libpq-fe.h out of this header). Do not close it.
  void* native_handle() const noexcept { return conn_; }

 private:
  struct Settling;
  struct InFlight;
  // query_params' steps (pg.cpp says what each does).
  Result<int> ready_to_send(const Context& ctx);
  Result<std::optional<std::string>> backstop(const Context& ctx);
  Result<void> send(const Context& ctx, std::string_view sql, std::span<const Param> params,
                    const std::optional<std::string>& timeout, int done_fd);
  Result<void> receive(const Context& ctx, InFlight& q, int done_fd);
  Error cancel(const Context& ctx, InFlight& q);
  Result<Rows> finish_query(const Context& ctx, InFlight& q);
  void remember_statement_timeout(const Context& ctx, const InFlight& q);
  Error lost(const std::string& prefix);
  Connection(void* conn, Options options) noexcept : conn_(conn), options_(options) {}
  // One step of settling: reads what arrived and decides; with `ctx`, waits (bounded by it
  // and by the grace) until settled or closed. True when no cleanup is pending any more.
  bool finish_settling(const Context* ctx, int done_fd);
  void* conn_ = nullptr;  // PGconn*
  Options options_;
  // Set while a cancel cleanup is pending. (shared_ptr: Settling is incomplete here.)
  std::shared_ptr<Settling> settling_;
  // The statement_timeout in force before this connection first set it inside the current
  // explicit transaction; restored by the next query that has no deadline.
  std::optional<std::string> saved_statement_timeout_;
};

// ---- the pool -------------------------------------------------------------------------

class Pool;

/// A connection borrowed from a Pool; gives it back when destroyed (see Pool for what
/// happens to it then). Move-only; use it like a pointer to Connection
/// (<tether/sql/lease.hpp>).
using Lease = sql::Lease<Connection, Pool>;

/// A bounded pool of connections to one server. Thread-safe.
///
///   tether::pg::Pool pool({.conninfo = "host=127.0.0.1 dbname=app", .max_connections = 8});
///   auto conn = pool.acquire(ctx);        // waits for a free connection, or for ctx
///   if (!conn) return conn.error();
///   auto rows = (*conn)->query(ctx, "SELECT 1");
///
/// Connections are made on demand, up to max_connections. A connection comes back to the
/// pool when its Lease is destroyed, and only if healthy() or settling(). acquire() hands
/// out an idle connection that is (or, probed, has become) healthy; failing that, opens a
/// new one below max_connections; failing that, settles an idle settling connection on the
/// caller's thread within the caller's context. An idle connection is probed
/// before it is handed out again, so connections killed while idle (a server restart) are
/// replaced, not returned. Destroying the pool closes the idle connections; leases still
/// out close theirs when they are destroyed.
class Pool {
 public:
  struct Options {
    std::string conninfo;
    std::size_t max_connections = 4;  ///< at least 1
    Connection::Options connection = {};
  };
  explicit Pool(Options options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// A connection: an idle one, a new one if fewer than max_connections are open, or the
  /// next one returned. Returns the context's error if the context ends first.
  Result<Lease> acquire(const Context& ctx);
  /// Connections open (idle + leased + being opened).
  std::size_t open_count() const;
  /// Connections waiting in the pool.
  std::size_t idle_count() const;

 private:
  Result<Lease> open_new(const Context& ctx);
  struct State;  // the idle connections; the LeaseOwner its leases give back to
  std::shared_ptr<State> state_;
};

}  // namespace tether::pg

template <>
struct std::is_error_code_enum<tether::pg::errc> : std::true_type {};
