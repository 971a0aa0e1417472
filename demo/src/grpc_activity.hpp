// grpc_activity.hpp — the activity service over gRPC, as a process of its own
// (tether-demo-activity), and the demo's client for it (`tether-demo --activity-grpc ADDR`).
//
// The same service as activity_service.hpp (the same 5 events per user, the same latency and
// failure knobs) behind the gRPC method tether.demo.Activity/Recent (demo/proto/
// activity.proto). Both ends use tether::grpc, so the request context crosses the process
// boundary:
//
//   tether-demo (the HTTP edge)                    tether-demo-activity
//   activity source context ── GrpcActivity ──►    the call's context (Dispatcher)
//     deadline: request's − reserve   grpc-timeout: time left − 4 %   deadline ≤ the caller's
//     trace                           traceparent                     same trace id
//     cancelled (client hang-up)      TryCancel → RST_STREAM          "client cancelled"
//
// Server: GrpcActivityServer runs each call's work on a tether::grpc::Dispatcher (never on
// gRPC's threads). The artificial latency is a wait on the call's own context, so it ends
// the moment the caller cancels or the deadline passes. Its log lines (Log, one per line):
//   "activity call started"  before a wait of artificial latency (only then): trace_id,
//                            user_id, latency_ms, deadline_left_ms (the deadline that
//                            arrived over gRPC; -1: none)
//   "activity request"       when the work is done: method, path, status (the gRPC code's
//                            name, as the caller gets it), duration_ms, trace_id, cause (the
//                            call context's cause once it ended — "client cancelled",
//                            "context deadline exceeded", "server shutdown" — else "")
//
// Client: GrpcActivity::fetch makes the call with tether::grpc::call under the source's
// context: deadline, trace and cancellation travel; outcomes as HttpActivity's (NOT_FOUND →
// not_found, DEADLINE_EXCEEDED from the service → deadline_exceeded, other errors → failed).
//
// Thread safety: fetch() from any number of threads. GrpcActivityServer: start() and
// shutdown() from one thread; port() from any after start().
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "activity.grpc.pb.h"
#include "log.hpp"
#include "sources.hpp"
#include "tether/context.hpp"
#include "tether/grpc.hpp"

namespace tether_demo {

/// The activity service on 127.0.0.1 over gRPC.
class GrpcActivityServer {
 public:
  /// `workers`: threads running the calls' work (each call's wait holds one).
  GrpcActivityServer(Log& log, std::int64_t users, unsigned workers);
  ~GrpcActivityServer();
  GrpcActivityServer(const GrpcActivityServer&) = delete;
  GrpcActivityServer& operator=(const GrpcActivityServer&) = delete;

  /// Binds 127.0.0.1:port (0: any free port) and starts. Throws std::runtime_error when it
  /// cannot bind.
  void start(std::uint16_t port);
  std::uint16_t port() const noexcept { return port_; }
  /// Graceful stop: new calls are refused, the calls in flight may finish while `grace`
  /// lasts; when it ends they are cancelled with cause "server shutdown" (before gRPC's own
  /// cancel, which they would report as "client cancelled"). Blocks until they returned.
  void shutdown(const tether::Context& grace);

 private:
  class Service;
  ::grpc::Status recent(const tether::Context& ctx, const tether::demo::RecentRequest& request,
                        tether::demo::RecentReply& reply);
  ::grpc::Status answer(const tether::Context& ctx, const tether::demo::RecentRequest& request,
                        tether::demo::RecentReply& reply);

  Log& log_;
  std::int64_t users_;
  tether::grpc::Dispatcher calls_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<::grpc::Server> server_;
  std::uint16_t port_ = 0;
};

/// The activity source over gRPC: the service at `address` ("127.0.0.1:PORT").
class GrpcActivity final : public ActivitySource {
 public:
  explicit GrpcActivity(const std::string& address);
  SourceResult fetch(const tether::Context& ctx, const SourceRequest& request) override;

 private:
  std::unique_ptr<tether::demo::Activity::Stub> stub_;
};

/// "OK", "CANCELLED", "DEADLINE_EXCEEDED", … (the names of the gRPC status codes).
std::string_view grpc_code_name(::grpc::StatusCode code) noexcept;

}  // namespace tether_demo
