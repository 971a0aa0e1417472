// tether::sqlite against real SQLite databases (files in a temporary directory).
//
// Long statements are made observable without sleeping: a test-only SQL function,
// signal_running(x), fulfils a promise the first time SQLite evaluates it, so the test
// thread knows the statement is executing before it cancels or advances the ManualClock.
// Every wait is bounded; if cancellation were broken, a fallback sqlite3_interrupt ends the
// statement and the test fails instead of hanging.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

#include "tether/context.hpp"
#include "tether/sqlite.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
namespace sq = tether::sqlite;

// An infinite recursive CTE: only cancellation ends it.
constexpr const char* kEndlessCount =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT count(*) FROM c WHERE signal_running(x)";

// Fulfils `started` on its first call; registered on a connection as signal_running(x).
struct RunningSignal {
  std::promise<void> started;
  std::atomic<bool> fired{false};

  static void fn(sqlite3_context* c, int, sqlite3_value**) {
    auto* self = static_cast<RunningSignal*>(sqlite3_user_data(c));
    if (!self->fired.exchange(true)) self->started.set_value();
    sqlite3_result_int(c, 1);
  }
  void install(sq::Connection& conn) {
    ASSERT_EQ(
        sqlite3_create_function_v2(static_cast<sqlite3*>(conn.native_handle()), "signal_running", 1,
                                   SQLITE_UTF8, this, &fn, nullptr, nullptr, nullptr),
        SQLITE_OK);
  }
};

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tether-sqlite-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  sq::Connection open(const std::string& name = "test.db") {
    auto c = sq::Connection::open(dir_ + "/" + name);
    if (!c) ADD_FAILURE() << c.error().message;
    return c ? std::move(*c) : sq::Connection();
  }

  // Waits for `f` (bounded); if it is not ready, interrupts `conn` so the test cannot hang.
  template <class T>
  static bool finishes(std::future<T>& f, sq::Connection& conn) {
    if (f.wait_for(10s) == std::future_status::ready) return true;
    sqlite3_interrupt(static_cast<sqlite3*>(conn.native_handle()));
    f.wait();
    return false;
  }

  // Waits (bounded) until `ctx` has an after_func registered: a statement is running on it.
  static bool statement_registered(const tether::Context& ctx) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (tether::testing::registered_children(ctx) == 0) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::yield();
    }
    return true;
  }

  std::string dir_;
};

TEST_F(SqliteTest, QueryReturnsTypedRowsAndBindsParameters) {
  sq::Connection db = open();
  auto ctx = tether::background();
  ASSERT_TRUE(db.exec(ctx, "CREATE TABLE t (i INTEGER, d REAL, s TEXT, b BLOB, n TEXT)"));
  const sq::Blob blob = {std::byte{0}, std::byte{0xfe}};
  const std::optional<std::string> none;
  ASSERT_TRUE(db.exec(ctx, "INSERT INTO t VALUES (?, ?, ?, ?, ?)", 42, 2.5, "héllo", blob, none));
  EXPECT_EQ(db.last_insert_rowid(), 1);
  EXPECT_EQ(db.changes(), 1);

  auto rows = db.query(ctx, "SELECT i, d, s, b, n FROM t WHERE i = ?", std::int64_t{42});
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->columns(), (std::vector<std::string>{"i", "d", "s", "b", "n"}));
  const sq::Row& r = rows->at(0);
  EXPECT_EQ(r.get<std::int64_t>(0), 42);
  EXPECT_EQ(r.get<int>(0), 42);
  EXPECT_TRUE(r.get<bool>(0));
  EXPECT_EQ(r.get<double>(0), 42.0) << "an INTEGER reads as double";
  EXPECT_EQ(r.get<double>(1), 2.5);
  EXPECT_EQ(r.get<std::string>(2), "héllo");
  EXPECT_EQ(r.get<sq::Blob>(3), blob);
  EXPECT_TRUE(r.is_null(4));
  EXPECT_EQ(r.get<std::optional<std::string>>(4), std::nullopt);
  EXPECT_THROW(r.get<std::string>(4), std::invalid_argument);
  EXPECT_THROW(r.get<std::int64_t>(2), std::invalid_argument);
  EXPECT_THROW(r.get<int>(5), std::out_of_range);
  EXPECT_EQ(rows->affected(), 0) << "a SELECT changes nothing";

  auto updated = db.query(ctx, "UPDATE t SET d = ? WHERE i = ? RETURNING i", 3.5, true);
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_EQ(updated->affected(), 0) << "no row has i = 1 (true binds as 1)";
  updated = db.query(ctx, "UPDATE t SET d = ? WHERE i = ? RETURNING i", 3.5, 42);
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_EQ(updated->affected(), 1);
  EXPECT_EQ(updated->at(0).get<int>(0), 42);
}

TEST_F(SqliteTest, ErrorsCarryTheSqliteCodeAndMessage) {
  sq::Connection db = open();
  auto ctx = tether::background();
  ASSERT_TRUE(db.exec(ctx, "CREATE TABLE t (k INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)"));
  auto dup = db.exec(ctx, "INSERT INTO t VALUES (?)", 1);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code.category(), sq::category());
  EXPECT_EQ(dup.error().code, sq::errc::constraint) << "extended codes match their primary";
  EXPECT_EQ(dup.error().code, tether::sql::errc::constraint_violation);
  EXPECT_NE(dup.error().code, tether::sql::errc::busy);
  EXPECT_NE(dup.error().message.find("UNIQUE"), std::string::npos) << dup.error().message;

  auto syntax = db.query(ctx, "SELEKT 1");
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().code, sq::errc::error);
  EXPECT_EQ(syntax.error().code, tether::sql::errc::invalid_statement);
}

TEST_F(SqliteTest, CodesMapToThePortableSqlConditions) {
  sq::Connection db = open();
  auto ctx = tether::background();
  ASSERT_TRUE(db.exec(ctx, "CREATE TABLE t (k INTEGER PRIMARY KEY)"));
  auto mismatch = db.exec(ctx, "INSERT INTO t VALUES ('not an integer')");
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, tether::sql::errc::invalid_data);
  auto ro = sq::Connection::open(dir_ + "/test.db", sq::OpenFlags::read_only);
  ASSERT_TRUE(ro);
  auto write = ro->exec(ctx, "INSERT INTO t VALUES (1)");
  ASSERT_FALSE(write);
  EXPECT_EQ(write.error().code, tether::sql::errc::read_only);
  auto missing = sq::Connection::open(dir_ + "/no/such/dir.db");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, tether::sql::errc::unavailable);
  // A lock held by another connection, given up when the context ends, is the context's
  // error; SQLite's own busy code (a connection that never waits) is the busy condition.
  EXPECT_EQ(std::error_code(SQLITE_BUSY_SNAPSHOT, sq::category()), tether::sql::errc::busy);
  EXPECT_EQ(std::error_code(SQLITE_LOCKED, sq::category()), tether::sql::errc::busy);
}

TEST_F(SqliteTest, CreateFunctionRegistersAScalarFunctionWithTypedArgumentsAndErrors) {
  sq::Connection db = open();
  auto ctx = tether::background();
  ASSERT_TRUE(db.create_function("describe", -1, [](std::span<const sq::Value> args) {
    std::string out;
    for (const sq::Value& v : args) out += std::to_string(v.index());
    return sq::Result<sq::Value>(out);
  }));
  ASSERT_TRUE(db.create_function(
      "twice", 1,
      [](std::span<const sq::Value> args) -> sq::Result<sq::Value> {
        if (const auto* n = std::get_if<std::int64_t>(&args[0])) return sq::Value(*n * 2);
        if (std::holds_alternative<std::string>(args[0])) throw std::runtime_error("no text");
        return sq::Error{.code = {}, .message = "twice() takes an integer"};
      },
      /*deterministic=*/true));
  ASSERT_TRUE(db.create_function(
      "bytes", 0, [](std::span<const sq::Value>) { return sq::Result<sq::Value>(sq::Blob{}); }));
  auto rows = db.query(ctx, "SELECT describe(NULL, 1, 2.5, 'x', x'00'), twice(21), bytes()");
  ASSERT_TRUE(rows) << rows.error().message;
  EXPECT_EQ(rows->at(0).get<std::string>(0), "01234") << "Null, int, double, text, blob";
  EXPECT_EQ(rows->at(0).get<int>(1), 42);
  EXPECT_EQ(rows->at(0).get<sq::Blob>(2), sq::Blob{}) << "an empty blob, not NULL";

  auto refused = db.query(ctx, "SELECT twice(1.5)");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "twice() takes an integer");
  EXPECT_EQ(refused.error().code, tether::sql::errc::invalid_statement);
  auto thrown = db.query(ctx, "SELECT twice('a')");
  ASSERT_FALSE(thrown);
  EXPECT_EQ(thrown.error().message, "no text");
  auto arity = db.query(ctx, "SELECT twice(1, 2)");
  ASSERT_FALSE(arity) << "registered with one argument";

  db.close();
  auto closed = db.create_function(
      "f", 0, [](std::span<const sq::Value>) { return sq::Result<sq::Value>(sq::Null{}); });
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code, sq::errc::misuse);
}

TEST_F(SqliteTest, WrongParameterCountIsARangeError) {
  sq::Connection db = open();
  auto r = db.query(tether::background(), "SELECT ?, ?", 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, sq::errc::range);
}

TEST_F(SqliteTest, AClosedConnectionIsMisuse) {
  sq::Connection db = open();
  db.close();
  auto r = db.exec(tether::background(), "SELECT 1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, sq::errc::misuse);
}

TEST_F(SqliteTest, ADoneContextRunsNothing) {
  sq::Connection db = open();
  ASSERT_TRUE(db.exec(tether::background(), "CREATE TABLE t (x)"));
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  auto r = db.exec(ctx, "INSERT INTO t VALUES (1)");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, tether::errc::canceled);
  auto n = db.query(tether::background(), "SELECT count(*) FROM t");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->at(0).get<int>(0), 0);
}

TEST_F(SqliteTest, LongRecursiveCteIsInterruptedByCancel) {
  sq::Connection db = open();
  RunningSignal running;
  running.install(db);
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  const tether::Context qctx = ctx;  // lambdas cannot capture structured bindings
  auto result = std::async(std::launch::async, [&] { return db.query(qctx, kEndlessCount); });
  ASSERT_EQ(running.started.get_future().wait_for(10s), std::future_status::ready);
  cancel();
  ASSERT_TRUE(finishes(result, db)) << "cancel did not stop the statement";
  auto r = result.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, tether::errc::canceled) << r.error().message;
  EXPECT_NE(r.error().message.find("interrupted"), std::string::npos) << r.error().message;
}

TEST_F(SqliteTest, LongRecursiveCteIsInterruptedByDeadline) {
  tether::testing::ManualClock clock;
  sq::Connection db = open();
  RunningSignal running;
  running.install(db);
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1h);
  const tether::Context qctx = ctx;
  auto result = std::async(std::launch::async, [&] { return db.query(qctx, kEndlessCount); });
  ASSERT_EQ(running.started.get_future().wait_for(10s), std::future_status::ready);
  clock.advance(1h);
  ASSERT_TRUE(finishes(result, db)) << "the deadline did not stop the statement";
  auto r = result.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, tether::errc::deadline_exceeded) << r.error().message;
}

TEST_F(SqliteTest, AnInterruptNeverReachesTheNextStatement) {
  sq::Connection db = open();
  RunningSignal running;
  running.install(db);
  {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    const tether::Context qctx = ctx;
    auto result = std::async(std::launch::async, [&] { return db.query(qctx, kEndlessCount); });
    ASSERT_EQ(running.started.get_future().wait_for(10s), std::future_status::ready);
    cancel();
    ASSERT_TRUE(finishes(result, db));
    ASSERT_FALSE(result.get());
  }
  auto next = db.query(tether::background(),
                       "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                       "WHERE x < 100000) SELECT count(*) FROM c");
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(next->at(0).get<int>(0), 100000);
}

TEST_F(SqliteTest, AnInterruptedWriteInATransactionIsRolledBackAndSaysSo) {
  sq::Connection db = open();
  RunningSignal running;
  running.install(db);
  auto bg = tether::background();
  ASSERT_TRUE(db.exec(bg, "CREATE TABLE t (x INTEGER)"));
  ASSERT_TRUE(db.exec(bg, "BEGIN"));
  ASSERT_TRUE(db.exec(bg, "INSERT INTO t VALUES (-1)"));

  auto [ctx, cancel] = tether::with_cancel(bg);
  const tether::Context qctx = ctx;
  auto result = std::async(std::launch::async, [&] {
    return db.exec(qctx,
                   "INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                   "SELECT x FROM c WHERE signal_running(x)");
  });
  ASSERT_EQ(running.started.get_future().wait_for(10s), std::future_status::ready);
  cancel();
  ASSERT_TRUE(finishes(result, db));
  auto r = result.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, tether::errc::canceled);
  EXPECT_TRUE(r.error().rolled_back);
  EXPECT_NE(r.error().message.find("rolled back the enclosing transaction"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(db.in_transaction());
  auto n = db.query(bg, "SELECT count(*) FROM t");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->at(0).get<int>(0), 0) << "the earlier insert of the transaction is gone too";
}

TEST_F(SqliteTest, AWriterBlockedByAnotherConnectionsLockGivesUpWhenItsContextEnds) {
  tether::testing::ManualClock clock;
  sq::Connection holder = open();
  sq::Connection writer = open();
  auto bg = tether::background();
  ASSERT_TRUE(holder.exec(bg, "CREATE TABLE t (x INTEGER)"));
  ASSERT_TRUE(holder.exec(bg, "BEGIN IMMEDIATE"));  // holds the write lock

  auto [ctx, cancel] = tether::with_timeout(bg, 1h);
  const tether::Context wctx = ctx;
  auto result =
      std::async(std::launch::async, [&] { return writer.exec(wctx, "INSERT INTO t VALUES (1)"); });
  ASSERT_TRUE(statement_registered(ctx));
  EXPECT_EQ(result.wait_for(20ms), std::future_status::timeout) << "it waits for the lock";
  clock.advance(1h);
  ASSERT_TRUE(finishes(result, writer)) << "the busy handler did not give up";
  auto r = result.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, tether::errc::deadline_exceeded) << r.error().message;
  EXPECT_NE(r.error().message.find("lock"), std::string::npos) << r.error().message;

  ASSERT_TRUE(holder.exec(bg, "COMMIT"));
  auto n = writer.query(bg, "SELECT count(*) FROM t");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->at(0).get<int>(0), 0);
}

TEST_F(SqliteTest, ABlockedWriterKeepsWaitingWhileItsContextIsAlive) {
  sq::Connection holder = open();
  sq::Connection writer = open();
  auto bg = tether::background();
  ASSERT_TRUE(holder.exec(bg, "CREATE TABLE t (x INTEGER)"));
  ASSERT_TRUE(holder.exec(bg, "BEGIN IMMEDIATE"));

  auto [ctx, cancel] = tether::with_cancel(bg);
  const tether::Context wctx = ctx;
  auto result =
      std::async(std::launch::async, [&] { return writer.exec(wctx, "INSERT INTO t VALUES (1)"); });
  ASSERT_TRUE(statement_registered(ctx));
  EXPECT_EQ(result.wait_for(20ms), std::future_status::timeout) << "it waits for the lock";
  ASSERT_TRUE(holder.exec(bg, "COMMIT"));
  ASSERT_TRUE(finishes(result, writer));
  auto r = result.get();
  EXPECT_TRUE(r) << r.error().message;
}

}  // namespace
