#include "knobs.hpp"

#include <charconv>
#include <random>

namespace tether_demo {
namespace {

Error name_error(std::string_view name, std::string_view value, std::string_view expected) {
  return {make_error_code(errc::bad_query), "invalid query parameter " + std::string(name) + "=" +
                                                std::string(value) + " (expected " +
                                                std::string(expected) + ")"};
}

}  // namespace

std::vector<std::pair<std::string_view, std::string_view>> split_query(std::string_view query) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      out.emplace_back(part, std::string_view());
    } else {
      out.emplace_back(part.substr(0, eq), part.substr(eq + 1));
    }
  }
  return out;
}

std::optional<std::int64_t> parse_int(std::string_view text, std::int64_t lo, std::int64_t hi) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
    return std::nullopt;
  return v;
}

Result<RequestKnobs> resolve_knobs(std::string_view query, const Options& defaults) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  RequestKnobs knobs;
  const SourceKnobs* flags[kSourceCount] = {&defaults.profile, &defaults.preferences,
                                            &defaults.activity};
  for (std::size_t i = 0; i < kSourceCount; ++i) {
    knobs[i].latency = flags[i]->latency;
    knobs[i].fail = flags[i]->fail_rate > 0 &&
                    std::uniform_real_distribution<double>(0.0, 1.0)(rng) < flags[i]->fail_rate;
  }
  for (auto [name, value] : split_query(query)) {
    for (std::size_t i = 0; i < kSourceCount; ++i) {
      const std::string source = to_string(static_cast<Source>(i));
      if (name == source + "_latency") {
        auto ms = parse_int(value, 0, 3'600'000);
        if (!ms) return name_error(name, value, "milliseconds 0..3600000");
        knobs[i].latency = std::chrono::milliseconds(*ms);
      } else if (name == source + "_fail") {
        if (value != "0" && value != "1") return name_error(name, value, "0 or 1");
        knobs[i].fail = value == "1";
      }
    }
  }
  return knobs;
}

}  // namespace tether_demo
