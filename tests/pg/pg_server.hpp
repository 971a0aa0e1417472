// A throwaway PostgreSQL 15 cluster for the pg tests.
//
// PgServer is a GoogleTest Environment: before the first test it creates a cluster in a
// fresh temporary directory (on /dev/shm when available) — by copying a template that the
// first run initializes with initdb under the build directory — and starts the server with
// pg_ctl, listening on 127.0.0.1 on a free port (and on a Unix socket in the same
// directory); after the last test it stops the server and removes the directory. As root, the
// server runs as the `postgres` system user (through runuser), since PostgreSQL refuses to run as
// root.
//
// Abnormal exit: a watchdog process (a shell reading a pipe whose write end only this
// process holds) stops the server and removes the directory when this process dies for any
// reason — a crash, an abort, a SIGKILL from a ctest timeout.
//
// If the PostgreSQL 15 server binaries are absent, available() is false and skip_reason()
// says why; tests then GTEST_SKIP loudly. If they are present but the cluster cannot be
// started, failure() says why and tests fail.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tether_test {

class PgServer : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;

  /// The binaries exist (tests run); false → skip with skip_reason().
  bool available() const { return available_; }
  const std::string& skip_reason() const { return skip_reason_; }
  /// Non-empty if the binaries exist but the cluster could not be started.
  const std::string& failure() const { return failure_; }

  /// libpq connection string for the running cluster (TCP on 127.0.0.1).
  std::string conninfo() const;
  /// pg_ctl stop -m immediate: every backend is killed at once, no clean shutdown.
  bool stop_immediately();
  /// Starts the (stopped) cluster again on the same port; waits until it accepts connections.
  bool start();

 private:
  int run(const std::vector<std::string>& argv, bool as_postgres);
  bool make_data_dir();
  std::vector<std::string> as_user(std::vector<std::string> argv) const;

  bool available_ = false;
  std::string skip_reason_;
  std::string failure_;
  std::string bin_;
  std::string dir_;
  int port_ = 0;
  bool root_ = false;
  int watchdog_fd_ = -1;
  int watchdog_pid_ = -1;
};

/// The process-wide server, registered as a GoogleTest environment.
PgServer& pg_server();

}  // namespace tether_test
