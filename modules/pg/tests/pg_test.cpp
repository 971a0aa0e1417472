// tether::pg against a real PostgreSQL 15 server (see pg_server.hpp).
//
// These tests use real time where a real server is involved (a 100 ms cancel, a 200 ms
// deadline); the only timing they assert is the "well under a second" (< 1 s).
// Every wait is bounded: a broken implementation fails, it does not hang.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <limits>
#include <mutex>
#include <string>
#include <thread>

#include "pg_server.hpp"
#include "tcp_proxy.hpp"
#include "tether/context.hpp"
#include "tether/pg.hpp"

namespace {

using namespace std::chrono_literals;
namespace pg = tether::pg;
using tether_test::pg_server;

class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!pg_server().available()) GTEST_SKIP() << "SKIPPED: " << pg_server().skip_reason();
    ASSERT_TRUE(pg_server().failure().empty()) << pg_server().failure();
  }

  // A fresh connection on a context that bounds the connect (never hangs the test).
  static pg::Connection connect() {
    auto [ctx, cancel] = tether::with_timeout(tether::background(), 10s);
    auto c = pg::Connection::connect(ctx, pg_server().conninfo());
    if (!c) ADD_FAILURE() << "connect: " << c.error().message;
    return c ? std::move(*c) : pg::Connection();
  }

  // Polls pg_stat_activity from another connection until `pid` runs no query, at most
  // `bound`; returns the state last seen ("" = no such backend any more).
  static std::string wait_until_not_active(int pid, std::chrono::milliseconds bound) {
    pg::Connection observer = connect();
    auto [ctx, cancel] = tether::with_timeout(tether::background(), bound);
    std::string state = "active";
    while (!ctx.err()) {
      auto rows = observer.query(ctx, "SELECT state FROM pg_stat_activity WHERE pid = $1", pid);
      if (!rows) break;
      state = rows->empty() ? "" : rows->at(0).get<std::optional<std::string>>(0).value_or("");
      if (state != "active") break;
      // Re-check after the server had a moment; bounded by ctx, woken early by nothing.
      ctx.done().wait_for(10ms);
    }
    return state;
  }
};

TEST_F(PgTest, ConnectEndsWhenTheContextDoes) {
  // A listener that never answers: the TCP handshake completes (backlog), the startup
  // packet is never answered, so only the context can end the connect.
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(s, 8), 0);
  ASSERT_EQ(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string info = "host=127.0.0.1 port=" + std::to_string(ntohs(a.sin_port)) +
                           " user=tether dbname=postgres sslmode=disable";

  auto [ctx, cancel] = tether::with_timeout(tether::background(), 100ms);
  auto c = pg::Connection::connect(ctx, info);
  ::close(s);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, tether::errc::deadline_exceeded) << c.error().message;
}

TEST_F(PgTest, ConnectToNothingIsConnectionFailed) {
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 10s);
  auto c = pg::Connection::connect(ctx, "host=127.0.0.1 port=1 user=tether dbname=postgres");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, pg::errc::connection_failed);
  EXPECT_FALSE(c.error().message.empty());
}

TEST_F(PgTest, QueryReturnsTypedRowsAndBindsParameters) {
  pg::Connection conn = connect();
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 10s);
  const pg::Blob bytes = {std::byte{0x01}, std::byte{0xff}};
  auto rows = conn.query(ctx,
                         "SELECT $1::int8 AS i, $2::float8 AS d, $3::text AS t, NULL::text AS n, "
                         "$4::bool AS b, $5::bytea AS y",
                         std::int64_t{-42}, 2.5, "héllo", true, bytes);
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->columns(), (std::vector<std::string>{"i", "d", "t", "n", "b", "y"}));
  const pg::Row& r = rows->at(0);
  EXPECT_EQ(r.get<std::int64_t>(0), -42);
  EXPECT_EQ(r.get<double>(1), 2.5);
  EXPECT_EQ(r.get<std::string>(2), "héllo");
  EXPECT_TRUE(r.is_null(3));
  EXPECT_EQ(r.get<std::optional<std::string>>(3), std::nullopt);
  EXPECT_THROW(r.get<std::string>(3), std::invalid_argument);
  EXPECT_TRUE(r.get<bool>(4));
  EXPECT_EQ(r.get<pg::Blob>(5), bytes);
  EXPECT_THROW(r.get<std::int64_t>(2), std::invalid_argument);
}

TEST_F(PgTest, WellKnownTypesArriveTypedAndOthersAsTheirText) {
  pg::Connection conn = connect();
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 10s);
  auto rows = conn.query(ctx,
                         "SELECT 7::int2, 8::int4, 26::oid, 1.5::float4, 'Infinity'::float8, "
                         "false, 1.25::numeric, 'x'::varchar, $1, $2::int8, $3::bool",
                         "as text", 3.0, false);
  ASSERT_TRUE(rows) << rows.error().message;
  const pg::Row& r = rows->at(0);
  EXPECT_EQ(r.at(0), pg::Value(std::int64_t{7}));
  EXPECT_EQ(r.at(1), pg::Value(std::int64_t{8}));
  EXPECT_EQ(r.at(2), pg::Value(std::int64_t{26}));
  EXPECT_EQ(r.at(3), pg::Value(1.5));
  EXPECT_EQ(r.get<double>(4), std::numeric_limits<double>::infinity());
  EXPECT_EQ(r.at(5), pg::Value(std::int64_t{0})) << "bool is 0 or 1, as SQLite stores it";
  EXPECT_FALSE(r.get<bool>(5));
  EXPECT_EQ(r.at(6), pg::Value(std::string("1.25"))) << "numeric keeps its exact text";
  EXPECT_EQ(r.get<std::string>(7), "x");
  EXPECT_EQ(r.get<std::string>(8), "as text");
  EXPECT_EQ(r.get<std::int64_t>(9), 3) << "a double parameter sent as text";
  EXPECT_FALSE(r.get<bool>(10));
  EXPECT_THROW(r.get<std::string>(0), std::invalid_argument) << "no number -> text";
}

TEST_F(PgTest, ServerErrorsMapToThePortableSqlConditions) {
  pg::Connection conn = connect();
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 10s);
  ASSERT_TRUE(conn.exec(ctx, "CREATE TEMP TABLE u (k int PRIMARY KEY)"));
  ASSERT_TRUE(conn.exec(ctx, "INSERT INTO u VALUES (1)"));
  auto dup = conn.exec(ctx, "INSERT INTO u VALUES ($1)", 1);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, tether::sql::errc::constraint_violation);
  EXPECT_EQ(dup.error().code, pg::sqlstate_code("23505"));
  EXPECT_NE(dup.error().code, tether::sql::errc::busy);
  auto syntax = conn.query(ctx, "SELEKT 1");
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().code, tether::sql::errc::invalid_statement);
  ASSERT_TRUE(conn.exec(ctx, "BEGIN READ ONLY"));
  auto write = conn.exec(ctx, "CREATE TABLE not_temporary (x int)");  // temp tables are writable
  ASSERT_FALSE(write);
  EXPECT_EQ(write.error().code, tether::sql::errc::read_only);
  ASSERT_TRUE(conn.exec(ctx, "ROLLBACK"));
  EXPECT_EQ(pg::make_error_code(pg::errc::connection_lost), tether::sql::errc::connection_lost);
  EXPECT_EQ(pg::make_error_code(pg::errc::closed), tether::sql::errc::closed);
  EXPECT_EQ(pg::sqlstate_code("40P01"), tether::sql::errc::busy);
  EXPECT_EQ(pg::sqlstate_code("not a state"), pg::sqlstate_code("XX000"));
}

TEST_F(PgTest, ExecReportsAffectedRows) {
  pg::Connection conn = connect();
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 10s);
  ASSERT_TRUE(conn.exec(ctx, "CREATE TEMP TABLE t (x int)"));
  auto n = conn.exec(ctx, "INSERT INTO t SELECT generate_series(1, $1::int)", 3);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 3);
}

TEST_F(PgTest, ServerErrorCarriesSqlstateAndLeavesTheConnectionUsable) {
  pg::Connection conn = connect();
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 10s);
  auto bad = conn.query(ctx, "SELECT 1 / 0");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, pg::sqlstate_code("22012"));
  EXPECT_EQ(bad.error().code.category(), pg::sqlstate_category());
  EXPECT_EQ(bad.error().code.message(), "SQLSTATE 22012");
  EXPECT_EQ(bad.error().code, tether::sql::errc::invalid_data) << "class 22: data exception";
  EXPECT_EQ(bad.error().sqlstate, "22012");
  EXPECT_NE(bad.error().message.find("division by zero"), std::string::npos);
  EXPECT_TRUE(conn.healthy());
  auto ok = conn.query(ctx, "SELECT 1");
  ASSERT_TRUE(ok) << ok.error().message;
}

TEST_F(PgTest, PgSleepCancelledAfter100msReturnsCanceledWellUnderASecondAndStopsOnTheServer) {
  pg::Connection conn = connect();
  const int pid = conn.backend_pid();
  ASSERT_NE(pid, 0);

  auto [ctx, cancel] = tether::with_cancel(tether::background());
  // Cancels 100 ms after the query starts, from a timer context — no sleeping thread.
  auto [timer, stop_timer] = tether::with_timeout(tether::background(), 100ms);
  auto hook = tether::after_func(timer, cancel.func());

  const auto start = std::chrono::steady_clock::now();
  auto r = conn.query(ctx, "SELECT pg_sleep(30)");
  const auto took = std::chrono::steady_clock::now() - start;
  hook.stop_and_wait();

  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, tether::errc::canceled) << r.error().message;
  EXPECT_LT(took, 1s);
  EXPECT_NE(wait_until_not_active(pid, 5s), "active");
  // The call returned at once; the connection settles (cancel acknowledged, results read)
  // before its next use, and is kept.
  auto [bound, stop_bound] = tether::with_timeout(tether::background(), 10s);
  EXPECT_TRUE(conn.settle(bound)) << "a quiesced connection is kept";
  EXPECT_FALSE(conn.settling());
  EXPECT_TRUE(conn.healthy());
}

TEST_F(PgTest, WithoutTimeToQuiesceTheConnectionIsClosedAndTheServerStillStops) {
  auto [ctx0, c0] = tether::with_timeout(tether::background(), 10s);
  auto conn = pg::Connection::connect(ctx0, pg_server().conninfo(), {.cancel_grace = 0ms});
  ASSERT_TRUE(conn) << conn.error().message;
  const int pid = conn->backend_pid();

  auto [ctx, cancel] = tether::with_timeout(tether::background(), 100ms);
  auto r = conn->query(ctx, "SELECT pg_sleep(30)");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, tether::errc::deadline_exceeded) << r.error().message;
  EXPECT_NE(r.error().message.find("the connection was closed"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(conn->is_open());
  auto after = conn->query(ctx0, "SELECT 1");
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, pg::errc::closed);
  // The cancel request still went out: the backend does not sleep on for 30 s.
  EXPECT_NE(wait_until_not_active(pid, 5s), "active");
}

TEST_F(PgTest, DeadlineOf200msGivesDeadlineExceededAndTheNextQueryOnThePooledConnectionSucceeds) {
  pg::Pool pool({.conninfo = pg_server().conninfo(), .max_connections = 1});
  auto [outer, cancel] = tether::with_timeout(tether::background(), 20s);
  int pid = 0;
  {
    auto lease = pool.acquire(outer);
    ASSERT_TRUE(lease) << lease.error().message;
    pid = (*lease)->backend_pid();
    auto [ctx, c2] = tether::with_timeout(outer, 200ms);
    auto r = (*lease)->query(ctx, "SELECT pg_sleep(30)");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, tether::errc::deadline_exceeded) << r.error().message;
  }
  EXPECT_EQ(pool.idle_count(), 1u) << "the quiesced connection went back to the pool";

  auto lease = pool.acquire(outer);
  ASSERT_TRUE(lease) << lease.error().message;
  EXPECT_EQ((*lease)->backend_pid(), pid) << "the same pooled connection";
  // Long enough that a late cancel arriving now would hit it.
  auto next = (*lease)->query(outer, "SELECT pg_sleep(0.5), 7");
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(next->at(0).get<int>(1), 7);
}

TEST_F(PgTest, CancelsRacingCompletionNeverHitTheNextQuery) {
  pg::Connection conn = connect();
  auto [outer, cancel] = tether::with_timeout(tether::background(), 30s);
  for (int i = 0; i < 12; ++i) {
    {
      // The deadline lands around the moment the 20 ms query completes.
      auto [ctx, c2] = tether::with_timeout(outer, std::chrono::milliseconds(5 + 3 * i));
      auto r = conn.query(ctx, "SELECT pg_sleep(0.02)");
      if (!r) {
        EXPECT_EQ(r.error().code, tether::errc::deadline_exceeded) << r.error().message;
      }
    }
    if (!conn.is_open()) conn = connect();  // discarded after a grace timeout: allowed
    auto next = conn.query(outer, "SELECT pg_sleep(0.05), 1");
    ASSERT_TRUE(next) << "iteration " << i << ": " << next.error().message;
  }
}

TEST_F(PgTest, StatementTimeoutBackstopIsLocalToTheQuery) {
  pg::Connection conn = connect();
  auto [outer, cancel] = tether::with_timeout(tether::background(), 10s);
  auto show = [&](const tether::Context& ctx) {
    auto r = conn.query(ctx, "SHOW statement_timeout");
    return r ? r->at(0).get<std::string>(0) : "error: " + r.error().message;
  };
  // Inside a query with a deadline, the server sees a statement_timeout near it.
  auto seen = show(outer);
  EXPECT_NE(seen, "0") << "a deadline sets statement_timeout";
  EXPECT_EQ(show(tether::background()), "0") << "and it does not outlive the query";

  // In an explicit transaction, a later query without a deadline gets the old value back.
  ASSERT_TRUE(conn.exec(tether::background(), "BEGIN"));
  EXPECT_NE(show(outer), "0");
  EXPECT_EQ(show(tether::background()), "0");
  ASSERT_TRUE(conn.exec(tether::background(), "COMMIT"));
  EXPECT_EQ(show(tether::background()), "0");
}

TEST_F(PgTest, StatementTimeoutBackstopStopsTheQueryOnTheServer) {
  // With a negative margin the server's backstop fires before the client's deadline: the
  // server stops the query on its own and says why.
  auto [ctx0, c0] = tether::with_timeout(tether::background(), 10s);
  auto c = pg::Connection::connect(ctx0, pg_server().conninfo(),
                                   {.cancel_grace = 1000ms, .statement_timeout_margin = -150ms});
  ASSERT_TRUE(c) << c.error().message;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 300ms);
  auto r = c->query(ctx, "SELECT pg_sleep(30)");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sqlstate, "57014") << r.error().message;
  EXPECT_NE(r.error().message.find("statement timeout"), std::string::npos) << r.error().message;
}

TEST_F(PgTest, ServerKilledMidQueryGivesAClearErrorAndThePoolRecoversAfterRestart) {
  pg::Pool pool({.conninfo = pg_server().conninfo(), .max_connections = 2});
  auto [outer, cancel] = tether::with_timeout(tether::background(), 30s);
  {
    // An idle connection in the pool that the restart will kill too.
    auto idle = pool.acquire(outer);
    ASSERT_TRUE(idle) << idle.error().message;
  }
  auto lease = pool.acquire(outer);
  ASSERT_TRUE(lease) << lease.error().message;
  const int pid = (*lease)->backend_pid();

  const tether::Context query_ctx = outer;  // (lambdas cannot capture structured bindings)
  pg::Connection& conn = **lease;
  auto running =
      std::async(std::launch::async, [&] { return conn.query(query_ctx, "SELECT pg_sleep(30)"); });
  // Wait (bounded) until the server runs it, then kill the server.
  {
    pg::Connection observer = connect();
    bool active = false;
    auto [ctx, c2] = tether::with_timeout(outer, 5s);
    while (!ctx.err() && !active) {
      auto r = observer.query(ctx,
                              "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 "
                              "AND state = 'active'",
                              pid);
      active = r && r->at(0).get<int>(0) == 1;
      if (!active) ctx.done().wait_for(10ms);
    }
    ASSERT_TRUE(active) << "the query never started";
  }
  ASSERT_TRUE(pg_server().stop_immediately());

  ASSERT_EQ(running.wait_for(10s), std::future_status::ready) << "the query hung";
  auto r = running.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, pg::errc::connection_lost) << r.error().message;
  EXPECT_FALSE(r.error().message.empty());
  EXPECT_FALSE((*lease)->is_open());
  lease->release();  // back to the pool: discarded, as it is closed

  ASSERT_TRUE(pg_server().start());
  // Both connections work again: the one that died idle in the pool is replaced too.
  auto first = pool.acquire(outer);
  ASSERT_TRUE(first) << first.error().message;
  auto second = pool.acquire(outer);
  ASSERT_TRUE(second) << second.error().message;
  for (pg::Lease* l : {&*first, &*second}) {
    auto ok = (*l)->query(outer, "SELECT 1");
    ASSERT_TRUE(ok) << "after restart: " << ok.error().message;
  }
}

TEST_F(PgTest, AcquireOnAnExhaustedPoolEndsWithTheContext) {
  pg::Pool pool({.conninfo = pg_server().conninfo(), .max_connections = 1});
  auto [outer, cancel] = tether::with_timeout(tether::background(), 10s);
  auto held = pool.acquire(outer);
  ASSERT_TRUE(held) << held.error().message;

  auto [ctx, c2] = tether::with_timeout(outer, 100ms);
  auto r = pool.acquire(ctx);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, tether::errc::deadline_exceeded) << r.error().message;
  EXPECT_EQ(pool.open_count(), 1u);
}

TEST_F(PgTest, AcquireWaitsForAReturnedConnection) {
  pg::Pool pool({.conninfo = pg_server().conninfo(), .max_connections = 1});
  auto [outer, cancel] = tether::with_timeout(tether::background(), 10s);
  auto held = pool.acquire(outer);
  ASSERT_TRUE(held) << held.error().message;
  const int pid = (*held)->backend_pid();

  const tether::Context wait_ctx = outer;  // (lambdas cannot capture structured bindings)
  auto waiter = std::async(std::launch::async, [&] { return pool.acquire(wait_ctx); });
  EXPECT_EQ(waiter.wait_for(50ms), std::future_status::timeout) << "it must wait";
  held->release();  // return it: the waiter gets it
  ASSERT_EQ(waiter.wait_for(10s), std::future_status::ready);
  auto got = waiter.get();
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ((*got)->backend_pid(), pid);
}

TEST_F(PgTest, AConnectionLeftInATransactionIsNotReturnedToThePool) {
  pg::Pool pool({.conninfo = pg_server().conninfo(), .max_connections = 1});
  auto [outer, cancel] = tether::with_timeout(tether::background(), 10s);
  {
    auto lease = pool.acquire(outer);
    ASSERT_TRUE(lease);
    ASSERT_TRUE((*lease)->exec(outer, "BEGIN"));
  }
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_EQ(pool.open_count(), 0u);
}

// ---- a cleanup must not extend a deadline -------------------------------------------------

// A proxy between the client and the test cluster that holds every cancel request (a
// CancelRequest packet: length 16, code 80877102) until the test releases it: a server that
// is slow to acknowledge a cancel. Other connections pass straight through.
class SlowCancelServer {
 public:
  SlowCancelServer()
      : proxy_(port_of(pg_server().conninfo()),
               {.hold = [held = held_, release = release_](int, const std::string& first) {
                 if (first.size() < 8 ||
                     first.compare(0, 8, std::string("\0\0\0\x10\x04\xd2\x16\x2e", 8)) != 0)
                   return;
                 try {
                   held->set_value();
                 } catch (const std::future_error&) {  // a later cancel: not the first
                 }
                 release->wait_for(60s);
               }}) {}
  ~SlowCancelServer() { release(); }

  std::string conninfo() const {
    std::string info = pg_server().conninfo();
    const auto at = info.find("port=") + 5;
    return info.replace(at, info.find(' ', at) - at, std::to_string(proxy_.port()));
  }
  /// Ready once a cancel request has arrived (and is being held).
  std::future<void> cancel_arrived() { return held_->get_future(); }
  /// Lets the held cancel request through (and every later one).
  void release() {
    std::call_once(released_, [&] { release_promise_.set_value(); });
  }

 private:
  static std::uint16_t port_of(const std::string& info) {
    return static_cast<std::uint16_t>(std::stoi(info.substr(info.find("port=") + 5)));
  }
  std::shared_ptr<std::promise<void>> held_ = std::make_shared<std::promise<void>>();
  std::promise<void> release_promise_;
  std::shared_ptr<std::shared_future<void>> release_ =
      std::make_shared<std::shared_future<void>>(release_promise_.get_future().share());
  std::once_flag released_;
  tether_test::TcpProxy proxy_;
};

TEST_F(PgTest, ACancelSlowToBeAcknowledgedNeitherDelaysTheCallerNorHitsTheNextQuery) {
  SlowCancelServer server;
  auto [outer, stop] = tether::with_timeout(tether::background(), 60s);
  // A grace far longer than the test's bounds: a caller that waited for it would hang.
  auto conn = pg::Connection::connect(outer, server.conninfo(), {.cancel_grace = 120s});
  ASSERT_TRUE(conn) << conn.error().message;

  auto [ctx, cancel] = tether::with_timeout(tether::background(), 200ms);
  auto call = std::async(std::launch::async,
                         [&, c = ctx] { return conn->query(c, "SELECT pg_sleep(30)"); });
  auto arrived = server.cancel_arrived();
  ASSERT_EQ(arrived.wait_for(20s), std::future_status::ready) << "no cancel request was sent";
  // The cancel is held, unacknowledged — and the call has returned at its deadline.
  ASSERT_EQ(call.wait_for(20s), std::future_status::ready)
      << "the caller waited for the cancel to be acknowledged";
  auto r = call.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, tether::errc::deadline_exceeded) << r.error().message;
  EXPECT_TRUE(conn->is_open());
  EXPECT_TRUE(conn->settling());
  EXPECT_FALSE(conn->probe()) << "not reusable before the cancel is acknowledged";

  // The next query waits for the settle, within its own context: here it gives up.
  {
    auto [brief, stop_brief] = tether::with_timeout(tether::background(), 100ms);
    auto n = conn->query(brief, "SELECT 1");
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().code, tether::errc::deadline_exceeded) << n.error().message;
    EXPECT_TRUE(conn->settling());
  }
  // And here it goes through once the cancel is acknowledged: the late cancel lands on the
  // interrupted pg_sleep(30), never on this query (long enough to be hit if it were sent).
  auto next = std::async(std::launch::async,
                         [&, o = outer] { return conn->query(o, "SELECT pg_sleep(0.3), 7"); });
  server.release();
  auto n = next.get();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->at(0).get<int>(1), 7);
  EXPECT_FALSE(conn->settling());
  EXPECT_TRUE(conn->healthy());
}

TEST_F(PgTest, APoolHandsOutASettlingConnectionOnlyOnceItsCancelIsAcknowledged) {
  SlowCancelServer server;
  pg::Pool pool(
      {.conninfo = server.conninfo(), .max_connections = 1, .connection = {.cancel_grace = 120s}});
  auto [outer, stop] = tether::with_timeout(tether::background(), 60s);
  int pid = 0;
  {
    auto lease = pool.acquire(outer);
    ASSERT_TRUE(lease) << lease.error().message;
    pid = (*lease)->backend_pid();
    auto [ctx, c2] = tether::with_timeout(outer, 200ms);
    auto r = (*lease)->query(ctx, "SELECT pg_sleep(30)");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, tether::errc::deadline_exceeded) << r.error().message;
  }
  EXPECT_EQ(pool.idle_count(), 1u) << "the settling connection went back to the pool";
  auto arrived = server.cancel_arrived();
  ASSERT_EQ(arrived.wait_for(20s), std::future_status::ready);
  {
    auto [brief, stop_brief] = tether::with_timeout(tether::background(), 100ms);
    auto none = pool.acquire(brief);  // the only connection is not acknowledged yet
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, tether::errc::deadline_exceeded);
  }
  auto lease = std::async(std::launch::async, [&, o = outer] { return pool.acquire(o); });
  server.release();
  auto l = lease.get();
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ((*l)->backend_pid(), pid) << "the same connection, settled";
  auto next = (*l)->query(outer, "SELECT pg_sleep(0.3), 7");
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(next->at(0).get<int>(1), 7);
}

}  // namespace
