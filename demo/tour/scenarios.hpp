// scenarios.hpp — the scenarios of the guided tour, one function each.
//
// Each runs against a DemoService started by the tour with `--timeout 500` and returns what
// it expected, what it observed and whether the two agree. Timings are read from the wall
// clock — this is a demonstration, not a unit test — with generous margins, because the
// machine may be busy (2 cores shared with builds): they are the constants below, and the
// `expected` column states them.
//
// Thread safety: run one scenario at a time (each may read the service's log, which is
// safe, and the last one stops the service).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "demo_service.hpp"

namespace tether::demo_tour {

/// The request deadline the tour starts the service with (--timeout).
inline constexpr std::chrono::milliseconds kRequestDeadline{500};
/// A partial answer or a 504 "near the deadline": within this window of the request start.
/// Below: the service answers non-critical sources at the deadline minus a small reserve.
/// Above: 500 ms of slack for a busy machine — still half of the 2 s artificial latency.
inline constexpr std::chrono::milliseconds kNearDeadlineLow{300};
inline constexpr std::chrono::milliseconds kNearDeadlineHigh{1000};
/// The disconnect scenario: every interruption must be logged this soon after the hang-up
/// (loopback typically shows 1–5 ms).
inline constexpr std::chrono::milliseconds kInterruptBound{100};
/// The grpc-timeout scenario: the caller's budget, and the bound on its answer.
inline constexpr std::chrono::milliseconds kCallerBudget{100};
inline constexpr std::chrono::milliseconds kCallerBudgetBound{300};
/// The SIGTERM scenario: concurrent requests, and their activity latency.
inline constexpr int kSigtermClients = 32;
inline constexpr std::chrono::milliseconds kSigtermLatency{300};
/// --workers the tour gives the service (its source pool has 3 x this many threads), so that
/// the sources of all kSigtermClients requests run at once (queued sources would spend their
/// deadline waiting for a pool thread). Every route is a coroutine: none waits for a thread.
inline constexpr int kServiceWorkers = 48;

struct ScenarioResult {
  std::string name;
  std::string expected;
  std::string observed;
  bool ok = false;
  bool skipped = false;  ///< not run (an earlier scenario failed, without --keep-going)
};

/// Progress inside a scenario ("sent 32 requests"), printed by the tour as it happens.
using Progress = std::function<void(const std::string&)>;

ScenarioResult normal_request(DemoService& service, const Progress& progress);
ScenarioResult slow_non_critical_source(DemoService& service, const Progress& progress);
ScenarioResult slow_critical_source(DemoService& service, const Progress& progress);
ScenarioResult client_disconnects(DemoService& service, const Progress& progress);
ScenarioResult caller_timeout_header(DemoService& service, const Progress& progress);
/// Ends the service (SIGTERM): run it last.
ScenarioResult sigterm_during_load(DemoService& service, const Progress& progress);

/// What the gRPC scenario starts: tether-demo-activity (the activity service over gRPC, a
/// process of its own) and a second tether-demo calling it (`--activity-grpc`).
struct GrpcTour {
  std::string demo;        ///< tether-demo
  std::string activity;    ///< tether-demo-activity
  std::string data_dir;    ///< the SQLite files (seeded by the tour's main service)
  std::string log_prefix;  ///< their logs: <prefix>-edge.log, <prefix>-activity.log (+ .stderr)
};
/// The edge's request deadline in the gRPC scenario: long, so only the hang-up ends the call.
inline constexpr std::chrono::milliseconds kGrpcEdgeDeadline{5000};
/// A client hangs up at the HTTP edge while the activity call over gRPC is waiting: the call
/// and the activity handler's context are cancelled, one trace id in every process's log.
/// Starts and stops its own two processes.
ScenarioResult grpc_client_hangup(const GrpcTour& tour, const Progress& progress);

}  // namespace tether::demo_tour
