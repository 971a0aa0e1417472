// <tether/sql/lease.hpp> — a connection borrowed from a pool, the one Lease both database
// pools hand out (tether::sqlite::Lease, tether::pg::Lease).
//
// A pool keeps its shared state in a LeaseOwner<Connection>: the place a lent connection
// goes back to. A Lease holds the connection and a reference to that owner; destroying it
// (or release()) gives the connection back through LeaseOwner::give_back, which decides
// whether it stays idle or is closed. The owner outlives the pool that made it as long as a
// lease is out, so a lease may outlive its pool (then give_back closes the connection).
//
//   auto db = pool.acquire(ctx);          // tether::sql::Result<Lease>
//   if (!db) return db.error();
//   auto rows = (*db)->query(ctx, "SELECT 1");
//   db->release();                        // or let it go out of scope
//
// Only the pool (`Pool`, a friend) makes leases. Thread safety: a Lease is used by one
// thread at a time; the owner's give_back must be safe from any thread. What blocks:
// release() and the destructor run give_back on the releasing thread (a pool may roll a
// transaction back there).
#pragma once

#include <memory>
#include <utility>

namespace tether::sql {

/// Where a lent connection goes back: a pool's shared state implements give_back.
template <class Connection>
class LeaseOwner {
 public:
  /// Takes a lent connection back: keeps it idle or closes it. Called from any thread.
  virtual void give_back(std::unique_ptr<Connection> conn) noexcept = 0;
  virtual ~LeaseOwner() = default;
};

/// A Connection borrowed from `Pool`; given back when destroyed. Move-only; use it like a
/// pointer to Connection. A default-constructed or moved-from Lease holds nothing (false).
template <class Connection, class Pool>
class Lease {
 public:
  Lease() noexcept = default;
  Lease(Lease&& other) noexcept = default;
  Lease& operator=(Lease&& other) noexcept {
    if (this != &other) {
      release();
      owner_ = std::move(other.owner_);
      conn_ = std::move(other.conn_);
    }
    return *this;
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { release(); }

  Connection& operator*() const noexcept { return *conn_; }
  Connection* operator->() const noexcept { return conn_.get(); }
  explicit operator bool() const noexcept { return conn_ != nullptr; }
  /// Gives the connection back to its pool now (the pool decides whether it stays open);
  /// afterwards the Lease holds nothing. Does nothing on an empty Lease.
  void release() noexcept {
    if (conn_ && owner_) owner_->give_back(std::move(conn_));
    conn_.reset();
    owner_.reset();
  }

 private:
  friend Pool;
  Lease(std::shared_ptr<LeaseOwner<Connection>> owner, std::unique_ptr<Connection> conn) noexcept
      : owner_(std::move(owner)), conn_(std::move(conn)) {}
  std::shared_ptr<LeaseOwner<Connection>> owner_;
  std::unique_ptr<Connection> conn_;
};

}  // namespace tether::sql
