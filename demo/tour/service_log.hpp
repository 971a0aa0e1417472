// service_log.hpp — tether-demo's stdout, read line by line as it is written.
//
// tether-demo writes one JSON object per line (see /work/briefs/demo-contract.md, "Stdout").
// A ServiceLog reads them on its own thread as they arrive, keeps every line (parsed, with
// the moment it was received), optionally mirrors them to a file, and lets the tour wait —
// bounded — for the first line that matches a predicate:
//
//   ServiceLog log(child.take_stdout(), "service.log");
//   auto listening = log.wait_for([](const LogLine& l) { return l.msg() == "listening"; }, 60s);
//
// Lines that are not JSON are kept with `fields` null. Thread safety: every member may be
// called from any thread. What blocks: wait_for(), up to its timeout; the destructor joins
// the reader (it stops it first, whether or not the pipe has reached its end).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tether::demo_tour {

/// One line of the service's log.
struct LogLine {
  std::string text;                                ///< as written, without the newline
  nlohmann::json fields;                           ///< the parsed object, or null
  std::chrono::steady_clock::time_point received;  ///< when the tour read it

  /// fields["msg"] as a string, or "" if absent.
  std::string msg() const { return string_field("msg"); }
  /// A string field, or "" if absent or not a string.
  std::string string_field(const char* name) const;
  /// A number field, or nullopt if absent or not a number.
  std::optional<double> number_field(const char* name) const;
  /// A boolean field; false if absent.
  bool flag(const char* name) const;
};

/// Reads a log pipe on a thread of its own. See the header comment.
class ServiceLog {
 public:
  /// Takes ownership of `fd`. `mirror_path`: a file that receives every line (empty: none).
  ServiceLog(int fd, const std::string& mirror_path);
  ~ServiceLog();
  ServiceLog(const ServiceLog&) = delete;
  ServiceLog& operator=(const ServiceLog&) = delete;

  using Predicate = std::function<bool(const LogLine&)>;
  /// The first line at index >= `from` matching `pred`, waiting up to `timeout` for it to
  /// arrive. nullopt on timeout or when the pipe ended without one.
  std::optional<LogLine> wait_for(const Predicate& pred, std::chrono::milliseconds timeout,
                                  std::size_t from = 0) const;
  /// How many lines have been read so far (an index for wait_for's `from`).
  std::size_t size() const;
  /// A copy of every line read so far.
  std::vector<LogLine> lines() const;
  /// True once the pipe reached its end (the service closed stdout or exited).
  bool ended() const;
  /// The last `n` lines, for error messages.
  std::string tail(std::size_t n) const;

 private:
  void run();

  int fd_;
  int wake_[2] = {-1, -1};  // a pipe: the destructor writes to it to stop the reader
  std::ofstream mirror_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<LogLine> lines_;  // under mu_
  bool ended_ = false;          // under mu_
  std::thread reader_;
};

/// Parses an RFC 3339 UTC timestamp ("2026-11-22T07:40:01.123Z", fraction optional, "Z" or
/// "+00:00"). nullopt if it is not one.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& text);

}  // namespace tether::demo_tour
