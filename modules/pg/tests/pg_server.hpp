// A throwaway PostgreSQL 15 cluster for the pg tests.
//
// PgServer is a GoogleTest Environment around tether::pg::LocalCluster
// (tether/pg_local_cluster.hpp): before the first test it creates a cluster in a fresh
// temporary directory — by copying a template that the first run initializes with initdb
// under the build directory — and starts it on 127.0.0.1 on a free port; after the last
// test it stops the server and removes the directory. LocalCluster's watchdog cleans up
// after an abnormal exit (a crash, a SIGKILL from a ctest timeout).
//
// If the PostgreSQL 15 server binaries are absent, available() is false and skip_reason()
// says why; tests then GTEST_SKIP loudly. If they are present but the cluster cannot be
// started, failure() says why and tests fail.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tether/pg_local_cluster.hpp"

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
  std::string conninfo() const { return cluster_ ? cluster_->conninfo() : std::string(); }
  /// pg_ctl stop -m immediate: every backend is killed at once, no clean shutdown.
  bool stop_immediately() { return cluster_ && cluster_->stop_immediately(); }
  /// Starts the (stopped) cluster again on the same port; waits until it accepts connections.
  bool start() { return cluster_ && cluster_->start(); }

 private:
  std::unique_ptr<tether::pg::LocalCluster> cluster_;
  bool available_ = false;
  std::string skip_reason_;
  std::string failure_;
};

/// The process-wide server, registered as a GoogleTest environment.
PgServer& pg_server();

}  // namespace tether_test
