// knobs.hpp — one request's latency and failure settings for the three sources.
//
// The flags (--profile-latency, --activity-fail, ...) set defaults; query parameters of
// GET /users/{id} override them for one request:
//
//   GET /users/42?preferences_latency=2000      preferences takes 2 s (and is cut off)
//   GET /users/42?profile_fail=1                the profile fails: 503
//
// A *_latency parameter is milliseconds (0..3600000); a *_fail parameter is 0 or 1 — a
// certainty, where the flag is a probability drawn per request. Unknown parameters are
// ignored (as in Go); a known one with a bad value is an error (the endpoint answers 400).
//
// Thread safety: pure functions, except that resolve() draws from a per-thread generator.
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "error.hpp"
#include "options.hpp"
#include "outcome.hpp"

namespace tether_demo {

/// The latency and injected failure of one source for one request.
struct SourceSetting {
  std::chrono::milliseconds latency{0};
  bool fail = false;
};

/// Settings of profile, preferences, activity (indexed by Source).
using RequestKnobs = std::array<SourceSetting, kSourceCount>;

/// The "name=value" pairs of a query string, in order (no percent-decoding: every value
/// the demo reads is a number).
std::vector<std::pair<std::string_view, std::string_view>> split_query(std::string_view query);

/// A whole decimal number in [lo, hi], or nullopt.
std::optional<std::int64_t> parse_int(std::string_view text, std::int64_t lo, std::int64_t hi);

/// This request's knobs: the query's overrides, else the options' defaults (failure rates
/// drawn now). On a bad parameter, errc::bad_query with the message for the 400 answer.
Result<RequestKnobs> resolve_knobs(std::string_view query, const Options& defaults);

}  // namespace tether_demo
