// tether::testing: the manual clock and white-box counters.
#include "tether/testing/manual_clock.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>

#include "internal/tree.hpp"

namespace tether::testing {

namespace {

using internal::Nanos;

Nanos to_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// The manual time, read by core through the clock seam (internal::ClockSource) while a
// ManualClock is installed: core itself never asks whether one is.
std::atomic<Nanos> manual_time{0};
// Manual time `manual_start` corresponds to wall time `manual_wall_start` (for describe()).
std::atomic<Nanos> manual_start{0};
std::atomic<std::int64_t> manual_wall_start{0};

Nanos manual_now() noexcept { return manual_time.load(std::memory_order_acquire); }

std::int64_t manual_wall_ns_at(Nanos t) noexcept {
  return manual_wall_start.load(std::memory_order_relaxed) +
         (t - manual_start.load(std::memory_order_relaxed));
}

// An advance() past t's deadline between make_deadline's check and the push may have
// scanned t's shard before t was in it: fire t here instead. (advance stores the time
// before it takes any shard lock, so after the push this load sees the new time.)
void manual_armed(internal::TimerNode* t) noexcept {
  if (t->deadline <= manual_time.load(std::memory_order_acquire)) internal::expire(t);
}

constexpr internal::ClockSource kManualClock{&manual_now, &manual_wall_ns_at, &manual_armed};

std::atomic<bool> installed{false};

void install(Nanos start) {
  if (installed.exchange(true, std::memory_order_acq_rel))
    throw std::logic_error("tether::testing::ManualClock: one is already installed");
  // Set before the clock is installed: core reads them only through kManualClock.
  manual_time.store(start, std::memory_order_relaxed);
  manual_start.store(start, std::memory_order_relaxed);
  manual_wall_start.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count(),
                          std::memory_order_relaxed);
  internal::clock_install(&kManualClock);
}

void uninstall() noexcept {
  internal::clock_uninstall();
  installed.store(false, std::memory_order_release);
}

void advance_manual_to(Nanos t) {
  if (t > manual_time.load(std::memory_order_relaxed))
    manual_time.store(t, std::memory_order_release);
  internal::timer_fire_due(manual_time.load(std::memory_order_relaxed));
}

}  // namespace

ManualClock::ManualClock() : ManualClock(Clock::now()) {}
ManualClock::ManualClock(Clock::time_point start) { install(to_ns(start)); }
ManualClock::~ManualClock() { uninstall(); }

Clock::time_point ManualClock::now() const noexcept {
  return Clock::time_point(std::chrono::nanoseconds(manual_now()));
}

void ManualClock::advance(Clock::duration d) {
  if (d < Clock::duration::zero()) d = Clock::duration::zero();
  advance_manual_to(internal::add_duration(manual_now(), d));
}

void ManualClock::advance_to(Clock::time_point t) { advance_manual_to(to_ns(t)); }

std::size_t ManualClock::pending_timers() const { return internal::timer_pending(); }
void ManualClock::wait_for_pending(std::size_t n) const { internal::timer_wait_pending(n); }

std::size_t registered_children(const Context& ctx) {
  return internal::count_children(internal::Access::node(ctx)->anchor);
}

std::size_t pending_timers() { return internal::timer_pending(); }

}  // namespace tether::testing
