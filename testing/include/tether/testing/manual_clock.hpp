// tether/testing/manual_clock.hpp — time that moves only when a test says so.
//
// Part of tether::testing (link it from tests; tether::core never does).
//
// While a ManualClock is alive it *is* tether's clock: tether::now(), with_timeout and
// with_deadline read it, and the shared timer service stops firing deadlines on its own.
// advance(d) moves time forward and fires, on the calling thread, every deadline that is
// now due — before it returns — so a test observes expiry without sleeping:
//
//   tether::testing::ManualClock clock;
//   auto [ctx, cancel] = tether::with_timeout(tether::background(), 5s);
//   clock.advance(4s);   EXPECT_FALSE(ctx.err());
//   clock.advance(1s);   EXPECT_EQ(ctx.err(), tether::errc::deadline_exceeded);
//
// pending_timers() counts armed deadlines, and wait_for_pending(n) blocks until at least n
// are armed, so a test can wait for another thread to register instead of sleeping.
//
// Done::wait_for / wait_until still measure real time: they bound how long a test may
// hang, they are not the thing under test.
//
// Only one ManualClock may exist at a time (a second one throws std::logic_error).
// Create it before the contexts whose deadlines it should govern. Member functions are
// thread-safe.
#pragma once

#include <cstddef>

#include "tether/context.hpp"

namespace tether::testing {

class ManualClock {
 public:
  /// Installs the clock, starting at the real steady_clock time.
  ManualClock();
  /// Installs the clock, starting at `start`.
  explicit ManualClock(Clock::time_point start);
  /// Uninstalls the clock; the timer service returns to real time, and deadlines still
  /// armed fire when real time reaches them.
  ~ManualClock();
  ManualClock(const ManualClock&) = delete;
  ManualClock& operator=(const ManualClock&) = delete;

  Clock::time_point now() const noexcept;
  /// Moves time forward by `d` (must be ≥ 0) and fires every deadline at or before the new
  /// time, in deadline order, before returning.
  void advance(Clock::duration d);
  /// Moves time to `t` (ignored if earlier than now()) and fires what is due.
  void advance_to(Clock::time_point t);
  /// The number of deadlines armed in the timer service.
  std::size_t pending_timers() const;
  /// Blocks until at least `n` deadlines are armed.
  void wait_for_pending(std::size_t n) const;
};

/// White-box: how many children (derived cancellable contexts and after_func
/// registrations) are registered on `ctx`'s nearest cancellable context. 0 for
/// never-cancelled contexts.
std::size_t registered_children(const Context& ctx);

/// White-box: how many deadlines are armed in the shared timer service (any clock).
std::size_t pending_timers();

}  // namespace tether::testing
