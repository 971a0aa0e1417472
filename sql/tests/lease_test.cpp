// tether::sql::Lease on a minimal pool of its own: what goes back to the owner, and when;
// tether::sql::PoolSlots: what it keeps, closes and frees, and its bounded wait. The real
// pools (tether::sqlite::Pool, tether::pg::Pool) are tested in their modules.
#include "tether/sql/lease.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "tether/sql/pool.hpp"

namespace {

struct Conn {
  int id;
};

// The smallest pool: lends numbered connections and records what comes back.
class CountingPool {
 public:
  struct State final : tether::sql::LeaseOwner<Conn> {
    std::vector<int> returned;
    void give_back(std::unique_ptr<Conn> conn) noexcept override { returned.push_back(conn->id); }
  };
  using Lease = tether::sql::Lease<Conn, CountingPool>;

  Lease lend(int id) { return Lease(state_, std::make_unique<Conn>(Conn{id})); }
  const std::vector<int>& returned() const { return state_->returned; }

 private:
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

TEST(SqlLease, DestructionGivesTheConnectionBackOnce) {
  CountingPool pool;
  {
    auto lease = pool.lend(1);
    ASSERT_TRUE(lease);
    EXPECT_EQ(lease->id, 1);
    EXPECT_EQ((*lease).id, 1);
    EXPECT_TRUE(pool.returned().empty());
  }
  EXPECT_EQ(pool.returned(), std::vector<int>{1});
}

TEST(SqlLease, ReleaseGivesBackNowAndLeavesItEmpty) {
  CountingPool pool;
  auto lease = pool.lend(2);
  lease.release();
  EXPECT_FALSE(lease);
  EXPECT_EQ(pool.returned(), std::vector<int>{2});
  lease.release();  // nothing left to give back
  EXPECT_EQ(pool.returned(), std::vector<int>{2});
}

TEST(SqlLease, MoveTransfersAndMoveAssignmentGivesBackTheOldConnection) {
  CountingPool pool;
  auto a = pool.lend(3);
  auto b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(b->id, 3);
  b = pool.lend(4);  // 3 goes back at once
  EXPECT_EQ(pool.returned(), std::vector<int>{3});
  b = CountingPool::Lease();  // 4 goes back; an empty lease gives nothing
  EXPECT_EQ(pool.returned(), (std::vector<int>{3, 4}));
}

TEST(SqlLease, OutlivesItsPool) {
  CountingPool::Lease lease;
  {
    CountingPool pool;
    lease = pool.lend(5);
  }
  ASSERT_TRUE(lease);  // the owner lives on with the lease
  EXPECT_EQ(lease->id, 5);
}

// Slots whose connections are reusable while their id is even.
struct EvenSlots final : tether::sql::PoolSlots<Conn> {
  bool reusable(Conn& c) noexcept override { return c.id % 2 == 0; }
};
struct SlotsPool {
  using Lease = tether::sql::Lease<Conn, SlotsPool>;
  std::shared_ptr<EvenSlots> state = std::make_shared<EvenSlots>();
  Lease lend(int id) {
    std::lock_guard lock(state->mu);
    ++state->open;
    return Lease(state, std::make_unique<Conn>(Conn{id}));
  }
};

TEST(SqlPoolSlots, GiveBackKeepsReusableConnectionsAndFreesTheSlotsOfTheOthers) {
  SlotsPool pool;
  pool.lend(2).release();
  pool.lend(3).release();
  EXPECT_EQ(pool.state->idle_count(), 1u);
  EXPECT_EQ(pool.state->open_count(), 1u) << "3 was closed, its slot freed";
  {
    std::lock_guard lock(pool.state->mu);
    ++pool.state->open;  // a slot reserved for a connection that then fails to open
  }
  pool.state->free_slot();
  EXPECT_EQ(pool.state->open_count(), 1u);
}

TEST(SqlPoolSlots, CloseHandsOverTheIdleAndLaterReturnsAreClosed) {
  SlotsPool pool;
  pool.lend(4).release();
  auto lent = pool.lend(6);
  auto idle = pool.state->close();
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_EQ(idle[0]->id, 4);
  EXPECT_EQ(pool.state->open_count(), 1u) << "the lent one";
  lent.release();
  EXPECT_EQ(pool.state->idle_count(), 0u) << "a closed pool keeps nothing";
  EXPECT_EQ(pool.state->open_count(), 0u);
}

TEST(SqlPoolSlots, WaitArmsFirstThenWakesWhenTheContextEnds) {
  SlotsPool pool;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::Registration wake;
  bool armed = false;
  std::unique_lock lock(pool.state->mu);
  EvenSlots::wait(ctx, pool.state, lock, wake, armed);  // arms, returns at once
  EXPECT_TRUE(armed);
  EXPECT_TRUE(lock.owns_lock());
  std::thread canceller([&cancel = cancel] { cancel(); });
  while (!ctx.err()) EvenSlots::wait(ctx, pool.state, lock, wake, armed);
  lock.unlock();
  canceller.join();
  wake.stop_and_wait();
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
}

}  // namespace
