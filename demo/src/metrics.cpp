#include "metrics.hpp"

#include "tether/debug/prometheus.hpp"

namespace tether_demo {
namespace {
using tether::debug::prometheus::header;
using tether::debug::prometheus::label_value;
using tether::debug::prometheus::number;
}  // namespace

void Metrics::request_finished(int status) {
  std::lock_guard lock(mu_);
  ++requests_[status];
}

void Metrics::cancellation(std::string_view cause) {
  std::lock_guard lock(mu_);
  auto it = cancellations_.find(cause);
  if (it == cancellations_.end()) it = cancellations_.emplace(std::string(cause), 0).first;
  ++it->second;
}

void Metrics::source_outcome(Source source, Outcome outcome) {
  outcomes_[static_cast<std::size_t>(source)][static_cast<std::size_t>(outcome)].fetch_add(
      1, std::memory_order_relaxed);
}

void Metrics::query_interrupted(Source source) {
  queries_interrupted_[static_cast<std::size_t>(source)].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::call_interrupted(Source source) {
  calls_interrupted_[static_cast<std::size_t>(source)].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::deadline_left(std::chrono::nanoseconds left) {
  const double secs = std::chrono::duration<double>(left).count();
  std::size_t i = 0;
  while (i < kDeadlineBuckets.size() && secs > kDeadlineBuckets[i]) ++i;
  deadline_buckets_[i].fetch_add(1, std::memory_order_relaxed);
  deadline_sum_ns_.fetch_add(left.count(), std::memory_order_relaxed);
}

std::uint64_t Metrics::requests(int status) const {
  std::lock_guard lock(mu_);
  auto it = requests_.find(status);
  return it == requests_.end() ? 0 : it->second;
}

std::uint64_t Metrics::cancellations(std::string_view cause) const {
  std::lock_guard lock(mu_);
  auto it = cancellations_.find(cause);
  return it == cancellations_.end() ? 0 : it->second;
}

std::uint64_t Metrics::source_outcomes(Source source, Outcome outcome) const noexcept {
  return outcomes_[static_cast<std::size_t>(source)][static_cast<std::size_t>(outcome)].load(
      std::memory_order_relaxed);
}

std::uint64_t Metrics::queries_interrupted(Source source) const noexcept {
  return queries_interrupted_[static_cast<std::size_t>(source)].load(std::memory_order_relaxed);
}

std::uint64_t Metrics::calls_interrupted(Source source) const noexcept {
  return calls_interrupted_[static_cast<std::size_t>(source)].load(std::memory_order_relaxed);
}

std::string Metrics::render(std::size_t registry_tracked) const {
  std::string out;
  {
    std::lock_guard lock(mu_);
    header(out, "tether_demo_requests_total", "counter", "Finished HTTP requests by status.");
    for (const auto& [status, n] : requests_)
      out += "tether_demo_requests_total{status=\"" + std::to_string(status) + "\"} " +
             std::to_string(n) + "\n";
    header(out, "tether_demo_cancellations_total", "counter",
           "Cancelled request and source contexts by cause.");
    for (const auto& [cause, n] : cancellations_)
      out += "tether_demo_cancellations_total{cause=\"" + label_value(cause) + "\"} " +
             std::to_string(n) + "\n";
  }

  header(out, "tether_demo_queries_interrupted_total", "counter",
         "SQL statements stopped mid-run by their context.");
  for (Source s : {Source::profile, Source::preferences})
    out += std::string("tether_demo_queries_interrupted_total{source=\"") + to_string(s) + "\"} " +
           std::to_string(queries_interrupted(s)) + "\n";

  header(out, "tether_demo_calls_interrupted_total", "counter",
         "Downstream HTTP calls cut off by their context.");
  out += "tether_demo_calls_interrupted_total{source=\"activity\"} " +
         std::to_string(calls_interrupted(Source::activity)) + "\n";

  header(out, "tether_demo_source_outcomes_total", "counter", "Data-source calls by outcome.");
  for (Source s : {Source::profile, Source::preferences, Source::activity})
    for (Outcome o : {Outcome::ok, Outcome::not_found, Outcome::failed, Outcome::interrupted,
                      Outcome::deadline_exceeded})
      out += std::string("tether_demo_source_outcomes_total{source=\"") + to_string(s) +
             "\",outcome=\"" + to_string(o) + "\"} " + std::to_string(source_outcomes(s, o)) + "\n";

  header(out, "tether_demo_in_flight", "gauge", "Requests being handled.");
  out += "tether_demo_in_flight " + std::to_string(in_flight()) + "\n";

  header(out, "tether_demo_deadline_left_seconds", "histogram",
         "Time left on the request deadline when the answer was ready.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= kDeadlineBuckets.size(); ++i) {
    cumulative += deadline_buckets_[i].load(std::memory_order_relaxed);
    const std::string le = i < kDeadlineBuckets.size() ? number(kDeadlineBuckets[i]) : "+Inf";
    out += "tether_demo_deadline_left_seconds_bucket{le=\"" + le + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += "tether_demo_deadline_left_seconds_sum " +
         number(static_cast<double>(deadline_sum_ns_.load(std::memory_order_relaxed)) / 1e9) + "\n";
  out += "tether_demo_deadline_left_seconds_count " + std::to_string(cumulative) + "\n";

  header(out, "tether_demo_registry_tracked", "gauge",
         "Contexts in tether's live-context registry.");
  out += "tether_demo_registry_tracked " + std::to_string(registry_tracked) + "\n";
  return out;
}

}  // namespace tether_demo
