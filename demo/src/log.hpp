// log.hpp — structured log lines on stdout: one JSON object per line (or readable text).
//
// Every line has "ts" (RFC 3339, UTC, milliseconds), "level" and "msg", then the fields the
// caller gives, in the order given; request-scoped lines carry "trace_id", taken from the
// request context (tether::trace_key) — the tutorials' "trace id in every log line":
//
//   log.info("source", {{"source", "profile"}, {"outcome", "ok"},
//                       {"trace_id", tether_demo::trace_id(ctx)}});
//   → {"ts":"2026-11-22T08:00:00.123Z","level":"info","msg":"source","source":"profile",...}
//
// The msg values other programs rely on (the tour reads them from a pipe) are listed in
// docs/demo.md: "listening" (always the first line), "request", "source",
// "activity request", "shutting down", "stopped".
//
// Thread safety: write() may be called from any thread; each line is written whole, under a
// mutex, and flushed (a reader on a pipe sees it at once).
#pragma once

#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "options.hpp"
#include "tether/context.hpp"

namespace tether_demo {

/// The fields of a log line, in insertion order.
using Fields = nlohmann::ordered_json;

enum class Level { info, warn, error };

class Log {
 public:
  /// Receives each formatted line, '\n' included.
  using Sink = std::function<void(std::string_view line)>;

  /// Writes to stdout (flushed per line).
  explicit Log(LogFormat format);
  Log(LogFormat format, Sink sink);

  void write(Level level, std::string_view msg, const Fields& fields = Fields::object());
  void info(std::string_view msg, const Fields& fields = Fields::object()) {
    write(Level::info, msg, fields);
  }
  void warn(std::string_view msg, const Fields& fields = Fields::object()) {
    write(Level::warn, msg, fields);
  }
  void error(std::string_view msg, const Fields& fields = Fields::object()) {
    write(Level::error, msg, fields);
  }

  /// The line write() would produce (without the sink), for tests and for --log text.
  std::string format(Level level, std::string_view msg, const Fields& fields) const;

 private:
  LogFormat format_;
  Sink sink_;
  std::mutex mu_;  // one line at a time
};

/// The 32-hex-digit trace id carried by `ctx` (tether::trace_key), or "" if none.
std::string trace_id(const tether::Context& ctx);

/// Milliseconds as a float with microsecond resolution, for "duration_ms" fields.
double to_ms(std::chrono::nanoseconds d);

}  // namespace tether_demo
