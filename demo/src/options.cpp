#include "options.hpp"

#include <charconv>
#include <cmath>
#include <string_view>
#include <system_error>

namespace tether_demo {
namespace {

// Whole decimal numbers only, within [lo, hi]: "12", not "12ms", "+12", " 12" or "1e3".
template <class Int>
std::optional<Int> parse_int(std::string_view text, Int lo, Int hi) {
  Int v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
    return std::nullopt;
  return v;
}

std::optional<double> parse_rate(std::string_view text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v) || v < 0 || v > 1)
    return std::nullopt;
  return v;
}

BadCommandLine bad(std::string_view flag, std::string_view value, std::string_view expected) {
  return {"tether-demo: invalid value '" + std::string(value) + "' for " + std::string(flag) +
          " (expected " + std::string(expected) + ")"};
}

}  // namespace

std::string usage() {
  return R"(usage: tether-demo [flags]

The tutorials' service: GET /users/{id} merges a profile (SQLite, critical), preferences
(SQLite or PostgreSQL, non-critical) and recent activity (an HTTP service in-process, or a
gRPC one in another process, non-critical),
in parallel under one deadline. See docs/demo.md.

  --port N                 listen port on 127.0.0.1 (default 8080; 0 = any free port)
  --activity-port N        port of the in-process activity service (default 0 = any)
  --activity-grpc HOST:PORT  call the activity service over gRPC, in a separate process
                           (tether-demo-activity), instead of the in-process HTTP one
  --data-dir DIR           where the SQLite files live (default ./demo-data); created and
                           seeded on first start, reused later
  --users N                users to seed (default 100000); ids 1..N exist, others are 404
  --postgres[=CONNINFO]    preferences from PostgreSQL; without a value, start a throwaway
                           local PostgreSQL 15 cluster (env TETHER_DEMO_POSTGRES=CONNINFO
                           does the same as --postgres=CONNINFO)
  --timeout MS             default request deadline (default 500)
  --profile-latency MS     artificial latency of each source (default 0): a query or call
  --preferences-latency MS that really runs that long, and stops when its context ends
  --activity-latency MS
  --profile-fail RATE      probability 0..1 that a source fails (default 0)
  --preferences-fail RATE
  --activity-fail RATE
  --registry on|off        the live-context registry behind /debug/contexts (default on)
  --workers N              handler threads (default 16)
  --log json|text          log line format on stdout (default json)
  --help                   this text

Per request, query parameters override the knobs: profile_latency=MS
preferences_latency=MS activity_latency=MS profile_fail=0|1 preferences_fail=0|1
activity_fail=0|1.
)";
}

ParseResult parse(int argc, const char* const* argv, const char* postgres_env) {
  Options o;
  if (postgres_env != nullptr && *postgres_env != '\0') o.postgres = postgres_env;

  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return HelpRequested{};
    if (arg.substr(0, 2) != "--")
      return BadCommandLine{"tether-demo: unexpected argument '" + std::string(arg) +
                            "' (see --help)"};
    std::string_view name = arg;
    std::optional<std::string_view> inline_value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    if (name == "--postgres") {  // the only flag whose value is optional
      o.postgres = std::string(inline_value.value_or(""));
      continue;
    }
    std::string_view value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return BadCommandLine{"tether-demo: " + std::string(name) + " needs a value (see --help)"};
    }

    auto port = [&](std::uint16_t& out) -> std::optional<BadCommandLine> {
      auto v = parse_int<int>(value, 0, 65535);
      if (!v) return bad(name, value, "a port 0..65535");
      out = static_cast<std::uint16_t>(*v);
      return std::nullopt;
    };
    auto millis = [&](std::chrono::milliseconds& out,
                      std::int64_t lo) -> std::optional<BadCommandLine> {
      auto v = parse_int<std::int64_t>(value, lo, 3'600'000);
      if (!v) return bad(name, value, "milliseconds " + std::to_string(lo) + "..3600000");
      out = std::chrono::milliseconds(*v);
      return std::nullopt;
    };
    auto rate = [&](double& out) -> std::optional<BadCommandLine> {
      auto v = parse_rate(value);
      if (!v) return bad(name, value, "a probability 0..1");
      out = *v;
      return std::nullopt;
    };

    std::optional<BadCommandLine> error;
    if (name == "--port") {
      error = port(o.port);
    } else if (name == "--activity-port") {
      error = port(o.activity_port);
    } else if (name == "--activity-grpc") {
      if (value.empty() || value.find(':') == std::string_view::npos)
        error = bad(name, value, "HOST:PORT of tether-demo-activity");
      o.activity_grpc = std::string(value);
    } else if (name == "--data-dir") {
      if (value.empty()) error = bad(name, value, "a directory");
      o.data_dir = std::string(value);
    } else if (name == "--users") {
      auto v = parse_int<std::int64_t>(value, 1, 100'000'000);
      if (!v) error = bad(name, value, "a count 1..100000000");
      o.users = v.value_or(0);
    } else if (name == "--timeout") {
      error = millis(o.timeout, 1);
    } else if (name == "--profile-latency") {
      error = millis(o.profile.latency, 0);
    } else if (name == "--preferences-latency") {
      error = millis(o.preferences.latency, 0);
    } else if (name == "--activity-latency") {
      error = millis(o.activity.latency, 0);
    } else if (name == "--profile-fail") {
      error = rate(o.profile.fail_rate);
    } else if (name == "--preferences-fail") {
      error = rate(o.preferences.fail_rate);
    } else if (name == "--activity-fail") {
      error = rate(o.activity.fail_rate);
    } else if (name == "--registry") {
      if (value == "on") {
        o.registry = true;
      } else if (value == "off") {
        o.registry = false;
      } else {
        error = bad(name, value, "on or off");
      }
    } else if (name == "--workers") {
      auto v = parse_int<unsigned>(value, 1, 1024);
      if (!v) error = bad(name, value, "a thread count 1..1024");
      o.workers = v.value_or(1);
    } else if (name == "--log") {
      if (value == "json") {
        o.log = LogFormat::json;
      } else if (value == "text") {
        o.log = LogFormat::text;
      } else {
        error = bad(name, value, "json or text");
      }
    } else {
      return BadCommandLine{"tether-demo: unknown flag '" + std::string(name) + "' (see --help)"};
    }
    if (error) return *error;
  }
  return o;
}

}  // namespace tether_demo
