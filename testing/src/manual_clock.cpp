// tether::testing: the manual clock and white-box counters.
#include "tether/testing/manual_clock.hpp"

#include <chrono>

#include "internal/tree.hpp"

namespace tether::testing {

namespace {
internal::Nanos to_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
}  // namespace

ManualClock::ManualClock() : ManualClock(Clock::now()) {}
ManualClock::ManualClock(Clock::time_point start) { internal::manual_install(to_ns(start)); }
ManualClock::~ManualClock() { internal::manual_uninstall(); }

Clock::time_point ManualClock::now() const noexcept {
  return Clock::time_point(std::chrono::nanoseconds(internal::manual_now()));
}

void ManualClock::advance(Clock::duration d) {
  if (d < Clock::duration::zero()) d = Clock::duration::zero();
  internal::manual_advance_to(internal::add_duration(internal::manual_now(), d));
}

void ManualClock::advance_to(Clock::time_point t) { internal::manual_advance_to(to_ns(t)); }

std::size_t ManualClock::pending_timers() const { return internal::timer_pending(); }
void ManualClock::wait_for_pending(std::size_t n) const { internal::timer_wait_pending(n); }

std::size_t registered_children(const Context& ctx) {
  return internal::count_children(internal::Access::node(ctx)->anchor);
}

std::size_t pending_timers() { return internal::timer_pending(); }

}  // namespace tether::testing
