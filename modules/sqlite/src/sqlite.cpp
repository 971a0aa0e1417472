// tether::sqlite — see modules/sqlite/include/tether/sqlite.hpp for the contract.
#include "tether/sqlite.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

#include "tether/sql/pool.hpp"

namespace tether::sqlite {
namespace {

static_assert(static_cast<int>(OpenFlags::read_only) == SQLITE_OPEN_READONLY);
static_assert(static_cast<int>(OpenFlags::read_write) == SQLITE_OPEN_READWRITE);
static_assert(static_cast<int>(OpenFlags::create) == SQLITE_OPEN_CREATE);
static_assert(static_cast<int>(OpenFlags::uri) == SQLITE_OPEN_URI);
static_assert(static_cast<int>(OpenFlags::memory) == SQLITE_OPEN_MEMORY);
static_assert(static_cast<int>(errc::busy) == SQLITE_BUSY);
static_assert(static_cast<int>(errc::interrupt) == SQLITE_INTERRUPT);
static_assert(static_cast<int>(errc::constraint) == SQLITE_CONSTRAINT);
static_assert(static_cast<int>(errc::misuse) == SQLITE_MISUSE);

// How often (in virtual machine instructions) the progress handler looks at the context:
// a few microseconds of work between two atomic loads.
constexpr int kProgressInstructions = 1000;
// The busy handler's back-off: 1 ms doubling to 50 ms, each sleep cut short by done.
constexpr std::chrono::milliseconds kBusyFirst{1};
constexpr std::chrono::milliseconds kBusyMax{50};

class SqliteCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sqlite"; }
  std::string message(int ev) const override { return sqlite3_errstr(ev); }
  std::error_condition default_error_condition(int ev) const noexcept override {
    return {ev & 0xff, condition_category()};
  }
  // Equal to its primary code's sqlite::errc and to its tether::sql::errc condition.
  bool equivalent(int ev, const std::error_condition& cond) const noexcept override {
    if (cond.category() == sql::category()) {
      const auto portable = portable_condition(ev);
      return portable && cond == *portable;
    }
    return cond == default_error_condition(ev);
  }

 private:
  static std::optional<sql::errc> portable_condition(int ev) noexcept {
    switch (ev & 0xff) {
      case SQLITE_CONSTRAINT:
        return sql::errc::constraint_violation;
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        return sql::errc::busy;
      case SQLITE_ERROR:
        return sql::errc::invalid_statement;
      case SQLITE_MISMATCH:
      case SQLITE_RANGE:
      case SQLITE_TOOBIG:
        return sql::errc::invalid_data;
      case SQLITE_READONLY:
        return sql::errc::read_only;
      case SQLITE_CANTOPEN:
      case SQLITE_NOTADB:
        return sql::errc::unavailable;
      default:
        return std::nullopt;
    }
  }
};

class SqliteConditionCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sqlite-primary"; }
  std::string message(int ev) const override { return sqlite3_errstr(ev); }
};

std::error_code sqlite_code(int rc) noexcept { return {rc, category()}; }

Error sqlite_error(sqlite3* db, int rc) {
  return Error{sqlite_code(rc), db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)};
}

// A short, single-line excerpt of a statement for error messages.
std::string excerpt(std::string_view sql) {
  constexpr std::size_t kMax = 60;
  while (!sql.empty() && (sql.front() == ' ' || sql.front() == '\n' || sql.front() == '\t'))
    sql.remove_prefix(1);
  std::string s(sql.substr(0, kMax));
  std::replace(s.begin(), s.end(), '\n', ' ');
  if (sql.size() > kMax) s += "...";
  return s;
}

// The context's error, with its cause and what was going on.
Error context_error(const Context& ctx, const std::string& what) {
  return Error{ctx.err(), tether::cause(ctx).message() + ": " + what};
}

// SQLite calls this on the executing thread every kProgressInstructions instructions;
// non-zero aborts the statement with SQLITE_INTERRUPT.
int on_progress(void* arg) noexcept { return static_cast<const Context*>(arg)->err() ? 1 : 0; }

// SQLite calls this when a lock is held by another connection; non-zero retries.
// It sleeps on the context, so it gives up the moment the context ends.
int on_busy(void* arg, int count) noexcept {
  const auto& ctx = *static_cast<const Context*>(arg);
  if (ctx.err()) return 0;
  auto backoff =
      std::min<std::chrono::milliseconds>(kBusyFirst * (1 << std::min(count, 6)), kBusyMax);
  ctx.done().wait_for(backoff);
  return ctx.err() ? 0 : 1;
}

// Installs the context-reading handlers for the duration of one call.
class HandlerScope {
 public:
  HandlerScope(const Context& ctx, sqlite3* db) : db_(db) {
    void* arg = const_cast<Context*>(&ctx);
    sqlite3_progress_handler(db_, kProgressInstructions, &on_progress, arg);
    sqlite3_busy_handler(db_, &on_busy, arg);
  }
  ~HandlerScope() {
    sqlite3_progress_handler(db_, 0, nullptr, nullptr);
    sqlite3_busy_handler(db_, nullptr, nullptr);
  }
  HandlerScope(const HandlerScope&) = delete;
  HandlerScope& operator=(const HandlerScope&) = delete;

 private:
  sqlite3* db_;
};

// Finalizes a statement when the scope ends.
struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

int bind(sqlite3_stmt* stmt, std::span<const Param> params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    const int idx = static_cast<int>(i) + 1;
    int rc = SQLITE_OK;
    switch (p.kind()) {
      case Param::Kind::null:
        rc = sqlite3_bind_null(stmt, idx);
        break;
      case Param::Kind::integer:
      case Param::Kind::boolean:
        rc = sqlite3_bind_int64(stmt, idx, p.integer());
        break;
      case Param::Kind::real:
        rc = sqlite3_bind_double(stmt, idx, p.real());
        break;
      case Param::Kind::text:
        rc = sqlite3_bind_text64(stmt, idx, p.text().data(), p.text().size(), SQLITE_STATIC,
                                 SQLITE_UTF8);
        break;
      case Param::Kind::blob: {
        // A zero-length blob must still be a blob, not NULL: bind a zeroblob then.
        if (p.blob().empty()) {
          rc = sqlite3_bind_zeroblob(stmt, idx, 0);
        } else {
          rc = sqlite3_bind_blob64(stmt, idx, p.blob().data(), p.blob().size(), SQLITE_STATIC);
        }
        break;
      }
    }
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

// A value of SQLite's storage class `type`, read through the accessors of a column or of a
// function argument.
template <class Int, class Real, class Text, class Bytes, class Size>
Value to_value(int type, Int integer, Real real, Text text, Bytes bytes, Size size) {
  switch (type) {
    case SQLITE_INTEGER:
      return static_cast<std::int64_t>(integer());
    case SQLITE_FLOAT:
      return real();
    case SQLITE_TEXT: {
      const auto* p = reinterpret_cast<const char*>(text());
      return std::string(p, static_cast<std::size_t>(size()));
    }
    case SQLITE_BLOB: {
      const auto* p = static_cast<const std::byte*>(bytes());
      return Blob(p, p + size());
    }
    default:
      return Null{};
  }
}

Row read_row(sqlite3_stmt* stmt) {
  const int n = sqlite3_column_count(stmt);
  std::vector<Value> values;
  values.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    values.push_back(to_value(
        sqlite3_column_type(stmt, i), [&] { return sqlite3_column_int64(stmt, i); },
        [&] { return sqlite3_column_double(stmt, i); },
        [&] { return sqlite3_column_text(stmt, i); }, [&] { return sqlite3_column_blob(stmt, i); },
        [&] { return sqlite3_column_bytes(stmt, i); }));
  }
  return Row(std::move(values));
}

Value argument(sqlite3_value* v) {
  return to_value(
      sqlite3_value_type(v), [&] { return sqlite3_value_int64(v); },
      [&] { return sqlite3_value_double(v); }, [&] { return sqlite3_value_text(v); },
      [&] { return sqlite3_value_blob(v); }, [&] { return sqlite3_value_bytes(v); });
}

void set_result(sqlite3_context* c, const Value& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) {
    sqlite3_result_int64(c, *i);
  } else if (const auto* d = std::get_if<double>(&v)) {
    sqlite3_result_double(c, *d);
  } else if (const auto* t = std::get_if<std::string>(&v)) {
    sqlite3_result_text64(c, t->data(), t->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  } else if (const auto* b = std::get_if<Blob>(&v); b && !b->empty()) {
    sqlite3_result_blob64(c, b->data(), b->size(), SQLITE_TRANSIENT);
  } else if (b) {
    sqlite3_result_zeroblob(c, 0);  // an empty blob, not NULL
  } else {
    sqlite3_result_null(c);
  }
}

// The C entry point of every create_function: calls the Function in the user data.
void call_function(sqlite3_context* c, int argc, sqlite3_value** argv) noexcept {
  const auto& fn = *static_cast<const Connection::Function*>(sqlite3_user_data(c));
  try {
    std::vector<Value> args;
    args.reserve(static_cast<std::size_t>(argc));
    for (int i = 0; i < argc; ++i) args.push_back(argument(argv[i]));
    Result<Value> r = fn(args);
    if (!r) {
      sqlite3_result_error(c, r.error().message.c_str(), -1);
      return;
    }
    set_result(c, *r);
  } catch (const std::exception& e) {
    sqlite3_result_error(c, e.what(), -1);
  } catch (...) {
    sqlite3_result_error(c, "unknown exception in an application-defined function", -1);
  }
}

}  // namespace

const std::error_category& category() noexcept {
  static const SqliteCategory c;
  return c;
}

const std::error_category& condition_category() noexcept {
  static const SqliteConditionCategory c;
  return c;
}

Connection::Connection(Connection&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Connection::~Connection() { close(); }

void Connection::close() noexcept {
  // Every statement is finalized, and every interrupt hook deregistered, before the call
  // that ran it returns: nothing can touch the handle while it closes.
  if (db_) sqlite3_close_v2(static_cast<sqlite3*>(std::exchange(db_, nullptr)));
}

Result<Connection> Connection::open(const std::string& path, OpenFlags flags) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, static_cast<int>(flags), nullptr);
  if (rc != SQLITE_OK) {
    Error e = sqlite_error(db, rc);
    e.message = "open " + path + ": " + e.message;
    sqlite3_close_v2(db);
    return e;
  }
  sqlite3_extended_result_codes(db, 1);
  return Connection(db);
}

std::int64_t Connection::last_insert_rowid() const noexcept {
  return db_ ? sqlite3_last_insert_rowid(static_cast<sqlite3*>(db_)) : 0;
}

std::int64_t Connection::changes() const noexcept {
  return db_ ? sqlite3_changes64(static_cast<sqlite3*>(db_)) : 0;
}

bool Connection::in_transaction() const noexcept {
  return db_ && sqlite3_get_autocommit(static_cast<sqlite3*>(db_)) == 0;
}

Result<void> Connection::create_function(std::string_view name, int arity, Function fn,
                                         bool deterministic) {
  auto* db = static_cast<sqlite3*>(db_);
  if (!db) return Error{sqlite_code(SQLITE_MISUSE), "the connection is closed"};
  auto owned = std::make_unique<Function>(std::move(fn));
  const int flags = SQLITE_UTF8 | (deterministic ? SQLITE_DETERMINISTIC : 0);
  // SQLite owns the Function from here on, even when the call fails (then it destroys it).
  const int rc = sqlite3_create_function_v2(db, std::string(name).c_str(), arity, flags,
                                            owned.release(), &call_function, nullptr, nullptr,
                                            [](void* p) { delete static_cast<Function*>(p); });
  if (rc != SQLITE_OK) return sqlite_error(db, rc);
  return {};
}

Result<void> Connection::exec_params(const Context& ctx, std::string_view sql,
                                     std::span<const Param> params) {
  return run(ctx, sql, params, nullptr);
}

Result<Rows> Connection::query_params(const Context& ctx, std::string_view sql,
                                      std::span<const Param> params) {
  Rows rows;
  if (auto r = run(ctx, sql, params, &rows); !r) return r.error();
  return rows;
}

namespace {

/// Drops the whitespace and ';' separating statements from the front of `sql`.
void skip_separators(std::string_view& sql) noexcept {
  while (!sql.empty() && (sql.front() == ' ' || sql.front() == '\n' || sql.front() == '\t' ||
                          sql.front() == '\r' || sql.front() == ';'))
    sql.remove_prefix(1);
}

/// The next statement of `sql`, compiled, and its text; `sql` is left at what follows.
/// `stmt` is null when the rest was only a comment.
struct Prepared {
  StmtPtr stmt;
  std::string_view text;
};
Result<Prepared> prepare_next(const Context& ctx, sqlite3* db, std::string_view& sql) {
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, &tail);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) {
    if (ctx.err()) return context_error(ctx, "interrupted preparing \"" + excerpt(sql) + "\"");
    return sqlite_error(db, rc);
  }
  const std::string_view text = sql.substr(0, static_cast<std::size_t>(tail - sql.data()));
  sql.remove_prefix(text.size());
  return Prepared{std::move(stmt), text};
}

/// Checks that `params` fit the statement (and that only exec without parameters runs
/// several statements), then binds them.
Result<void> bind_checked(sqlite3* db, const Prepared& p, std::span<const Param> params,
                          bool several_allowed) {
  if (!several_allowed) {
    return Error{sqlite_code(SQLITE_MISUSE),
                 "several statements in one call are only allowed in exec without "
                 "parameters: \"" +
                     excerpt(p.text) + "\""};
  }
  const int expected = sqlite3_bind_parameter_count(p.stmt.get());
  if (static_cast<std::size_t>(expected) != params.size()) {
    return Error{sqlite_code(SQLITE_RANGE), "\"" + excerpt(p.text) + "\" takes " +
                                                std::to_string(expected) + " parameters, " +
                                                std::to_string(params.size()) + " given"};
  }
  if (const int rc = bind(p.stmt.get(), params); rc != SQLITE_OK) return sqlite_error(db, rc);
  return {};
}

/// The error for a statement that stopped with `rc`: the context's when it ended (an
/// interrupt, or a lock wait the busy handler gave up), saying what SQLite rolled back.
Error step_error(const Context& ctx, sqlite3* db, const Prepared& p, int rc,
                 bool was_in_transaction, bool is_write) {
  // A stale sqlite3_interrupt cannot reach the next statement: SQLite clears the flag
  // when a statement starts on a connection with no other statement running.
  const int primary = rc & 0xff;
  if (!ctx.err() ||
      (primary != SQLITE_INTERRUPT && primary != SQLITE_BUSY && primary != SQLITE_LOCKED))
    return sqlite_error(db, rc);
  std::string what = primary == SQLITE_INTERRUPT
                         ? "interrupted \"" + excerpt(p.text) + "\""
                         : "gave up waiting for a lock (" + std::string(sqlite3_errmsg(db)) +
                               ") for \"" + excerpt(p.text) + "\"";
  Error e = context_error(ctx, what);
  if (was_in_transaction && sqlite3_get_autocommit(db) != 0) {
    e.rolled_back = true;
    e.message += "; SQLite rolled back the enclosing transaction";
  } else if (is_write && primary == SQLITE_INTERRUPT) {
    e.message += "; the statement's changes were rolled back";
  }
  return e;
}

/// Steps the statement to its end, interrupted at once when the context ends; appends its
/// rows to `rows` when given.
Result<void> step_all(const Context& ctx, sqlite3* db, const Prepared& p, std::vector<Row>* rows) {
  const bool was_in_transaction = sqlite3_get_autocommit(db) == 0;
  const bool is_write = sqlite3_stmt_readonly(p.stmt.get()) == 0;
  int rc;
  {
    // The latency path: interrupt at once when the context ends. Deregistered (waiting
    // for a run in flight) before the statement is finalized.
    Registration interrupt = after_func(ctx, [db] { sqlite3_interrupt(db); });
    // tether-vet: ignore[loop-ignores-context] ctx stops sqlite3_step: handlers, interrupt
    while ((rc = sqlite3_step(p.stmt.get())) == SQLITE_ROW) {
      if (rows) rows->push_back(read_row(p.stmt.get()));
    }
    interrupt.stop_and_wait();
  }
  if (rc == SQLITE_DONE) return {};
  return step_error(ctx, db, p, rc, was_in_transaction, is_write);
}

}  // namespace

Result<void> Connection::run(const Context& ctx, std::string_view sql,
                             std::span<const Param> params, Rows* out) {
  auto* db = static_cast<sqlite3*>(db_);
  if (!db) return Error{sqlite_code(SQLITE_MISUSE), "the connection is closed"};
  HandlerScope handlers(ctx, db);

  std::vector<Row> rows;
  std::vector<std::string> columns;
  std::int64_t affected = 0;  // rows changed by the (last) statement
  bool first = true;
  for (skip_separators(sql); !sql.empty(); skip_separators(sql)) {
    if (ctx.err()) return context_error(ctx, "not started: \"" + excerpt(sql) + "\"");
    auto prepared = prepare_next(ctx, db, sql);
    if (!prepared) return prepared.error();
    if (!prepared->stmt) continue;  // only a comment or whitespace
    const bool several_allowed = first || (params.empty() && !out);
    if (auto bound = bind_checked(db, *prepared, params, several_allowed); !bound) return bound;
    first = false;
    if (out && columns.empty()) {
      for (int i = 0, n = sqlite3_column_count(prepared->stmt.get()); i < n; ++i)
        columns.emplace_back(sqlite3_column_name(prepared->stmt.get(), i));
    }
    const std::int64_t before = sqlite3_total_changes64(db);
    if (auto done = step_all(ctx, db, *prepared, out ? &rows : nullptr); !done) return done;
    affected = sqlite3_total_changes64(db) - before;
  }
  if (out) *out = Rows(std::move(columns), std::move(rows), affected);
  return {};
}

// ---- Pool ---------------------------------------------------------------------------------

// The slots, idle connections and waiting are tether::sql::PoolSlots'.
struct Pool::State final : sql::PoolSlots<Connection> {
  Pool::Options options;

  // A connection coming back is rolled back out of any transaction it was left in; it
  // stays if it is then open and outside a transaction.
  bool reusable(Connection& conn) noexcept override {
    if (conn.in_transaction()) (void)conn.exec(tether::background(), "ROLLBACK");
    return conn.is_open() && !conn.in_transaction();
  }
};

Pool::Pool(Options options) : state_(std::make_shared<State>()) {
  state_->options = std::move(options);
  state_->options.max_connections = std::max<std::size_t>(1, state_->options.max_connections);
}

Pool::~Pool() { state_->close(); }  // the idle connections close here, outside the lock

std::size_t Pool::open_count() const { return state_->open_count(); }

std::size_t Pool::idle_count() const { return state_->idle_count(); }

Result<Lease> Pool::acquire(const Context& ctx) {
  const std::shared_ptr<Pool::State> state = state_;
  Pool::State& s = *state;
  Registration wake;  // wakes the wait below when ctx ends; armed before the first wait
  bool armed = false;
  std::unique_lock lock(s.mu);
  while (!ctx.err() && !s.closed) {
    if (!s.idle.empty()) {
      std::unique_ptr<Connection> conn = std::move(s.idle.back());
      s.idle.pop_back();
      lock.unlock();
      wake.stop_and_wait();  // never with s.mu held: the callback takes it
      return Lease(state, std::move(conn));
    }
    if (s.open < s.options.max_connections) {
      ++s.open;
      lock.unlock();
      wake.stop_and_wait();
      return open_new();  // opening a file does not wait on ctx (see Connection::open)
    }
    State::wait(ctx, state, lock, wake, armed);
  }
  const bool closed = s.closed;
  const std::size_t max = s.options.max_connections;
  lock.unlock();
  wake.stop_and_wait();
  if (closed) return Error{sqlite_code(SQLITE_MISUSE), "the pool is closed"};
  return context_error(ctx,
                       "waiting for a free connection (all " + std::to_string(max) + " in use)");
}

// Opens a connection for a slot acquire() reserved (s.open counts it); frees the slot if
// opening or on_open fails.
Result<Lease> Pool::open_new() {
  Pool::State& s = *state_;
  auto opened = Connection::open(s.options.path, s.options.flags);
  Result<void> ready;
  if (opened && s.options.on_open) ready = s.options.on_open(*opened);
  if (opened && ready) return Lease(state_, std::make_unique<Connection>(std::move(*opened)));
  s.free_slot();
  if (!opened) return opened.error();
  return ready.error();
}

}  // namespace tether::sqlite
