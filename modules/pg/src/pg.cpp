// tether::pg — see modules/pg/include/tether/pg.hpp for the contract.
#include "tether/pg.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "tether/sql/pool.hpp"

namespace tether::pg {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

class PgCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tether.pg"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::connection_failed:
        return "could not connect to the server";
      case errc::connection_lost:
        return "the connection to the server was lost";
      case errc::unsupported:
        return "unsupported result (the connection was closed)";
      case errc::closed:
        return "the connection is closed";
      case errc::pool_closed:
        return "the pool is closed";
    }
    return "unknown tether.pg error";
  }
  bool equivalent(int ev, const std::error_condition& cond) const noexcept override {
    if (cond.category() != sql::category()) return cond == default_error_condition(ev);
    switch (static_cast<errc>(ev)) {
      case errc::connection_failed:
        return cond == sql::errc::unavailable;
      case errc::connection_lost:
        return cond == sql::errc::connection_lost;
      case errc::closed:
      case errc::pool_closed:
        return cond == sql::errc::closed;
      default:
        return false;
    }
  }
};

// SQLSTATEs as error codes: five characters 0-9 / A-Z read as a base-36 number.
constexpr int kSqlstateBase = 36;

std::string sqlstate_text(int ev) {
  std::string out(5, '0');
  for (int i = 4; i >= 0; --i, ev /= kSqlstateBase) {
    const int d = ev % kSqlstateBase;
    out[static_cast<std::size_t>(i)] = static_cast<char>(d < 10 ? '0' + d : 'A' + d - 10);
  }
  return out;
}

std::optional<sql::errc> sqlstate_condition(const std::string& state) noexcept {
  const std::string_view cls = std::string_view(state).substr(0, 2);
  if (cls == "23") return sql::errc::constraint_violation;
  if (state == "40001" || state == "40P01" || state == "55P03") return sql::errc::busy;
  if (cls == "42") return sql::errc::invalid_statement;
  if (cls == "22") return sql::errc::invalid_data;
  if (state == "25006") return sql::errc::read_only;
  if (cls == "08" || state == "57P01" || state == "57P02" || state == "57P03")
    return sql::errc::connection_lost;
  return std::nullopt;
}

class SqlstateCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tether.pg.sqlstate"; }
  std::string message(int ev) const override { return "SQLSTATE " + sqlstate_text(ev); }
  bool equivalent(int ev, const std::error_condition& cond) const noexcept override {
    if (cond.category() != sql::category()) return cond == default_error_condition(ev);
    const auto portable = sqlstate_condition(sqlstate_text(ev));
    return portable && cond == *portable;
  }
};

PGconn* as_pg(void* p) noexcept { return static_cast<PGconn*>(p); }

// libpq's messages end with a newline; error strings read better without it.
std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

Error context_error(const Context& ctx, const std::string& detail, std::string sqlstate = {}) {
  return Error{ctx.err(), tether::cause(ctx).message() + ": " + detail, std::move(sqlstate)};
}

// ---- the cancel threads ---------------------------------------------------------------

// The outcome of one cancel request, shared by the query that asked and the cancel thread.
struct CancelTicket {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;  // written under mu
  bool sent = false;  // written under mu: PQcancel returned 1 (the server acknowledged)
  std::string error;  // written under mu

  void complete(bool ok, std::string why) {
    {
      std::lock_guard lock(mu);
      done = true;
      sent = ok;
      error = std::move(why);
    }
    cv.notify_all();
  }
  // Waits until the request is done, `until` passes (real time) or `ctx` ends.
  void wait_until(const Context& ctx, SteadyTime until) {
    Registration wake = after_func(ctx, [this] {
      std::lock_guard lock(mu);
      cv.notify_all();
    });
    {
      std::unique_lock lock(mu);
      cv.wait_until(lock, until, [&] { return done || ctx.err(); });
    }
    wake.stop_and_wait();  // the callback touches this ticket
  }
  // {done, sent}, without waiting.
  std::pair<bool, bool> state() {
    std::lock_guard lock(mu);
    return {done, sent};
  }
};

// A CancelService runs PQcancel — which blocks on a TCP exchange with the server — off the
// querying thread. Its threads are started on demand (at most kMaxThreads), reused for
// every later request, and joined when the process exits.
class CancelService {
 public:
  static constexpr std::size_t kMaxThreads = 4;

  ~CancelService() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // Takes ownership of `cancel` (may be null: the ticket then fails at once).
  std::shared_ptr<CancelTicket> submit(PGcancel* cancel) {
    auto ticket = std::make_shared<CancelTicket>();
    if (!cancel) {
      ticket->complete(false, "PQgetCancel failed");
      return ticket;
    }
    {
      std::lock_guard lock(mu_);
      queue_.push_back({cancel, ticket});
      if (idle_ == 0 && threads_.size() < kMaxThreads) {
        ++idle_;  // the new thread counts as idle until it takes a request
        threads_.emplace_back([this] { work(); });
      }
    }
    cv_.notify_one();
    return ticket;
  }

 private:
  struct Request {
    PGcancel* cancel;
    std::shared_ptr<CancelTicket> ticket;
  };

  void work() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      Request r = std::move(queue_.front());
      queue_.pop_front();
      --idle_;
      lock.unlock();
      char errbuf[256] = {};
      const bool ok = PQcancel(r.cancel, errbuf, sizeof errbuf) == 1;
      PQfreeCancel(r.cancel);
      r.ticket->complete(ok, trimmed(errbuf));
      lock.lock();
      ++idle_;
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> queue_;         // under mu_
  std::vector<std::thread> threads_;  // under mu_
  std::size_t idle_ = 0;              // under mu_: threads waiting for a request
  bool stopping_ = false;             // under mu_
};

CancelService& cancel_service() {
  static CancelService service;
  return service;
}

// ---- waiting on the socket and the context --------------------------------------------

enum class Ready { socket, done, timeout };

// Waits until `sock` has `events`, or `done_fd` (if >= 0) is readable, or `until` passes.
// The socket wins a tie: results that already arrived are read before giving up.
Ready wait_for(int sock, short events, int done_fd, std::optional<SteadyTime> until) {
  while (true) {
    pollfd fds[2] = {{sock, events, 0}, {done_fd, POLLIN, 0}};
    int timeout = -1;
    if (until) {
      auto left =
          std::chrono::ceil<std::chrono::milliseconds>(*until - std::chrono::steady_clock::now());
      timeout = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    const int n = ::poll(fds, done_fd >= 0 ? 2 : 1, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Ready::socket;  // let libpq discover and report the failure
    if (fds[0].revents != 0) return Ready::socket;
    if (done_fd >= 0 && fds[1].revents != 0) return Ready::done;
    if (n == 0) return Ready::timeout;
  }
}

// ---- what goes out and what comes back -------------------------------------------------

// PostgreSQL type OIDs (pg_type.h) converted to typed values; every other type is text.
constexpr Oid kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23,
              kOidOid = 26, kFloat4Oid = 700, kFloat8Oid = 701;

// bytea's hex output format ("\x01ff"); nullopt for anything else (bytea_output = escape).
std::optional<Blob> decode_bytea(std::string_view text) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0)
    return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Blob out;
  out.reserve((text.size() - 2) / 2);
  for (std::size_t i = 2; i < text.size(); i += 2) {
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<std::byte>(hi * 16 + lo));
  }
  return out;
}

// `text` parsed as a T, or the text itself if it does not parse (never for the server's
// own output of the type).
template <class T>
Value parsed(std::string_view text) {
  T out{};
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) return std::string(text);
  return out;
}

// Column f of row t, typed by the column's type OID (see tether/sql.hpp, Value).
Value column_value(const PGresult* r, int t, int f) {
  if (PQgetisnull(r, t, f)) return Null{};
  const std::string_view text(PQgetvalue(r, t, f), static_cast<std::size_t>(PQgetlength(r, t, f)));
  switch (PQftype(r, f)) {
    case kBoolOid:
      return std::int64_t{text == "t" ? 1 : 0};
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid:
      return parsed<std::int64_t>(text);
    case kFloat4Oid:
    case kFloat8Oid:
      return parsed<double>(text);
    case kByteaOid:
      if (auto blob = decode_bytea(text)) return std::move(*blob);
      return std::string(text);
    default:
      return std::string(text);
  }
}

// The parameters in libpq's form: text (NUL-terminated copies) or, for blobs, binary.
struct WireParams {
  std::vector<std::string> storage;
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
};

std::string param_text(const Param& p) {
  switch (p.kind()) {
    case Param::Kind::integer:
      return std::to_string(p.integer());
    case Param::Kind::boolean:
      return p.integer() ? "true" : "false";
    case Param::Kind::real: {
      char buf[32];
      const auto r = std::to_chars(buf, buf + sizeof buf, p.real());
      return std::string(buf, r.ptr);
    }
    case Param::Kind::text:
      return std::string(p.text());
    case Param::Kind::blob:
      return std::string(reinterpret_cast<const char*>(p.blob().data()), p.blob().size());
    case Param::Kind::null:
      break;
  }
  return {};
}

WireParams wire_params(std::span<const Param> params) {
  WireParams w;
  w.storage.reserve(params.size());  // no reallocation: values point into it
  for (const Param& p : params) {
    if (p.kind() == Param::Kind::null) {
      w.values.push_back(nullptr);
      w.lengths.push_back(0);
      w.formats.push_back(0);
      continue;
    }
    w.storage.push_back(param_text(p));
    w.values.push_back(w.storage.back().c_str());
    w.lengths.push_back(static_cast<int>(w.storage.back().size()));
    w.formats.push_back(p.kind() == Param::Kind::blob ? 1 : 0);
  }
  return w;
}

constexpr const char* kSetTimeout =
    "SELECT current_setting('statement_timeout'), set_config('statement_timeout', $1, true)";
constexpr const char* kQueryCanceled = "57014";

}  // namespace

// ---- one query in flight ---------------------------------------------------------------

// The results of one query as they arrive. In pipeline mode the sequence is:
//   [set_config result] NULL  [query result] NULL  PIPELINE_SYNC
// and without it: [query result] NULL.
struct Connection::InFlight {
  PGconn* conn;
  bool pipeline;
  int phase;              // pipeline: 0 = set_config, 1 = the query; else always 1
  bool finished = false;  // every result read (NULL, or PIPELINE_SYNC)
  std::vector<std::string> columns;
  std::vector<Row> rows;
  std::int64_t affected = 0;
  std::optional<std::string> prior_timeout;  // statement_timeout before set_config
  std::optional<Error> error;                // the first error the server reported
  bool unsupported = false;

  InFlight(PGconn* c, bool p) : conn(c), pipeline(p), phase(p ? 0 : 1) {}

  // Reads everything that has arrived, without blocking. False if the connection broke.
  bool consume() {
    if (PQconsumeInput(conn) == 0) return false;
    while (!finished && PQisBusy(conn) == 0) {
      PGresult* r = PQgetResult(conn);
      if (!r) {
        if (!pipeline) finished = true;
        ++phase;
        continue;
      }
      take(r);
      PQclear(r);
      if (unsupported) return false;
    }
    return true;
  }

  void take(PGresult* r) {
    switch (PQresultStatus(r)) {
      case PGRES_PIPELINE_SYNC:
        finished = true;
        break;
      case PGRES_PIPELINE_ABORTED:
        break;  // an earlier statement of the pipeline failed: its error is recorded
      case PGRES_TUPLES_OK:
      case PGRES_SINGLE_TUPLE:
      case PGRES_COMMAND_OK:
        if (phase == 0) {
          if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) prior_timeout = PQgetvalue(r, 0, 0);
        } else {
          read_rows(r);
        }
        break;
      case PGRES_COPY_IN:
      case PGRES_COPY_OUT:
      case PGRES_COPY_BOTH:
        unsupported = true;
        break;
      default:
        if (!error) {
          const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
          const std::string sqlstate = state ? state : "XX000";
          error = Error{sqlstate_code(sqlstate), trimmed(PQresultErrorMessage(r)), sqlstate};
        }
    }
  }

  void read_rows(PGresult* r) {
    const int nf = PQnfields(r);
    const int nt = PQntuples(r);
    if (columns.empty())
      for (int f = 0; f < nf; ++f) columns.emplace_back(PQfname(r, f));
    rows.reserve(rows.size() + static_cast<std::size_t>(nt));
    for (int t = 0; t < nt; ++t) {
      std::vector<Value> values;
      values.reserve(static_cast<std::size_t>(nf));
      for (int f = 0; f < nf; ++f) values.push_back(column_value(r, t, f));
      rows.emplace_back(std::move(values));
    }
    const char* n = PQcmdTuples(r);
    if (n && *n) std::from_chars(n, n + std::char_traits<char>::length(n), affected);
  }
};

// A cancel cleanup in progress: the interrupted query's results still being read, and the
// cancel request whose acknowledgement is awaited, within `until` (the cancel + grace).
struct Connection::Settling {
  std::shared_ptr<CancelTicket> ticket;
  InFlight q;
  SteadyTime until;
  bool broken = false;  // the connection broke while draining
};

const std::error_category& category() noexcept {
  static const PgCategory c;
  return c;
}

const std::error_category& sqlstate_category() noexcept {
  static const SqlstateCategory c;
  return c;
}

std::error_code sqlstate_code(std::string_view sqlstate) noexcept {
  int ev = 0;
  for (char c : sqlstate) {
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    if (c >= 'A' && c <= 'Z') d = c - 'A' + 10;
    if (d < 0 || sqlstate.size() != 5) return sqlstate_code("XX000");
    ev = ev * kSqlstateBase + d;
  }
  if (sqlstate.size() != 5) return sqlstate_code("XX000");
  return {ev, sqlstate_category()};
}

// ---- Connection ---------------------------------------------------------------------------

Connection::Connection(Connection&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)),
      options_(other.options_),
      settling_(std::move(other.settling_)),
      saved_statement_timeout_(std::move(other.saved_statement_timeout_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    conn_ = std::exchange(other.conn_, nullptr);
    options_ = other.options_;
    settling_ = std::move(other.settling_);
    saved_statement_timeout_ = std::move(other.saved_statement_timeout_);
  }
  return *this;
}

Connection::~Connection() { close(); }

void Connection::close() noexcept {
  // No hook ever holds this PGconn: cancel requests carry their own PGcancel copy.
  if (conn_) PQfinish(as_pg(std::exchange(conn_, nullptr)));
  settling_.reset();  // the cancel thread holds its own ticket, not this connection
  saved_statement_timeout_.reset();
}

int Connection::backend_pid() const noexcept { return conn_ ? PQbackendPID(as_pg(conn_)) : 0; }

bool Connection::healthy() const noexcept {
  return conn_ && !settling_ && PQstatus(as_pg(conn_)) == CONNECTION_OK &&
         PQtransactionStatus(as_pg(conn_)) == PQTRANS_IDLE;
}

bool Connection::probe() noexcept {
  if (settling_ && !finish_settling(nullptr, -1)) return false;
  if (!healthy()) return false;
  PGconn* c = as_pg(conn_);
  pollfd p{PQsocket(c), POLLIN, 0};
  if (::poll(&p, 1, 0) > 0) {
    // Something arrived while idle: a notice, or the server shutting the connection down.
    if (PQconsumeInput(c) == 0) return false;
  }
  return healthy();
}

Result<Connection> Connection::connect(const Context& ctx, std::string_view conninfo) {
  return connect(ctx, conninfo, Options{});
}

bool Connection::settle(const Context& ctx) {
  if (settling_) {
    int done_fd = -1;
    try {
      done_fd = ctx.done().fd();
    } catch (const std::system_error&) {
      return false;  // no descriptor: cannot wait; still settling
    }
    finish_settling(&ctx, done_fd);
  }
  return healthy();
}

bool Connection::finish_settling(const Context* ctx, int done_fd) {
  while (settling_) {
    Settling& s = *settling_;
    PGconn* c = as_pg(conn_);
    if (!s.q.finished && !s.broken && !s.q.consume()) s.broken = true;
    const auto [answered, acknowledged] = s.ticket->state();
    if (s.q.finished && !s.broken && answered && acknowledged) {
      // Settled: leave pipeline mode (a pipelined query ended with its Sync).
      const bool ok = PQstatus(c) == CONNECTION_OK && (!s.q.pipeline || PQexitPipelineMode(c) == 1);
      settling_.reset();
      if (!ok) close();
      if (conn_ && PQtransactionStatus(c) == PQTRANS_IDLE) saved_statement_timeout_.reset();
      return true;
    }
    // Broken, the cancel not delivered (it may still be running), or out of grace: closed.
    if (s.broken || (answered && !acknowledged) || std::chrono::steady_clock::now() >= s.until) {
      close();
      return true;
    }
    if (!ctx || ctx->err()) return false;
    if (!s.q.finished) {
      if (wait_for(PQsocket(c), POLLIN, done_fd, s.until) == Ready::done) return false;
    } else {
      s.ticket->wait_until(*ctx, s.until);
    }
  }
  return true;
}

Result<Connection> Connection::connect(const Context& ctx, std::string_view conninfo,
                                       Options options) {
  if (ctx.err()) return context_error(ctx, "not connecting");
  int done_fd;
  try {
    done_fd = ctx.done().fd();
  } catch (const std::system_error& e) {
    return Error{e.code(), e.what()};
  }
  const std::string info(conninfo);
  // expand_dbname = 1: the "dbname" value is a whole connection string or URI.
  const char* const keys[] = {"dbname", nullptr};
  const char* const values[] = {info.c_str(), nullptr};
  PGconn* c = PQconnectStartParams(keys, values, 1);
  if (!c) return Error{make_error_code(errc::connection_failed), "out of memory"};
  Connection conn(c, options);  // closes `c` on every early return
  // Server notices (NOTICE, WARNING) are dropped: libpq's default prints them to stderr.
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  if (PQstatus(c) == CONNECTION_BAD)
    return Error{make_error_code(errc::connection_failed), trimmed(PQerrorMessage(c))};

  // As the libpq manual says: start as if PQconnectPoll had returned PGRES_POLLING_WRITING,
  // and fetch the socket anew each round (it may change between attempts).
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED)
      return Error{make_error_code(errc::connection_failed), trimmed(PQerrorMessage(c))};
    const short events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (wait_for(PQsocket(c), events, done_fd, std::nullopt) == Ready::done)
      return context_error(ctx, "connecting to the server");
    st = PQconnectPoll(c);
  }
  if (PQsetnonblocking(c, 1) != 0)
    return Error{make_error_code(errc::connection_failed), trimmed(PQerrorMessage(c))};
  return conn;
}

// A query, in named steps: ready_to_send (the connection is open and settled), backstop
// (the statement_timeout to pipeline in front), send, receive, finish_query.
Result<Rows> Connection::query_params(const Context& ctx, std::string_view sql,
                                      std::span<const Param> params) {
  auto done_fd = ready_to_send(ctx);
  if (!done_fd) return done_fd.error();
  auto timeout = backstop(ctx);
  if (!timeout) return timeout.error();
  if (auto sent = send(ctx, sql, params, *timeout, *done_fd); !sent) return sent.error();
  InFlight q(as_pg(conn_), timeout->has_value());
  if (auto received = receive(ctx, q, *done_fd); !received) return received.error();
  return finish_query(ctx, q);
}

// The context's descriptor, once the connection is open and any earlier cancel settled.
Result<int> Connection::ready_to_send(const Context& ctx) {
  if (!conn_) return Error{make_error_code(errc::closed), "the connection is closed"};
  if (ctx.err()) return context_error(ctx, "not sent");
  int done_fd;
  try {
    done_fd = ctx.done().fd();
  } catch (const std::system_error& e) {
    return Error{e.code(), e.what()};
  }
  if (settling_ && !finish_settling(&ctx, done_fd))
    return context_error(ctx, "not sent: the previous query's cancel is not acknowledged yet");
  if (!conn_) {
    return Error{make_error_code(errc::closed),
                 "the connection was closed: the previous query's cancel did not settle within "
                 "cancel_grace"};
  }
  return done_fd;
}

// The server-side backstop: the statement_timeout to set, local to this query's
// transaction (nullopt: none, and no pipeline). An error if the deadline already passed.
Result<std::optional<std::string>> Connection::backstop(const Context& ctx) {
  const PGTransactionStatusType tx = PQtransactionStatus(as_pg(conn_));
  if (tx == PQTRANS_IDLE) saved_statement_timeout_.reset();  // every local setting has ended
  if (auto deadline = ctx.deadline(); deadline && tx != PQTRANS_INERROR) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - tether::now());
    if (left.count() <= 0) {
      return Error{make_error_code(tether::errc::deadline_exceeded),
                   "context deadline exceeded: the deadline passed before the query was sent"};
    }
    // At least 1 ms: statement_timeout = 0 would mean "no limit".
    return std::optional<std::string>(std::to_string(
        std::max<std::int64_t>(1, (left + options_.statement_timeout_margin).count())));
  } else if (!deadline && tx == PQTRANS_INTRANS && saved_statement_timeout_) {
    return saved_statement_timeout_;  // an earlier query's deadline must not linger
  }
  return std::optional<std::string>();
}

// Closes the connection; the error says what broke.
Error Connection::lost(const std::string& prefix) {
  Error e{make_error_code(errc::connection_lost),
          prefix + trimmed(PQerrorMessage(as_pg(conn_))) + " (the connection was closed)"};
  close();
  return e;
}

// Queues the query (behind set_config in a pipeline when there is a timeout) and flushes
// it onto the socket, giving up (and closing: half a query is on the wire) if ctx ends.
Result<void> Connection::send(const Context& ctx, std::string_view sql,
                              std::span<const Param> params,
                              const std::optional<std::string>& timeout, int done_fd) {
  PGconn* c = as_pg(conn_);
  const WireParams w = wire_params(params);
  const std::string text(sql);
  bool sent = true;
  if (timeout) {
    const char* tv[] = {timeout->c_str()};
    sent = PQenterPipelineMode(c) == 1 &&
           PQsendQueryParams(c, kSetTimeout, 1, nullptr, tv, nullptr, nullptr, 0) == 1;
  }
  sent = sent && PQsendQueryParams(c, text.c_str(), static_cast<int>(params.size()), nullptr,
                                   w.values.data(), w.lengths.data(), w.formats.data(), 0) == 1;
  if (timeout) sent = sent && PQpipelineSync(c) == 1;
  if (!sent) return lost("sending the query: ");
  if (PQsocket(c) < 0) return lost("no socket: ");
  while (true) {
    const int f = PQflush(c);
    if (f == 0) return {};
    if (f < 0) return lost("sending the query: ");
    if (wait_for(PQsocket(c), POLLIN | POLLOUT, done_fd, std::nullopt) == Ready::done) {
      close();
      return context_error(ctx, "the query was not fully sent; the connection was closed");
    }
    if (PQconsumeInput(c) == 0) return lost("sending the query: ");
  }
}

// Reads the query's results to the end, or until ctx ends (then cancel() decides).
Result<void> Connection::receive(const Context& ctx, InFlight& q, int done_fd) {
  const int sock = PQsocket(as_pg(conn_));
  while (!q.finished) {
    if (wait_for(sock, POLLIN, done_fd, std::nullopt) == Ready::done) return cancel(ctx, q);
    if (q.consume()) continue;
    if (q.unsupported) {
      close();
      return Error{make_error_code(errc::unsupported),
                   "COPY is not supported by tether::pg; the connection was closed"};
    }
    return lost(q.error ? q.error->message + "; " : std::string());
  }
  return {};
}

// The context ended first: cancel, read what has arrived, and return now; the connection
// settles before its next use (see the header). The error says what was known.
Error Connection::cancel(const Context& ctx, InFlight& q) {
  auto ticket = cancel_service().submit(PQgetCancel(as_pg(conn_)));
  const SteadyTime until = std::chrono::steady_clock::now() + options_.cancel_grace;
  settling_ = std::make_shared<Settling>(Settling{std::move(ticket), std::move(q), until});
  finish_settling(nullptr, -1);  // no waiting: settles only if all is in already
  std::string detail;
  std::string sqlstate;
  const Settling* s = settling_.get();
  if (s && s->q.error) {
    detail = s->q.error->message;
    sqlstate = s->q.error->sqlstate;
  } else if (s && s->q.finished) {
    detail = "the query completed before the cancel reached it; its result will be discarded";
  } else if (s) {
    detail = "the cancel request was sent; the connection settles before its next use";
  } else {
    detail = "the cancel request was sent";
  }
  if (!conn_) detail += "; the connection was closed";
  return context_error(ctx, detail, sqlstate);
}

// After every result was read: leaves pipeline mode, remembers the statement_timeout to
// restore, and turns the outcome into rows or an error.
Result<Rows> Connection::finish_query(const Context& ctx, InFlight& q) {
  PGconn* c = as_pg(conn_);
  if (q.pipeline && PQexitPipelineMode(c) != 1) return lost("leaving pipeline mode: ");
  if (PQstatus(c) != CONNECTION_OK) return lost(q.error ? q.error->message + "; " : "");
  remember_statement_timeout(ctx, q);
  if (!q.error) return Rows(std::move(q.columns), std::move(q.rows), q.affected);
  if (q.error->sqlstate == kQueryCanceled) {
    // Our statement_timeout backstop, or a cancel racing the context's end.
    if (ctx.err()) return context_error(ctx, q.error->message, q.error->sqlstate);
    if (auto d = ctx.deadline(); d && tether::now() >= *d) {
      return Error{make_error_code(tether::errc::deadline_exceeded),
                   "context deadline exceeded: " + q.error->message, q.error->sqlstate};
    }
  }
  return *q.error;
}

// Remembers the statement_timeout to restore if this query left a transaction open with
// our local setting in it (for instance a BEGIN with a deadline).
void Connection::remember_statement_timeout(const Context& ctx, const InFlight& q) {
  const PGTransactionStatusType after = PQtransactionStatus(as_pg(conn_));
  if (after == PQTRANS_IDLE) {
    saved_statement_timeout_.reset();
  } else if (q.pipeline && !saved_statement_timeout_ && q.prior_timeout && !q.error) {
    saved_statement_timeout_ = q.prior_timeout;
  } else if (q.pipeline && !ctx.deadline()) {
    saved_statement_timeout_.reset();  // restored above
  }
}

// ---- Pool ---------------------------------------------------------------------------------

// The slots, idle connections and waiting are tether::sql::PoolSlots'.
struct Pool::State final : sql::PoolSlots<Connection> {
  std::string conninfo;
  std::size_t max_connections;
  Connection::Options options;

  // A connection coming back stays if healthy or settling (acquire settles it before
  // handing it out).
  bool reusable(Connection& conn) noexcept override {
    return conn.healthy() || (conn.settling() && conn.is_open());
  }

  // One pass over the idle connections, newest first, with `lock` held (released while a
  // candidate is probed): returns one that is healthy or, probed, has settled meanwhile;
  // drops one found dead (a server restart). nullptr when none is; then `retry` says a dead
  // one was dropped, so the rest deserve another look.
  std::unique_ptr<Connection> take_idle(std::unique_lock<std::mutex>& lock, bool& retry) {
    std::size_t still_settling = 0;
    for (std::size_t i = idle.size(); i-- > 0;) {
      if (idle[i]->settling() && !idle[i]->probe() && idle[i]->settling()) {
        ++still_settling;
        continue;
      }
      std::unique_ptr<Connection> conn = std::move(idle[i]);
      idle.erase(idle.begin() + static_cast<std::ptrdiff_t>(i));
      lock.unlock();
      const bool alive = conn->probe();
      if (!alive) conn.reset();  // died while idle, or closed while settling
      lock.lock();
      if (alive) return conn;
      --open;
      break;
    }
    retry = still_settling != idle.size();
    return nullptr;
  }

  // With only settling connections idle: settles the oldest on this thread, within ctx
  // (`lock` released meanwhile). Returns it if it became healthy; otherwise puts it back
  // (ctx ended first: still settling) or drops it (closed: out of grace).
  std::unique_ptr<Connection> settle_oldest(const Context& ctx,
                                            std::unique_lock<std::mutex>& lock) {
    std::unique_ptr<Connection> conn = std::move(idle.front());
    idle.erase(idle.begin());
    lock.unlock();
    const bool settled = conn->settle(ctx);
    const bool still_settling = !settled && conn->is_open() && conn->settling();
    if (!settled && !still_settling) conn.reset();
    lock.lock();
    if (settled) return conn;
    if (still_settling) {
      idle.push_back(std::move(conn));
    } else {
      --open;
    }
    return nullptr;
  }
};

Pool::Pool(Options options) : state_(std::make_shared<State>()) {
  state_->conninfo = std::move(options.conninfo);
  state_->max_connections = std::max<std::size_t>(1, options.max_connections);
  state_->options = options.connection;
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
  auto finish = [&](Result<Lease> r) {
    lock.unlock();
    if (armed) wake.stop_and_wait();  // never with s.mu held: the callback takes it
    return r;
  };
  while (true) {
    if (s.closed) return finish(Error{make_error_code(errc::pool_closed), "the pool is closed"});
    if (ctx.err()) {
      return finish(context_error(ctx, "waiting for a free connection (all " +
                                           std::to_string(s.max_connections) + " in use)"));
    }
    bool retry = false;
    if (auto conn = s.take_idle(lock, retry)) return finish(Lease(state, std::move(conn)));
    if (retry) continue;
    if (s.open >= s.max_connections && !s.idle.empty()) {
      // Only settling connections to wait for: settle the oldest here, within ctx.
      if (auto conn = s.settle_oldest(ctx, lock)) return finish(Lease(state, std::move(conn)));
      continue;
    }
    if (s.open < s.max_connections) {
      ++s.open;
      lock.unlock();
      Result<Lease> opened = open_new(ctx);
      lock.lock();
      return finish(std::move(opened));
    }
    State::wait(ctx, state, lock, wake, armed);
  }
}

// Connects for a slot acquire() reserved (s.open counts it); frees the slot on failure.
Result<Lease> Pool::open_new(const Context& ctx) {
  Pool::State& s = *state_;
  auto conn = Connection::connect(ctx, s.conninfo, s.options);
  if (conn) return Lease(state_, std::make_unique<Connection>(std::move(*conn)));
  s.free_slot();
  return conn.error();
}

}  // namespace tether::pg
