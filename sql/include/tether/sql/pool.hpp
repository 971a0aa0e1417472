// <tether/sql/pool.hpp> — the bookkeeping both database pools share (tether::sqlite::Pool,
// tether::pg::Pool), for whoever writes a bounded connection pool on tether::sql::Lease.
//
// A pool's shared state derives from PoolSlots<Connection>: the idle connections, how many
// are open (idle + lent + being opened), whether the pool is closed, one mutex and one
// condition variable over them. It is the LeaseOwner its leases give back to: give_back
// asks the pool's reusable() (outside the lock: it may run a ROLLBACK) and keeps the
// connection idle or closes it and frees its slot. What a pool adds is how it picks an idle
// connection and how it opens a new one:
//
//   struct MyPool::State final : tether::sql::PoolSlots<Conn> {
//     bool reusable(Conn& c) noexcept override { return c.is_open(); }
//   };
//   // acquire(ctx), with `lock` on state->mu and a Registration `wake`:
//   //   take from idle, or ++open and open one, or State::wait(ctx, state, lock, wake, armed);
//
// Thread safety: every member under `mu` as marked; give_back, close and the counts take
// it themselves. What blocks: wait(), until a connection comes back, a slot frees, the pool
// closes or ctx ends; give_back runs reusable() on the returning thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "tether/context.hpp"
#include "tether/sql/lease.hpp"

namespace tether::sql {

template <class Connection>
class PoolSlots : public LeaseOwner<Connection> {
 public:
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Connection>> idle;  // under mu
  std::size_t open = 0;                           // under mu: idle + lent + being opened
  bool closed = false;                            // under mu: the pool is destroyed

  /// Takes a lent connection back: idle if the pool is open and reusable() says so, else
  /// closed (outside the lock) with its slot freed. Wakes one waiter either way.
  void give_back(std::unique_ptr<Connection> conn) noexcept final {
    const bool keep = reusable(*conn);
    std::unique_lock lock(mu);
    if (!closed && keep) {
      idle.push_back(std::move(conn));
    } else {
      --open;
      lock.unlock();
      conn.reset();
      lock.lock();
    }
    cv.notify_one();
  }

  /// The pool is destroyed: lends no more, wakes every waiter, and returns the idle
  /// connections for the caller to close outside the lock. Leases still out close theirs
  /// when they come back.
  std::vector<std::unique_ptr<Connection>> close() noexcept {
    std::vector<std::unique_ptr<Connection>> out;
    {
      std::lock_guard lock(mu);
      closed = true;
      open -= idle.size();
      out.swap(idle);
    }
    cv.notify_all();
    return out;
  }

  std::size_t open_count() const {
    std::lock_guard lock(mu);
    return open;
  }
  std::size_t idle_count() const {
    std::lock_guard lock(mu);
    return idle.size();
  }

  /// Frees the slot reserved (++open) for a connection that could not be opened.
  void free_slot() noexcept {
    {
      std::lock_guard lock(mu);
      --open;
    }
    cv.notify_one();
  }

  /// With `lock` held on mu: the first call (`armed` false) arms `wake` (ctx ending
  /// notifies the waiters; `self` keeps the state alive for that callback) and returns at
  /// once, so that the caller checks ctx again; later calls wait for a notification. Stop
  /// `wake` with stop_and_wait() once done, never with mu held (the callback takes it).
  static void wait(const Context& ctx, const std::shared_ptr<PoolSlots>& self,
                   std::unique_lock<std::mutex>& lock, Registration& wake, bool& armed) {
    if (armed) {
      self->cv.wait(lock);
      return;
    }
    armed = true;
    lock.unlock();  // after_func may run the callback at once, on this thread
    wake = after_func(ctx, [self] {
      std::lock_guard l(self->mu);  // a waiter checks ctx under it: no wake-up is lost
      self->cv.notify_all();
    });
    lock.lock();
  }

 protected:
  /// Whether a connection coming back may stay idle; may first clean it up (roll back a
  /// transaction left open). Called without the lock, on the returning thread.
  virtual bool reusable(Connection& conn) noexcept = 0;
};

}  // namespace tether::sql
