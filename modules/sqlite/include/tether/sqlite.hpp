// tether/sqlite.hpp — SQLite statements that stop when their context does.
//
// A tether::sqlite::Connection owns one SQLite database handle. Every statement runs under
// a Context, as Go's db.QueryContext / db.ExecContext do: when the context is cancelled or
// its deadline passes, the running statement stops at SQLite's next opportunity and the
// call returns the context's error.
//
//   auto db = tether::sqlite::Connection::open("app.db");
//   if (!db) return db.error();
//   auto [ctx, cancel] = tether::with_timeout(parent, 2s);
//   auto rows = db->query(ctx, "SELECT id, name FROM users WHERE age > ?", 30);
//   if (!rows) log(rows.error().message);          // errc::deadline_exceeded, ...
//   for (const auto& row : *rows) use(row.get<std::int64_t>(0), row.get<std::string>(1));
//
// How a statement is stopped (two mechanisms, each covering the other's gap):
//   * a progress handler, run by SQLite on the executing thread every few hundred virtual
//     machine instructions, reads ctx.err() — one atomic load — and aborts when it is set.
//     It runs on the statement's own thread, so it can never hit a statement it was not
//     meant for;
//   * an after_func hook calls sqlite3_interrupt() the moment the context ends, for
//     latency (a statement blocked inside a single long instruction). The hook is
//     deregistered with Registration::stop_and_wait() before the statement is finalized,
//     so it never touches a handle that is being reset or closed.
//   * waiting for a lock held by another connection goes through a busy handler that
//     sleeps on the context (backing off from 1 ms to 50 ms) instead of
//     sqlite3_busy_timeout: it keeps retrying while the context is alive and gives up
//     the moment it ends. A context that never ends waits for the lock as long as it takes.
//
// Errors are values, not exceptions: every call returns a Result<T>, which holds either
// the value or an Error {code, message, ...}. Values, rows and errors are tether::sql's
// (<tether/sql.hpp>), the same types tether::pg returns. `code` is either an SQLite result
// code in sqlite::category() — compare it with tether::sql::errc for a portable test
// (errc::constraint_violation), or with tether::sqlite::errc for SQLite's primary code
// (errc::constraint) — or, when the context ended, the context's own error
// (tether::errc::canceled or deadline_exceeded), with what SQLite was doing in `message`.
// When an interrupted statement made SQLite roll back the enclosing transaction,
// Error::rolled_back is true and the message says so. Misuse of the row accessors (a
// column index out of range, asking for text from an integer) throws, like
// std::vector::at.
//
// Pool keeps a bounded set of connections to one file: acquire(ctx) waits for a free one
// or for the context, and a connection given back inside a transaction is rolled back
// before anyone else gets it.
//
// Thread safety: a Connection is used by one thread at a time (it may move between
// threads); different Connections are independent. Pool is fully thread-safe; a Lease is
// used by one thread at a time. The context may be cancelled from any thread. Row, Rows
// and Value are plain values.
//
// What blocks: exec/query block the calling thread while the statement runs, and while
// waiting for a lock (bounded by the context). Pool::acquire blocks until a connection is
// free or the context ends. Connection's destructor and close() block only while SQLite
// closes the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
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

namespace tether::sqlite {

// ---- errors ----------------------------------------------------------------------------

/// The error category of SQLite result codes: value() is the (extended) SQLite result
/// code, message() is sqlite3_errstr's text. Its name is "sqlite". Its codes also compare
/// equal to tether::sql::errc conditions: CONSTRAINT -> constraint_violation, BUSY and
/// LOCKED -> busy, ERROR (SQLite's generic SQL error: syntax, unknown table or column, an
/// error raised by a function) -> invalid_statement, MISMATCH, RANGE and TOOBIG ->
/// invalid_data, READONLY -> read_only, CANTOPEN and NOTADB -> unavailable.
const std::error_category& category() noexcept;

/// The primary SQLite result codes worth testing for; an error_code of category() compares
/// equal to these when its primary code (the low 8 bits) matches, so
/// `err.code == tether::sqlite::errc::constraint` also holds for SQLITE_CONSTRAINT_UNIQUE.
enum class errc {
  error = 1,        ///< SQLITE_ERROR: SQL error or missing database
  busy = 5,         ///< SQLITE_BUSY: the database file is locked
  locked = 6,       ///< SQLITE_LOCKED: a table in the database is locked
  interrupt = 9,    ///< SQLITE_INTERRUPT: interrupted (by something other than a context)
  readonly = 8,     ///< SQLITE_READONLY: attempt to write a readonly database
  cantopen = 14,    ///< SQLITE_CANTOPEN: unable to open the database file
  constraint = 19,  ///< SQLITE_CONSTRAINT: a constraint was violated
  mismatch = 20,    ///< SQLITE_MISMATCH: data type mismatch
  misuse = 21,      ///< SQLITE_MISUSE: library used incorrectly (e.g. a closed connection)
  range = 25,       ///< SQLITE_RANGE: bind parameter index out of range
};
/// The portable condition for errc values (primary codes of category()).
const std::error_category& condition_category() noexcept;
inline std::error_condition make_error_condition(errc e) noexcept {
  return {static_cast<int>(e), condition_category()};
}

// ---- values and errors: tether::sql's, shared with tether::pg -------------------------

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

/// How to open a database. Combine with |. The values are SQLite's SQLITE_OPEN_* flags.
enum class OpenFlags : int {
  read_only = 0x01,
  read_write = 0x02,
  create = 0x04,
  uri = 0x40,
  memory = 0x80,
};
constexpr OpenFlags operator|(OpenFlags a, OpenFlags b) noexcept {
  return static_cast<OpenFlags>(static_cast<int>(a) | static_cast<int>(b));
}

/// One open SQLite database (an sqlite3* handle), closed by the destructor. Move-only.
class Connection {
 public:
  /// A closed connection: every call returns errc::misuse.
  Connection() noexcept = default;
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  /// Closes the database (see close()).
  ~Connection();

  /// Opens (by default creating) the database file at `path`; ":memory:" for a private
  /// in-memory database. Opening does not wait on locks, so it takes no context.
  static Result<Connection> open(const std::string& path,
                                 OpenFlags flags = OpenFlags::read_write | OpenFlags::create);

  /// Runs `sql` with `params` bound to its ?-placeholders, discarding any rows. Without
  /// parameters, `sql` may hold several statements separated by ';' (run in order; the
  /// first failure stops the rest). Returns the context's error if ctx ends first.
  template <class... Args>
  Result<void> exec(const Context& ctx, std::string_view sql, const Args&... params) {
    const Param ps[] = {Param(params)..., Param(Null{})};
    return exec_params(ctx, sql, std::span<const Param>(ps, sizeof...(Args)));
  }
  /// Runs one statement and returns all its rows. Returns the context's error if ctx
  /// ends first (the rows read so far are discarded).
  template <class... Args>
  Result<Rows> query(const Context& ctx, std::string_view sql, const Args&... params) {
    const Param ps[] = {Param(params)..., Param(Null{})};
    return query_params(ctx, sql, std::span<const Param>(ps, sizeof...(Args)));
  }
  /// Like exec/query, with the parameters as a span (for parameter lists built at run time).
  Result<void> exec_params(const Context& ctx, std::string_view sql, std::span<const Param> params);
  Result<Rows> query_params(const Context& ctx, std::string_view sql,
                            std::span<const Param> params);

  /// The rowid of the most recent successful INSERT on this connection.
  std::int64_t last_insert_rowid() const noexcept;
  /// Rows changed by the most recent INSERT, UPDATE or DELETE.
  std::int64_t changes() const noexcept;
  /// True while an explicit transaction (BEGIN ...) is open.
  bool in_transaction() const noexcept;
  bool is_open() const noexcept { return db_ != nullptr; }

  /// Closes the database now. Idempotent. Statements never outlive a call, so nothing is
  /// left to finalize.
  void close() noexcept;

  /// Registers (or replaces) the SQL scalar function `name` with `arity` arguments (-1: any
  /// number) on this connection:
  ///
  ///   namespace sq = tether::sqlite;
  ///   db.create_function("twice", 1, [](std::span<const sq::Value> args) -> sq::Result<sq::Value>
  ///   {
  ///     if (const auto* n = std::get_if<std::int64_t>(&args[0])) return sq::Value(*n * 2);
  ///     return sq::Error{.code = {}, .message = "twice() takes an integer"};
  ///   });
  ///
  /// `fn` runs on the thread executing the statement, while that statement runs; it must
  /// not use this connection. A returned Error's message becomes the statement's SQL error
  /// (SQLITE_ERROR, so sql::errc::invalid_statement); an exception escaping `fn` does too.
  /// `deterministic`: the same arguments always give the same result, so SQLite may
  /// compute it once per statement and allow it in indexes and CHECK constraints. Returns
  /// errc::misuse on a closed connection.
  using Function = std::function<Result<Value>(std::span<const Value> args)>;
  Result<void> create_function(std::string_view name, int arity, Function fn,
                               bool deterministic = false);

  /// The raw sqlite3* handle (as void*, to keep sqlite3.h out of this header), for
  /// features tether does not wrap. Do not close it, and do not install a progress or busy
  /// handler on it: exec/query own those.
  void* native_handle() const noexcept { return db_; }

 private:
  explicit Connection(void* db) noexcept : db_(db) {}
  Result<void> run(const Context& ctx, std::string_view sql, std::span<const Param> params,
                   Rows* out);
  void* db_ = nullptr;  // sqlite3*
};

// ---- the pool -------------------------------------------------------------------------

class Pool;

/// A connection borrowed from a Pool; gives it back when destroyed (see Pool for what
/// happens to it then). Move-only; use it like a pointer to Connection
/// (<tether/sql/lease.hpp>).
using Lease = sql::Lease<Connection, Pool>;

/// A bounded pool of connections to one database file. A Connection is used by one thread
/// at a time and opening one costs more than a short query; a Pool keeps the idle ones.
///
///   tether::sqlite::Pool pool({.path = "app.db", .max_connections = 8,
///                              .on_open = [](tether::sqlite::Connection& c) {
///                                return c.exec(tether::background(), "PRAGMA foreign_keys = ON");
///                              }});
///   auto db = pool.acquire(ctx);        // waits for a free connection, or for ctx
///   if (!db) return db.error();
///   auto rows = (*db)->query(ctx, "SELECT name FROM users WHERE id = ?", 42);
///
/// acquire() hands out an idle connection; failing that opens a new one (running
/// Options::on_open on it) while fewer than max_connections are open; failing that waits
/// for one to come back, or for the context to end (then it returns the context's error).
/// A connection comes back when its Lease is destroyed: if it was left inside a
/// transaction — an explicit BEGIN never finished, or one a cancelled statement left open
/// — it is rolled back first, so the next user never inherits it; a connection that cannot
/// be rolled back, or was closed, is dropped, and its slot is free again. Statements never
/// outlive a call (see Connection), so a cancelled one leaves nothing else behind.
/// Destroying the pool closes the idle connections; leases still out close theirs when
/// they are destroyed.
///
/// Thread safety: every Pool member may be called from any thread at once; a Lease (and
/// its Connection) is used by one thread at a time. What blocks: acquire() waits for a
/// connection (bounded by the context) and opens new ones on the calling thread; a Lease's
/// destructor runs the ROLLBACK, if one is needed, on the releasing thread.
class Pool {
 public:
  struct Options {
    std::string path;
    OpenFlags flags = OpenFlags::read_write | OpenFlags::create;
    std::size_t max_connections = 4;  ///< at least 1
    /// Run once on each newly opened connection before it is first handed out (register
    /// functions, set PRAGMAs). An error is returned by that acquire(), and the connection
    /// is closed.
    std::function<Result<void>(Connection&)> on_open = {};
  };
  explicit Pool(Options options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// A connection: an idle one, a new one if fewer than max_connections are open, or the
  /// next one given back. The context's error if ctx ends first; errc::misuse if the pool
  /// is being destroyed; open()'s or on_open's error if a new connection failed.
  Result<Lease> acquire(const Context& ctx);
  /// Connections open (idle + leased + being opened).
  std::size_t open_count() const;
  /// Connections waiting in the pool.
  std::size_t idle_count() const;

 private:
  Result<Lease> open_new();
  struct State;  // the idle connections; the LeaseOwner its leases give back to
  std::shared_ptr<State> state_;
};

}  // namespace tether::sqlite

template <>
struct std::is_error_condition_enum<tether::sqlite::errc> : std::true_type {};
