// <tether/debug/prometheus.hpp> — the pieces of Prometheus' text exposition format (0.0.4)
// that tether::debug::metrics_text() writes with, for a service that renders metrics of its
// own next to it (the demo's /metrics does):
//
//   std::string out;
//   tether::debug::prometheus::header(out, "jobs_total", "counter", "Jobs by queue.");
//   out += "jobs_total{queue=\"" + tether::debug::prometheus::label_value(queue) + "\"} " +
//          std::to_string(n) + "\n";
//   out += "job_seconds_sum " + tether::debug::prometheus::number(seconds) + "\n";
//
// Pure functions on strings: thread-safe, never block, allocate only their result.
#pragma once

#include <string>
#include <string_view>

namespace tether::debug::prometheus {

/// A label value as the text format wants it between double quotes: backslash, double quote
/// and newline escaped (\\, \", \n); every other byte as it is.
std::string label_value(std::string_view value);

/// A sample or bucket-bound value: "+Inf" / "-Inf" for infinities, "NaN", else the shortest
/// of up to 9 significant digits ("0.005", "1e-07", "3").
std::string number(double value);

/// Appends the "# HELP name help" and "# TYPE name type" lines that open a metric family;
/// `type` is "counter", "gauge", "histogram", "summary" or "untyped".
void header(std::string& out, std::string_view name, std::string_view type, std::string_view help);

}  // namespace tether::debug::prometheus
