// tether::sqlite::Pool against real database files: bounded, waits under the context,
// gives back connections rolled back out of any transaction, and holds under concurrent
// use with random cancellation (run under TSan in CI). No sleeps: a waiting acquire() is
// observed through its after_func registration, and a statement is cancelled from inside
// by an application-defined SQL function.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/sqlite.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

namespace sq = tether::sqlite;
using tether::testing::registered_children;

class SqlitePoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tether-sqlite-pool-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto db = sq::Connection::open(path());
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec(tether::background(), "CREATE TABLE t (x INTEGER)"));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path() const { return dir_ + "/pool.db"; }

  std::string dir_;
};

// A statement that runs until its own context is cancelled by cancel_now(x), an SQL
// function registered by on_open that calls the cancel func it is given.
constexpr const char* kCancelledFromInside =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT count(*) FROM c WHERE cancel_now(x)";

TEST_F(SqlitePoolTest, AGivenBackConnectionIsReusedAndOnOpenRunsOncePerConnection) {
  int opened = 0;
  sq::Pool pool({.path = path(), .max_connections = 2, .on_open = [&](sq::Connection&) {
                   ++opened;
                   return sq::Result<void>();
                 }});
  sq::Connection* first = nullptr;
  {
    auto lease = pool.acquire(tether::background());
    ASSERT_TRUE(lease) << lease.error().message;
    first = &**lease;
    EXPECT_EQ(pool.open_count(), 1u);
    EXPECT_EQ(pool.idle_count(), 0u);
  }
  EXPECT_EQ(pool.idle_count(), 1u);
  auto again = pool.acquire(tether::background());
  ASSERT_TRUE(again);
  EXPECT_EQ(&**again, first);
  auto second = pool.acquire(tether::background());
  ASSERT_TRUE(second);
  EXPECT_NE(&**second, first);
  EXPECT_EQ(opened, 2);
  EXPECT_EQ(pool.open_count(), 2u);
}

TEST_F(SqlitePoolTest, AcquireOnAnExhaustedPoolEndsWithTheContext) {
  sq::Pool pool({.path = path(), .max_connections = 1});
  auto held = pool.acquire(tether::background());
  ASSERT_TRUE(held);
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  auto waiter = std::async(std::launch::async, [&pool, c = ctx] { return pool.acquire(c); });
  ASSERT_TRUE(context_test::eventually([&c = ctx] { return registered_children(c) > 0; }))
      << "acquire() never waited";
  cancel();
  auto r = waiter.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, tether::errc::canceled);
  EXPECT_NE(r.error().message.find("all 1 in use"), std::string::npos) << r.error().message;
  EXPECT_EQ(pool.open_count(), 1u);
  EXPECT_EQ(registered_children(ctx), 0u) << "the wake-up hook is deregistered";
}

TEST_F(SqlitePoolTest, AcquireWaitsForAGivenBackConnection) {
  sq::Pool pool({.path = path(), .max_connections = 1});
  auto held = pool.acquire(tether::background());
  ASSERT_TRUE(held);
  sq::Connection* conn = &**held;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  auto waiter = std::async(std::launch::async, [&pool, c = ctx] { return pool.acquire(c); });
  ASSERT_TRUE(context_test::eventually([&c = ctx] { return registered_children(c) > 0; }));
  held->release();
  auto r = waiter.get();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(&**r, conn);
  EXPECT_EQ(pool.open_count(), 1u);
}

TEST_F(SqlitePoolTest, AConnectionGivenBackAfterACancelledStatementInATransactionIsRolledBack) {
  std::function<void()> cancel_now;
  sq::Pool pool({.path = path(), .max_connections = 1, .on_open = [&](sq::Connection& c) {
                   return c.create_function("cancel_now", 1, [&](std::span<const sq::Value>) {
                     cancel_now();
                     return sq::Result<sq::Value>(std::int64_t{1});
                   });
                 }});
  sq::Connection* conn = nullptr;
  {
    auto lease = pool.acquire(tether::background());
    ASSERT_TRUE(lease);
    conn = &**lease;
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    cancel_now = [c = cancel.func()] { c(); };
    ASSERT_TRUE((*lease)->exec(ctx, "BEGIN; INSERT INTO t VALUES (1)"));
    auto r = (*lease)->query(ctx, kCancelledFromInside);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, tether::errc::canceled) << r.error().message;
    EXPECT_TRUE((*lease)->in_transaction()) << "an interrupted read leaves the transaction open";
  }
  auto next = pool.acquire(tether::background());
  ASSERT_TRUE(next);
  EXPECT_EQ(&**next, conn) << "rolled back and kept, not dropped";
  EXPECT_FALSE((*next)->in_transaction());
  auto n = (*next)->query(tether::background(), "SELECT count(*) FROM t");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->at(0).get<int>(0), 0) << "the unfinished transaction's insert was rolled back";
}

TEST_F(SqlitePoolTest, AClosedConnectionIsDroppedAndItsSlotFreed) {
  sq::Pool pool({.path = path(), .max_connections = 1});
  {
    auto lease = pool.acquire(tether::background());
    ASSERT_TRUE(lease);
    (*lease)->close();
  }
  EXPECT_EQ(pool.open_count(), 0u);
  EXPECT_EQ(pool.idle_count(), 0u);
  auto next = pool.acquire(tether::background());
  ASSERT_TRUE(next);
  EXPECT_TRUE((*next)->is_open());
}

TEST_F(SqlitePoolTest, AnOnOpenErrorIsReturnedAndFreesTheSlot) {
  int calls = 0;
  sq::Pool pool({.path = path(), .max_connections = 1, .on_open = [&](sq::Connection& c) {
                   if (++calls == 1) return c.exec(tether::background(), "SELEKT 1");
                   return sq::Result<void>();
                 }});
  auto failed = pool.acquire(tether::background());
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, tether::sql::errc::invalid_statement);
  EXPECT_EQ(pool.open_count(), 0u);
  auto ok = pool.acquire(tether::background());
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(calls, 2);
}

TEST_F(SqlitePoolTest, AFileThatCannotBeOpenedIsUnavailable) {
  sq::Pool pool({.path = dir_ + "/no/such/dir.db"});
  auto r = pool.acquire(tether::background());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, tether::sql::errc::unavailable);
  EXPECT_EQ(pool.open_count(), 0u);
}

// Threads acquire, use and give back connections, some leaving transactions open, some
// with contexts cancelled at random moments from another thread: never more than
// max_connections leased at once, every acquire ends, and every connection in the pool
// afterwards is outside any transaction.
TEST_F(SqlitePoolTest, ConcurrentUseWithRandomCancelsStaysBoundedAndClean) {
  constexpr std::size_t kMax = 3;
  constexpr int kThreads = 6, kRounds = 150;
  const unsigned seed = context_test::test_seed();
  SCOPED_TRACE("TETHER_TEST_SEED=" + std::to_string(seed));
  sq::Pool pool({.path = path(), .max_connections = kMax});
  std::atomic<int> leased{0}, max_leased{0}, failures{0};
  auto worker = [&](unsigned s) {
    std::mt19937 rng(s);
    for (int i = 0; i < kRounds; ++i) {
      auto [ctx, cancel] = tether::with_cancel(tether::background());
      std::thread canceller;
      if (rng() % 3 == 0) canceller = std::thread([c = cancel.func()] { c(); });
      if (auto lease = pool.acquire(ctx)) {
        const int now = ++leased;
        for (int m = max_leased; now > m && !max_leased.compare_exchange_weak(m, now);) {
        }
        if (rng() % 4 == 0) (void)(*lease)->exec(ctx, "BEGIN; INSERT INTO t VALUES (1)");
        if (!(*lease)->query(ctx, "SELECT count(*) FROM t") && !ctx.err()) ++failures;
        --leased;
      } else if (lease.error().code != tether::errc::canceled) {
        ++failures;
      }
      if (canceller.joinable()) canceller.join();
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, seed + static_cast<unsigned>(t));
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(max_leased.load(), static_cast<int>(kMax));
  EXPECT_LE(pool.open_count(), kMax);
  EXPECT_EQ(pool.idle_count(), pool.open_count());
  std::vector<sq::Lease> all;
  for (std::size_t i = 0; i < pool.open_count(); ++i) {
    auto lease = pool.acquire(tether::background());
    ASSERT_TRUE(lease);
    EXPECT_FALSE((*lease)->in_transaction());
    all.push_back(std::move(*lease));
  }
  ASSERT_FALSE(all.empty());
  auto rows = all[0]->query(tether::background(), "SELECT count(*) FROM t");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->at(0).get<int>(0), 0) << "no transaction was ever committed";
}

}  // namespace
