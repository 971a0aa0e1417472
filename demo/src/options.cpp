#include "options.hpp"

#include <charconv>
#include <cmath>
#include <string_view>
#include <system_error>
#include <utility>

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
  --workers N              the blocking sources run on 3 x N threads (default 16)
  --log json|text          log line format on stdout (default json)
  --help                   this text

Per request, query parameters override the knobs: profile_latency=MS
preferences_latency=MS activity_latency=MS profile_fail=0|1 preferences_fail=0|1
activity_fail=0|1.
)";
}

namespace {

// One flag's value, checked and stored; a BadCommandLine if the value is not one it takes.
using Setter = std::optional<BadCommandLine> (*)(Options&, std::string_view name,
                                                 std::string_view value);

std::optional<BadCommandLine> set_port(std::uint16_t& out, std::string_view name,
                                       std::string_view value) {
  auto v = parse_int<int>(value, 0, 65535);
  if (!v) return bad(name, value, "a port 0..65535");
  out = static_cast<std::uint16_t>(*v);
  return std::nullopt;
}

std::optional<BadCommandLine> set_millis(std::chrono::milliseconds& out, std::int64_t lo,
                                         std::string_view name, std::string_view value) {
  auto v = parse_int<std::int64_t>(value, lo, 3'600'000);
  if (!v) return bad(name, value, "milliseconds " + std::to_string(lo) + "..3600000");
  out = std::chrono::milliseconds(*v);
  return std::nullopt;
}

std::optional<BadCommandLine> set_rate(double& out, std::string_view name, std::string_view value) {
  auto v = parse_rate(value);
  if (!v) return bad(name, value, "a probability 0..1");
  out = *v;
  return std::nullopt;
}

// A flag whose value is one of two words.
template <class T>
std::optional<BadCommandLine> set_choice(T& out, std::string_view name, std::string_view value,
                                         std::pair<std::string_view, T> a,
                                         std::pair<std::string_view, T> b) {
  if (value == a.first) {
    out = a.second;
  } else if (value == b.first) {
    out = b.second;
  } else {
    return bad(name, value, std::string(a.first) + " or " + std::string(b.first));
  }
  return std::nullopt;
}

struct Flag {
  std::string_view name;
  Setter set;
};

// Every flag that takes a value (--postgres, whose value is optional, is parse()'s).
constexpr Flag kFlags[] = {
    {"--port", [](Options& o, auto n, auto v) { return set_port(o.port, n, v); }},
    {"--activity-port", [](Options& o, auto n, auto v) { return set_port(o.activity_port, n, v); }},
    {"--activity-grpc",
     [](Options& o, auto n, auto v) -> std::optional<BadCommandLine> {
       if (v.empty() || v.find(':') == std::string_view::npos)
         return bad(n, v, "HOST:PORT of tether-demo-activity");
       o.activity_grpc = std::string(v);
       return std::nullopt;
     }},
    {"--data-dir",
     [](Options& o, auto n, auto v) -> std::optional<BadCommandLine> {
       if (v.empty()) return bad(n, v, "a directory");
       o.data_dir = std::string(v);
       return std::nullopt;
     }},
    {"--users",
     [](Options& o, auto n, auto v) -> std::optional<BadCommandLine> {
       auto users = parse_int<std::int64_t>(v, 1, 100'000'000);
       if (!users) return bad(n, v, "a count 1..100000000");
       o.users = *users;
       return std::nullopt;
     }},
    {"--timeout", [](Options& o, auto n, auto v) { return set_millis(o.timeout, 1, n, v); }},
    {"--profile-latency",
     [](Options& o, auto n, auto v) { return set_millis(o.profile.latency, 0, n, v); }},
    {"--preferences-latency",
     [](Options& o, auto n, auto v) { return set_millis(o.preferences.latency, 0, n, v); }},
    {"--activity-latency",
     [](Options& o, auto n, auto v) { return set_millis(o.activity.latency, 0, n, v); }},
    {"--profile-fail",
     [](Options& o, auto n, auto v) { return set_rate(o.profile.fail_rate, n, v); }},
    {"--preferences-fail",
     [](Options& o, auto n, auto v) { return set_rate(o.preferences.fail_rate, n, v); }},
    {"--activity-fail",
     [](Options& o, auto n, auto v) { return set_rate(o.activity.fail_rate, n, v); }},
    {"--registry",
     [](Options& o, auto n, auto v) {
       return set_choice(o.registry, n, v, {"on", true}, {"off", false});
     }},
    {"--workers",
     [](Options& o, auto n, auto v) -> std::optional<BadCommandLine> {
       auto workers = parse_int<unsigned>(v, 1, 1024);
       if (!workers) return bad(n, v, "a thread count 1..1024");
       o.workers = *workers;
       return std::nullopt;
     }},
    {"--log",
     [](Options& o, auto n, auto v) {
       return set_choice(o.log, n, v, {"json", LogFormat::json}, {"text", LogFormat::text});
     }},
};

// "--name=value" → ("--name", "value"); "--name" → ("--name", nullopt).
std::pair<std::string_view, std::optional<std::string_view>> split_flag(std::string_view arg) {
  auto eq = arg.find('=');
  if (eq == std::string_view::npos) return {arg, std::nullopt};
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

const Flag* find_flag(std::string_view name) {
  for (const Flag& f : kFlags)
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace

ParseResult parse(int argc, const char* const* argv, const char* postgres_env) {
  Options o;
  if (postgres_env != nullptr && *postgres_env != '\0') o.postgres = postgres_env;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return HelpRequested{};
    if (arg.substr(0, 2) != "--")
      return BadCommandLine{"tether-demo: unexpected argument '" + std::string(arg) +
                            "' (see --help)"};
    auto [name, inline_value] = split_flag(arg);
    if (name == "--postgres") {  // the only flag whose value is optional
      o.postgres = std::string(inline_value.value_or(""));
      continue;
    }
    const Flag* flag = find_flag(name);
    if (flag == nullptr)
      return BadCommandLine{"tether-demo: unknown flag '" + std::string(name) + "' (see --help)"};
    if (!inline_value && i + 1 >= argc)
      return BadCommandLine{"tether-demo: " + std::string(name) + " needs a value (see --help)"};
    const std::string_view value = inline_value ? *inline_value : std::string_view(argv[++i]);
    if (auto error = flag->set(o, name, value)) return *error;
  }
  return o;
}

}  // namespace tether_demo
