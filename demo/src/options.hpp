// options.hpp — the command line of tether-demo: what can be configured, and its defaults.
//
// Every knob of the demo service is a flag (see usage() for the text `--help` prints). The
// latency and failure knobs set the behaviour of the three data sources for every request;
// a request can override them with query parameters (see knobs.hpp). Defaults make
// `tether-demo` with no flags a working service: SQLite files in ./demo-data, the activity
// service in-process (over HTTP; --activity-grpc calls a separate gRPC process instead), no
// artificial latency, no failures.
//
// parse() never exits and never prints: it returns the options or a message, and main()
// decides (exit 2 with the message on stderr, as the contract asks for a bad flag or value).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace tether_demo {

/// How log lines are written: one JSON object per line, or human-readable text.
enum class LogFormat { json, text };

/// Artificial latency and failure probability of one data source.
struct SourceKnobs {
  std::chrono::milliseconds latency{0};
  double fail_rate = 0;  ///< 0..1
};

struct Options {
  std::uint16_t port = 8080;        ///< 0: any free port
  std::uint16_t activity_port = 0;  ///< the in-process activity service; 0: any free port
  /// "HOST:PORT" of a tether-demo-activity process to call over gRPC instead of the
  /// in-process HTTP activity service; empty (the default): in-process HTTP.
  std::string activity_grpc;
  std::string data_dir = "demo-data";
  std::int64_t users = 100'000;  ///< ids 1..users exist
  /// Preferences from PostgreSQL: nullopt = the SQLite file; "" = start a throwaway local
  /// cluster; otherwise a libpq conninfo.
  std::optional<std::string> postgres;
  std::chrono::milliseconds timeout{500};  ///< default request deadline
  SourceKnobs profile, preferences, activity;
  bool registry = true;
  unsigned workers = 16;
  LogFormat log = LogFormat::json;
};

/// What parse() found: options to run with, a request for help, or an error message.
struct HelpRequested {};
struct BadCommandLine {
  std::string message;
};
using ParseResult = std::variant<Options, HelpRequested, BadCommandLine>;

/// Parses argv (flags as "--name value" or "--name=value"). `postgres_env` is the value of
/// TETHER_DEMO_POSTGRES (nullptr when unset); a --postgres flag takes precedence over it.
ParseResult parse(int argc, const char* const* argv, const char* postgres_env);

/// The text printed by --help.
std::string usage();

}  // namespace tether_demo
