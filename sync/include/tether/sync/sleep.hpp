// tether/sync/sleep.hpp — sleeping and condition-variable waits that end with the context.
//
// Go's `select { case <-ctx.Done(): return ctx.Err(); case <-time.After(d): }` — the
// tutorials' WaitForCompletion — is sleep_for(ctx, d):
//
//   if (auto ec = tether::sleep_for(ctx, 100ms)) return ec;   // ctx ended first
//   // ... 100 ms passed, ctx still alive
//
// and a std::condition_variable_any wait that also wakes when the context ends is
// tether::wait(ctx, lock, cv, pred):
//
//   std::unique_lock lock(mu);
//   if (auto ec = tether::wait(ctx, lock, cv, [&] { return !queue.empty(); })) return ec;
//
// Time: sleep_for/sleep_until are built on a with_timeout/with_deadline child of `ctx`, so
// they measure tether's clock: under tether::testing::ManualClock they end when the test
// advances the clock past the wake-up time (a test can wait_for_pending(1) to know the
// sleeper is armed), and they never need a thread of their own.
//
// Results: an empty std::error_code when the sleep (or the predicate) completed, otherwise
// ctx.err() — errc::canceled or errc::deadline_exceeded — of the context that ended first.
// If both happen at once, the context wins (its error is returned), as a ctx.Err() check
// after Go's select would report.
//
// Thread safety: free functions, callable from any thread; `ctx` may be cancelled from any
// thread while they block.
//
// What blocks: all of them block the calling thread until they return.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <utility>

#include "tether/context.hpp"
#include "tether/sync/stop_token.hpp"

namespace tether {

/// Blocks until `deadline` (on tether's clock, see tether::now()) or until `ctx` is done,
/// whichever comes first. Returns {} if the deadline came first, else ctx.err().
/// A deadline at or before now returns at once ({} unless ctx is already done).
inline std::error_code sleep_until(const Context& ctx, Clock::time_point deadline) {
  if (auto ec = ctx.err()) return ec;
  auto [timer, cancel] = with_deadline(ctx, deadline);
  timer.done().wait();
  return ctx.err();
}

/// Blocks for `d` of tether's clock, or until `ctx` is done, whichever comes first.
/// Returns {} if `d` elapsed, else ctx.err(). Go: the tutorials' WaitForCompletion.
template <class Rep, class Period>
std::error_code sleep_for(const Context& ctx, std::chrono::duration<Rep, Period> d) {
  if (auto ec = ctx.err()) return ec;
  if (d <= d.zero()) return {};
  auto [timer, cancel] = with_timeout(ctx, d);
  timer.done().wait();
  return ctx.err();
}

/// Waits on `cv` until `pred()` is true or `ctx` is done. `lock` must hold the mutex that
/// guards the predicate's state; it is held again when this returns, as with
/// std::condition_variable_any::wait. Returns {} when pred() became true (it is checked
/// first, so a true predicate wins over a done context), else ctx.err().
///
/// Built on the standard std::stop_token overload of condition_variable_any::wait, whose
/// wake-up takes only the condition variable's internal lock: it is safe to cancel `ctx`
/// while holding the user mutex. Why condition_variable_any and not condition_variable:
/// only the former can be woken by anything but notify (the standard's own choice).
template <class Lock, class Predicate>
std::error_code wait(const Context& ctx, Lock& lock, std::condition_variable_any& cv,
                     Predicate pred) {
  if (pred()) return {};
  if (auto ec = ctx.err()) return ec;
  ContextStopSource stop(ctx);
  if (cv.wait(lock, stop.get_token(), std::move(pred))) return {};
  return ctx.err();
}

}  // namespace tether
