// <tether/harness/process.hpp> — a program started by a test or the demo tour, with its
// stdout on a pipe.
//
// The tour starts tether-demo as a child, reads its JSON log from the pipe, signals it
// (SIGTERM) and waits for it to exit; the gRPC tests start interop peers and wait for the
// line that says they listen — every wait bounded. The destructor of a child that is still
// running kills it (SIGKILL) and reaps it, so a failing test never leaves a process behind.
//
//   auto child = ChildProcess::spawn("/path/tether-demo", {"--port", "0"}, "stderr.log");
//   auto listening = child.line_with("listening", 30s);   // nullopt: not within 30 s
//   ...
//   child.signal(SIGTERM);
//   std::optional<int> status = child.wait_exit(10s);   // nullopt: still running
//
// Thread safety: one thread at a time per ChildProcess. What blocks: line_with() and
// wait_exit() up to their timeouts; kill_and_reap() and the destructor up to 5 s.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether::harness {

/// A child process started with posix_spawn.
class ChildProcess {
 public:
  /// Starts `program` with `args` (argv[0] is `program`). Its stdout is a pipe (read it with
  /// line_with(), or take_stdout() to read it elsewhere); its stderr goes to `stderr_path`
  /// (truncated) or, if empty, to ours. It inherits our environment plus `env` ("NAME=value"
  /// entries). Throws std::system_error when the pipe, the file or the spawn fails.
  static ChildProcess spawn(const std::string& program, const std::vector<std::string>& args,
                            const std::string& stderr_path = "",
                            const std::vector<std::string>& env = {});

  /// spawn(argv[0], the rest of argv, "", env): its stderr goes to ours.
  static ChildProcess start(const std::vector<std::string>& argv,
                            const std::vector<std::string>& env = {});

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  /// Kills (SIGKILL) and reaps the child if it is still running; closes the pipe.
  ~ChildProcess();

  pid_t pid() const noexcept { return pid_; }
  /// The read end of the child's stdout; the caller owns it from now on (-1 if taken).
  int take_stdout() noexcept;
  /// Reads the child's stdout up to the next line containing `what`, echoing every line
  /// read to our stderr ("  child PID: ..."); earlier lines are skipped. nullopt if
  /// `timeout` passes, the stream ends or stdout was taken.
  std::optional<std::string> line_with(
      std::string_view what, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Sends `sig`. False if the child has already been reaped or kill() failed.
  bool signal(int sig) const noexcept;
  /// Waits up to `timeout` for the child to exit (on a pidfd: no polling) and reaps it.
  /// Returns its wait status (see describe_wait_status), or nullopt if it is still running.
  /// Once reaped, returns the same status again at once.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  /// True until the child has been reaped.
  bool running() const noexcept { return !status_.has_value(); }
  /// SIGKILL, then reap (bounded: 5 s). Does nothing if already reaped.
  void kill_and_reap() noexcept;

 private:
  ChildProcess(pid_t pid, int stdout_fd) noexcept : pid_(pid), stdout_fd_(stdout_fd) {}
  // Reaps the child if it has exited (recording its status); nullopt while it runs.
  std::optional<int> try_reap() noexcept;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::optional<int> status_;
  std::string stdout_buffer_;  // read by line_with, not yet a whole line
};

/// "exit 0", "exit 3", "killed by signal 9 (Killed)".
std::string describe_wait_status(int status);
/// True when the status is a normal exit with code 0.
bool exited_cleanly(int status) noexcept;

}  // namespace tether::harness
