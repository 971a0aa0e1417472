// Internal operations on the context tree shared by context.cpp, timer.cpp and testing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tether/internal/node.hpp"

namespace tether::internal {

/// Increments n's count unless it already reached zero (n is being destroyed).
bool try_retain(Node* n) noexcept;

/// Cancels `n` and its subtree with `code`. With own_cause, the node keeps the cause it
/// was created with (with_deadline_cause); otherwise `cause` (may be null) is recorded.
/// Returns after the whole subtree is done and its callbacks have run.
void cancel_node(CancelNode* n, std::uint32_t code, CauseRep* cause, bool own_cause) noexcept;

/// The node lock (a bit in the state word). Never held while calling out.
void lock(CancelNode* n) noexcept;
void unlock(CancelNode* n) noexcept;

/// The number of links in n's children list (takes the lock).
std::size_t count_children(CancelNode* n) noexcept;

// ---- the observer (tether::registry's history) ----
/// Called for nodes whose state word has kObserved, and only for them, so a process that
/// never observes pays one test of a bit in a word it has already loaded. Each hook runs
/// with no node lock held; `n` is alive (the caller holds a reference) for the call.
struct Observer {
  /// `n` was just linked under an observed anchor and carries kObserved itself.
  void (*created)(CancelNode* n) noexcept;
  /// `n` was just cancelled (its code and cause are final).
  void (*done)(CancelNode* n) noexcept;
  /// `n`'s last reference is going: it is about to be freed (done or not).
  void (*freed)(CancelNode* n) noexcept;
  /// An after_func callback was just registered on `n` (not yet done).
  void (*callback)(CancelNode* n) noexcept;
};
/// Installs the observer (once; later calls replace it). Null: hooks are skipped.
void set_observer(const Observer* o) noexcept;
/// Sets kObserved on `n` (a cancellable node, not the never anchor): from now on the
/// observer hears of it and of every cancellable context derived beneath it.
void observe(CancelNode* n) noexcept;

// ---- the shared timer service (timer.cpp) ----
inline constexpr std::size_t kNotArmed = SIZE_MAX;
/// The heap shard deadlines created on this thread go to (TimerNode::timer_shard).
std::uint32_t timer_home_shard() noexcept;
/// Arms t at t->deadline (in t->timer_shard) unless t is already done, and fires it at once
/// if a ManualClock has already passed its deadline. O(log n). Called once, by the thread
/// that created t, after t is linked under its parent.
void timer_arm(TimerNode* t);
/// Disarms t if armed: O(1) amortized (its heap entry is dropped lazily; t is no longer
/// referenced by the heap when this returns). Safe from any thread, for a node that was
/// never armed, and concurrently with timer_arm (both decide under the shard's lock).
void timer_disarm(TimerNode* t) noexcept;
std::size_t timer_pending() noexcept;
/// Called by the timer service when t's deadline has passed (t is retained).
void expire(TimerNode* t) noexcept;

// ---- the clock seam (a test clock, tether::testing::ManualClock, plugs in here) ----
/// A clock tether can read: the steady clock's functions by default. Set once per install;
/// now_ns(), wall_ns_at() and timer_arm() call through it without testing which it is.
struct ClockSource {
  /// The time now, in nanoseconds on the steady clock's scale.
  Nanos (*now)() noexcept;
  /// The wall-clock time (ns since the Unix epoch) of time `t`, the same every call.
  std::int64_t (*wall_ns_at)(Nanos t) noexcept;
  /// Called after t was armed by the thread that armed it: a clock whose time jumps
  /// fires t here (expire) if it passed t's deadline while t was being armed.
  void (*armed)(TimerNode* t) noexcept;
};
/// Makes `*c` tether's clock until clock_uninstall() (c must outlive that); meanwhile the
/// timer thread fires nothing and the installer fires what is due with timer_fire_due().
/// Throws std::logic_error if a clock is installed already.
void clock_install(const ClockSource* c);
/// Back to the steady clock; the timer thread fires what is due by it.
void clock_uninstall() noexcept;
/// Fires, on this thread and in deadline order across the shards, every armed deadline at
/// or before `now`.
void timer_fire_due(Nanos now);
/// The wall-clock time (ns since the Unix epoch) of tether time `t`; stable under a
/// ManualClock (manual time maps to the wall time at which the clock was installed).
std::int64_t wall_ns_at(Nanos t) noexcept;
void timer_wait_pending(std::size_t n);

}  // namespace tether::internal
