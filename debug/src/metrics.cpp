// metrics_text (tether/debug.hpp): tether::registry::stats() in Prometheus' text format.
#include <cmath>
#include <cstdio>
#include <string_view>

#include "tether/debug.hpp"

namespace tether::debug {
namespace {

/// A label value: backslash, double quote and newline escaped (the text format's rule).
std::string label_value(std::string_view s) {
  std::string out;
  for (char c : s) {
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

std::string number(double v) {
  if (std::isinf(v)) return "+Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

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
