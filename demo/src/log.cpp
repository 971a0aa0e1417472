#include "log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "tether/propagation.hpp"

namespace tether_demo {
namespace {

const char* level_name(Level level) {
  switch (level) {
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "info";
}

// "2026-11-22T08:00:00.123Z"
std::string rfc3339_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  const std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count() % 1000));
  return buf;
}

// A text-format value: bare when it is a plain word or number, JSON-quoted otherwise.
std::string text_value(const Fields& v) {
  if (!v.is_string()) return v.dump(-1, ' ', false, Fields::error_handler_t::replace);
  const std::string& s = v.get_ref<const std::string&>();
  bool plain = !s.empty();
  for (char c : s)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      plain = false;
  return plain ? s : v.dump(-1, ' ', false, Fields::error_handler_t::replace);
}

}  // namespace

Log::Log(LogFormat format)
    : Log(format, [](std::string_view line) {
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fflush(stdout);
      }) {}

Log::Log(LogFormat format, Sink sink) : format_(format), sink_(std::move(sink)) {}

std::string Log::format(Level level, std::string_view msg, const Fields& fields) const {
  if (format_ == LogFormat::json) {
    Fields line = Fields::object();
    line["ts"] = rfc3339_now();
    line["level"] = level_name(level);
    line["msg"] = msg;
    if (fields.is_object())
      for (const auto& [key, value] : fields.items()) line[key] = value;
    // Invalid UTF-8 (a client's path) is replaced, never a reason to lose the line.
    return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  }
  std::string line = rfc3339_now() + " " + level_name(level) + " " + std::string(msg);
  if (fields.is_object())
    for (const auto& [key, value] : fields.items()) line += " " + key + "=" + text_value(value);
  return line + "\n";
}

void Log::write(Level level, std::string_view msg, const Fields& fields) {
  std::string line = format(level, msg, fields);
  std::lock_guard lock(mu_);
  sink_(line);
}

std::string trace_id(const tether::Context& ctx) {
  const tether::TraceContext* t = ctx.value(tether::trace_key);
  return t ? t->trace_id_hex() : std::string();
}

double to_ms(std::chrono::nanoseconds d) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(d).count()) /
         1000.0;
}

}  // namespace tether_demo
