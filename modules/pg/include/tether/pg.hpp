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
// message, sqlstate}. `code` is the context's error (tether::errc) when the context ended,
// otherwise a tether::pg::errc (category "tether.pg"). Misuse of the row accessors (index
// out of range, NULL read as a non-optional, text that does not parse as the asked type)
// throws, like std::vector::at.
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

#include <charconv>
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

namespace tether::pg {

// ---- errors ----------------------------------------------------------------------------

/// Client-side failures. The context's own errors are tether::errc; a statement the server
/// rejected is server_error, with its SQLSTATE in Error::sqlstate.
enum class errc {
  connection_failed = 1,  ///< could not connect (bad conninfo, server down, auth failed)
  connection_lost,        ///< the connection broke mid-call; it has been closed
  server_error,           ///< the server reported an error; see Error::sqlstate
  unsupported,            ///< a result tether does not handle (COPY); the connection closed
  closed,                 ///< the connection is closed (never opened, or discarded)
  pool_closed,            ///< the pool was destroyed
};
/// The category of tether::pg::errc; its name is "tether.pg".
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// Why a call failed.
struct Error {
  std::error_code code;  ///< tether::errc when the context ended, else tether::pg::errc
  std::string message;   ///< the server's or libpq's message (and what happened)
  std::string sqlstate;  ///< the server's SQLSTATE ("57014"), when it sent one
};

/// Either a value or an Error: what every call returns. Test it like a pointer; see
/// tether/result.hpp.
///
///   auto rows = db.query(ctx, "SELECT 1");
///   if (!rows) return rows.error();
///   use(*rows);
template <class T>
using Result = tether::Result<T, Error>;

// ---- values ----------------------------------------------------------------------------

/// SQL NULL as a parameter.
struct Null {};
/// bytea values (owned bytes).
using Blob = std::vector<std::byte>;

/// A query parameter, sent in PostgreSQL's text format (bytea in binary format). Built
/// implicitly from integers, bool, floating point, anything convertible to
/// std::string_view, Blob or std::span<const std::byte>, Null / nullptr / std::nullopt,
/// and std::optional<T>. Text and blob parameters are views: the arguments outlive the call.
class Param {
 public:
  enum class Kind { null, text, binary };

  Param(Null) noexcept {}                                                     // NOLINT: implicit
  Param(std::nullptr_t) noexcept {}                                           // NOLINT: implicit
  Param(std::nullopt_t) noexcept {}                                           // NOLINT: implicit
  Param(bool b) noexcept : kind_(Kind::text), text_(b ? "true" : "false") {}  // NOLINT
  template <class N>
  requires(std::is_arithmetic_v<N> && !std::is_same_v<N, bool>) Param(N n)
  noexcept : kind_(Kind::text), inline_(true) {  // NOLINT: implicit
    auto r = std::to_chars(buf_, buf_ + sizeof buf_, n);
    len_ = static_cast<unsigned char>(r.ptr - buf_);
  }
  template <class S>
  requires(std::is_convertible_v<const S&, std::string_view> &&
           !std::is_same_v<std::decay_t<S>, std::nullptr_t>) Param(const S& s)
  noexcept : kind_(Kind::text), text_(std::string_view(s)) {}  // NOLINT
  Param(std::span<const std::byte> b) noexcept                 // NOLINT: implicit
      : kind_(Kind::binary), text_(reinterpret_cast<const char*>(b.data()), b.size()) {}
  Param(const Blob& b) noexcept : Param(std::span<const std::byte>(b)) {}  // NOLINT
  template <class T>
  Param(const std::optional<T>& o) : Param(o ? Param(*o) : Param(Null{})) {}  // NOLINT

  Kind kind() const noexcept { return kind_; }
  /// The bytes sent: text for Kind::text, raw bytes for Kind::binary.
  std::string_view bytes() const noexcept { return inline_ ? std::string_view(buf_, len_) : text_; }

 private:
  Kind kind_ = Kind::null;
  bool inline_ = false;  // a formatted number, held in buf_
  unsigned char len_ = 0;
  char buf_[32] = {};
  std::string_view text_;
};

/// One result row, in PostgreSQL's text format. get<T>(i) reads column i (0-based):
///   * std::string / std::string_view (a view into the row): the text as sent;
///   * integral types, double, float: parsed from the text (from_chars);
///   * bool: PostgreSQL's 't' / 'f';
///   * Blob: a bytea column (hex format) decoded;
///   * std::optional<T> of the above: std::nullopt for NULL.
/// A NULL read as a non-optional T, or text that does not parse as T, throws
/// std::invalid_argument; an index out of range throws std::out_of_range.
class Row {
 public:
  Row() = default;
  explicit Row(std::vector<std::optional<std::string>> values) : values_(std::move(values)) {}

  std::size_t size() const noexcept { return values_.size(); }
  bool is_null(std::size_t i) const { return !values_.at(i).has_value(); }
  /// Column i as sent by the server; nullopt for NULL. Throws std::out_of_range.
  const std::optional<std::string>& raw(std::size_t i) const { return values_.at(i); }

  template <class T>
  T get(std::size_t i) const;

 private:
  std::vector<std::optional<std::string>> values_;
};

/// The rows of a query, fully read, with the column names.
class Rows {
 public:
  Rows() = default;
  Rows(std::vector<std::string> columns, std::vector<Row> rows, std::int64_t affected)
      : columns_(std::move(columns)), rows_(std::move(rows)), affected_(affected) {}

  const std::vector<std::string>& columns() const noexcept { return columns_; }
  std::size_t size() const noexcept { return rows_.size(); }
  bool empty() const noexcept { return rows_.empty(); }
  const Row& operator[](std::size_t i) const { return rows_[i]; }
  const Row& at(std::size_t i) const { return rows_.at(i); }
  auto begin() const noexcept { return rows_.begin(); }
  auto end() const noexcept { return rows_.end(); }
  /// Rows affected by INSERT/UPDATE/DELETE (PQcmdTuples); 0 when not applicable.
  std::int64_t affected() const noexcept { return affected_; }

 private:
  std::vector<std::string> columns_;
  std::vector<Row> rows_;
  std::int64_t affected_ = 0;
};

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

/// A connection borrowed from a Pool; returns it when destroyed (or discards it if it is
/// not healthy). Move-only; use it like a pointer to Connection.
class Lease {
 public:
  Lease() noexcept = default;
  Lease(Lease&& other) noexcept = default;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { release(); }

  Connection& operator*() const noexcept { return *conn_; }
  Connection* operator->() const noexcept { return conn_.get(); }
  explicit operator bool() const noexcept { return conn_ != nullptr; }
  /// Returns the connection to the pool now (or closes it if it is not healthy).
  void release() noexcept;

  struct State;

 private:
  friend class Pool;
  Lease(std::shared_ptr<State> pool, std::unique_ptr<Connection> conn) noexcept
      : pool_(std::move(pool)), conn_(std::move(conn)) {}
  std::shared_ptr<State> pool_;
  std::unique_ptr<Connection> conn_;
};

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
  std::shared_ptr<Lease::State> state_;
};

// ---- Row::get ------------------------------------------------------------------------

namespace internal {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
Blob decode_bytea(std::string_view text);
[[noreturn]] void bad_column(std::size_t i, std::string_view text, const char* type);
}  // namespace internal

template <class T>
T Row::get(std::size_t i) const {
  const std::optional<std::string>& v = values_.at(i);
  if constexpr (internal::is_optional<T>::value) {
    if (!v) return std::nullopt;
    return get<typename T::value_type>(i);
  } else {
    if (!v) internal::bad_column(i, "NULL", "a non-optional type");
    const std::string& s = *v;
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) {
      return T(s);
    } else if constexpr (std::is_same_v<T, bool>) {
      if (s == "t" || s == "true") return true;
      if (s == "f" || s == "false") return false;
      internal::bad_column(i, s, "bool");
    } else if constexpr (std::is_arithmetic_v<T>) {
      T out{};
      auto r = std::from_chars(s.data(), s.data() + s.size(), out);
      if (r.ec != std::errc() || r.ptr != s.data() + s.size())
        internal::bad_column(i, s, "a number");
      return out;
    } else if constexpr (std::is_same_v<T, Blob>) {
      return internal::decode_bytea(s);
    } else {
      static_assert(sizeof(T) == 0, "Row::get<T>: unsupported type");
    }
  }
}

}  // namespace tether::pg

template <>
struct std::is_error_code_enum<tether::pg::errc> : std::true_type {};
