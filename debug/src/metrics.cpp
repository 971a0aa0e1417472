// metrics_text (tether/debug.hpp): tether::registry::stats() in Prometheus' text format,
// and the format's helpers (tether/debug/prometheus.hpp).
#include <cmath>
#include <cstdio>
#include <string_view>

#include "tether/debug.hpp"
#include "tether/debug/prometheus.hpp"

namespace tether::debug {

namespace prometheus {

std::string label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", value);
  return buf;
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help);
  out.append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
}

}  // namespace prometheus

namespace {
using prometheus::header;
using prometheus::label_value;
using prometheus::number;
}  // namespace

std::string metrics_text() {
  const registry::Stats s = registry::stats();
  std::string out;
  header(out, "tether_tracked_contexts", "gauge", "Tracked contexts (requests) in flight.");
  out += "tether_tracked_contexts " + std::to_string(s.tracked) + "\n";
  header(out, "tether_observed_contexts", "gauge",
         "Contexts alive in the trees of tracked contexts.");
  out += "tether_observed_contexts " + std::to_string(s.observed_contexts) + "\n";
  header(out, "tether_tracked_finished_total", "counter", "Tracked contexts finished.");
  out += "tether_tracked_finished_total " + std::to_string(s.finished) + "\n";
  header(out, "tether_context_cancellations_total", "counter",
         "Contexts of tracked trees cancelled, by cause.");
  for (const auto& [cause, n] : s.cancellations)
    out += "tether_context_cancellations_total{cause=\"" + label_value(cause) + "\"} " +
           std::to_string(n) + "\n";
  header(out, "tether_deadline_left_seconds", "histogram",
         "Deadline left when tracking of a context began.");
  std::uint64_t count = 0;
  for (const auto& [le, n] : s.deadline_left) {
    out += "tether_deadline_left_seconds_bucket{le=\"" + number(le) + "\"} " + std::to_string(n) +
           "\n";
    count = n;
  }
  out += "tether_deadline_left_seconds_sum " + number(s.deadline_left_sum) + "\n";
  out += "tether_deadline_left_seconds_count " + std::to_string(count) + "\n";
  return out;
}

}  // namespace tether::debug
