// metrics_text.hpp — reads the Prometheus text format (0.0.4) that /metrics serves.
//
// Just enough to check counters and gauges: each sample line `name{label="v",...} value` (or
// `name value`) becomes a Sample; comments (# HELP, # TYPE) and blank lines are skipped.
//
//   auto samples = parse_metrics(body);
//   double n = metric_sum(samples, "tether_demo_queries_interrupted_total", {{"source",
//   "profile"}});
//
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether::demo_tour {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

/// The samples of a Prometheus text exposition. Malformed lines are skipped.
std::vector<Sample> parse_metrics(std::string_view text);

/// The sum of the samples called `name` whose labels include every pair of `match`
/// (0 when there is none).
double metric_sum(const std::vector<Sample>& samples, std::string_view name,
                  const std::map<std::string, std::string>& match = {});

/// Whether a sample called `name` exists at all.
bool metric_present(const std::vector<Sample>& samples, std::string_view name);

}  // namespace tether::demo_tour
