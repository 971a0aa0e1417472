// metrics.hpp — the demo's counters, in Prometheus text format 0.0.4 (GET /metrics).
//
// What is counted, and where it is counted:
//   tether_demo_requests_total{status}            every finished request (the access log)
//   tether_demo_cancellations_total{cause}        every cancelled request or source context,
//                                                 by its cause's message ("client
//                                                 disconnected", "context deadline exceeded")
//   tether_demo_queries_interrupted_total{source} SQL statements stopped mid-run
//   tether_demo_calls_interrupted_total{source}   activity calls cut off mid-flight
//   tether_demo_source_outcomes_total{source,outcome}
//   tether_demo_in_flight                         requests being handled now (gauge)
//   tether_demo_deadline_left_seconds             time left on the request deadline when the
//                                                 answer was ready (histogram)
//   tether_demo_registry_tracked                  tether::registry::size() (gauge)
//
// Thread safety: every member may be called from any thread. Fixed label sets (sources,
// outcomes, histogram buckets) are atomics; open label sets (status, cause) are maps under
// a mutex, taken once per request.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "outcome.hpp"

namespace tether_demo {

class Metrics {
 public:
  /// Upper bounds (seconds) of the deadline-left histogram; +Inf is implicit.
  static constexpr std::array<double, 8> kDeadlineBuckets = {0.005, 0.01, 0.025, 0.05,
                                                             0.1,   0.25, 0.5,   1.0};

  void request_finished(int status);
  void cancellation(std::string_view cause);
  void source_outcome(Source source, Outcome outcome);
  void query_interrupted(Source source);
  void call_interrupted(Source source);
  void deadline_left(std::chrono::nanoseconds left);

  /// Counts a request as in flight while alive.
  class InFlight {
   public:
    explicit InFlight(Metrics& m) noexcept : m_(m) {
      m_.in_flight_.fetch_add(1, std::memory_order_relaxed);
    }
    ~InFlight() { m_.in_flight_.fetch_sub(1, std::memory_order_relaxed); }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

   private:
    Metrics& m_;
  };

  std::int64_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
  /// Counter values, for tests and the shutdown report. 0 when never counted.
  std::uint64_t requests(int status) const;
  std::uint64_t cancellations(std::string_view cause) const;
  std::uint64_t source_outcomes(Source source, Outcome outcome) const noexcept;
  std::uint64_t queries_interrupted(Source source) const noexcept;
  std::uint64_t calls_interrupted(Source source) const noexcept;

  /// The exposition text; `registry_tracked` is sampled by the caller.
  std::string render(std::size_t registry_tracked) const;

 private:
  mutable std::mutex mu_;
  std::map<int, std::uint64_t> requests_;                            // under mu_
  std::map<std::string, std::uint64_t, std::less<>> cancellations_;  // under mu_
  std::array<std::array<std::atomic<std::uint64_t>, kOutcomeCount>, kSourceCount> outcomes_{};
  std::array<std::atomic<std::uint64_t>, kSourceCount> queries_interrupted_{};
  std::array<std::atomic<std::uint64_t>, kSourceCount> calls_interrupted_{};
  std::atomic<std::int64_t> in_flight_{0};
  // Histogram: per-bucket (non-cumulative) counts, then +Inf; the sum in nanoseconds. The
  // count is the buckets' total, so it always equals the +Inf bucket.
  std::array<std::atomic<std::uint64_t>, kDeadlineBuckets.size() + 1> deadline_buckets_{};
  std::atomic<std::int64_t> deadline_sum_ns_{0};
};

}  // namespace tether_demo
