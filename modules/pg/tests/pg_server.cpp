#include "pg_server.hpp"

#include <iostream>

#ifndef TETHER_PG_TEMPLATE_DIR
#error "TETHER_PG_TEMPLATE_DIR: where the initialized template cluster is kept (set by CMake)"
#endif

namespace tether_test {

PgServer& pg_server() {
  static PgServer* server = [] {
    auto* s = new PgServer;
    ::testing::AddGlobalTestEnvironment(s);  // gtest owns and deletes it
    return s;
  }();
  return *server;
}

// Registers the environment before main() runs RUN_ALL_TESTS.
[[maybe_unused]] static PgServer& registered = pg_server();

void PgServer::SetUp() {
  tether::pg::LocalCluster::Options options;
  options.template_dir = TETHER_PG_TEMPLATE_DIR;
  cluster_ = std::make_unique<tether::pg::LocalCluster>(options);
  switch (cluster_->state()) {
    case tether::pg::LocalCluster::State::running:
      available_ = true;
      break;
    case tether::pg::LocalCluster::State::unavailable:
      skip_reason_ = cluster_->message();
      std::cerr << "*** pg tests SKIPPED: " << skip_reason_ << "\n";
      break;
    case tether::pg::LocalCluster::State::failed:
      available_ = true;
      failure_ = cluster_->message();
      break;
  }
}

void PgServer::TearDown() { cluster_.reset(); }

}  // namespace tether_test
