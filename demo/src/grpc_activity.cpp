#include "grpc_activity.hpp"

#include <chrono>
#include <stdexcept>
#include <utility>

#include "activity_service.hpp"

namespace tether_demo {

namespace pb = tether::demo;
using ::grpc::Status;
using ::grpc::StatusCode;

std::string_view grpc_code_name(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::OK:
      return "OK";
    case StatusCode::CANCELLED:
      return "CANCELLED";
    case StatusCode::UNKNOWN:
      return "UNKNOWN";
    case StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case StatusCode::ABORTED:
      return "ABORTED";
    case StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case StatusCode::INTERNAL:
      return "INTERNAL";
    case StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

// ---- the server --------------------------------------------------------------------------

class GrpcActivityServer::Service final : public pb::Activity::CallbackService {
 public:
  explicit Service(GrpcActivityServer& owner) : owner_(owner) {}
  ::grpc::ServerUnaryReactor* Recent(::grpc::CallbackServerContext* sc,
                                     const pb::RecentRequest* request,
                                     pb::RecentReply* reply) override {
    // The work runs on the Dispatcher's workers under the call's context; the method
    // handler returns at once (gRPC delivers a cancel only after it has).
    return owner_.calls_.unary(sc, [&owner = owner_, request, reply](const tether::Context& ctx) {
      return owner.recent(ctx, *request, *reply);
    });
  }

 private:
  GrpcActivityServer& owner_;
};

GrpcActivityServer::GrpcActivityServer(Log& log, std::int64_t users, unsigned workers)
    : log_(log),
      users_(users),
      calls_(tether::background(), tether::grpc::ServerOptions{.workers = workers}),
      service_(std::make_unique<Service>(*this)) {}

GrpcActivityServer::~GrpcActivityServer() {
  if (server_) {
    calls_.cancel_calls();
    server_->Shutdown();
  }
}

void GrpcActivityServer::start(std::uint16_t port) {
  int bound = 0;
  ::grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), ::grpc::InsecureServerCredentials(),
                           &bound);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || bound == 0) {
    server_.reset();
    throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(port) +
                             " for the gRPC activity service");
  }
  port_ = static_cast<std::uint16_t>(bound);
}

void GrpcActivityServer::shutdown(const tether::Context& grace) {
  if (!server_) return;
  // When the grace ends, the calls still running end as "server shutdown" (gRPC's own
  // cancel at its Shutdown deadline would look like a client's). Until then Shutdown waits
  // for them; it is given one second more than the grace as a backstop.
  tether::Registration hook = tether::after_func(grace, [this] { calls_.cancel_calls(); });
  auto until = std::chrono::system_clock::time_point::max();
  if (auto deadline = grace.deadline()) {
    until = std::chrono::system_clock::now() +
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                *deadline - tether::now() + std::chrono::seconds(1));
  }
  if (until == std::chrono::system_clock::time_point::max()) {
    server_->Shutdown();
  } else {
    server_->Shutdown(until);
  }
  hook.stop_and_wait();
  calls_.cancel_calls();
  server_.reset();
}

Status GrpcActivityServer::recent(const tether::Context& ctx, const pb::RecentRequest& request,
                                  pb::RecentReply& reply) {
  const auto start = std::chrono::steady_clock::now();
  // What the caller gets: the Dispatcher maps a status the same way (status_for).
  const Status status = tether::grpc::status_for(ctx, answer(ctx, request, reply));
  log_.info("activity request",
            {{"method", "Recent"},
             {"path", "/tether.demo.Activity/Recent"},
             {"status", grpc_code_name(status.error_code())},
             {"duration_ms", to_ms(std::chrono::steady_clock::now() - start)},
             {"trace_id", trace_id(ctx)},
             {"cause", ctx.err() ? tether::cause(ctx).message() : std::string()}});
  return status;
}

Status GrpcActivityServer::answer(const tether::Context& ctx, const pb::RecentRequest& request,
                                  pb::RecentReply& reply) {
  if (request.user_id() < 1) return {StatusCode::INVALID_ARGUMENT, "bad user id"};
  if (request.latency_ms() < 0 || request.latency_ms() > 3'600'000)
    return {StatusCode::INVALID_ARGUMENT, "bad latency_ms"};
  if (request.latency_ms() > 0) {
    const auto deadline = ctx.deadline();
    log_.info("activity call started",
              {{"trace_id", trace_id(ctx)},
               {"user_id", request.user_id()},
               {"latency_ms", request.latency_ms()},
               {"deadline_left_ms", deadline ? to_ms(*deadline - tether::now()) : -1.0}});
    // The artificial latency is a wait on this call's own context: it ends early when the
    // caller cancels (CANCELLED) or the deadline passes (DEADLINE_EXCEEDED) — status_for
    // turns this status into the context's end.
    if (ctx.done().wait_for(std::chrono::milliseconds(request.latency_ms())))
      return {StatusCode::CANCELLED, ""};
  }
  if (request.fail()) return {StatusCode::UNAVAILABLE, "injected failure in activity"};
  if (request.user_id() > users_) return {StatusCode::NOT_FOUND, "user not found"};
  for (const auto& e : activity_events(request.user_id())) {
    pb::Event* event = reply.add_events();
    event->set_kind(e["kind"].get<std::string>());
    event->set_item(e["item"].get<std::string>());
    event->set_minutes_ago(e["minutes_ago"].get<std::int64_t>());
  }
  return Status::OK;
}

// ---- the client --------------------------------------------------------------------------

GrpcActivity::GrpcActivity(const std::string& address)
    : stub_(pb::Activity::NewStub(
          ::grpc::CreateChannel(address, ::grpc::InsecureChannelCredentials()))) {}

SourceResult GrpcActivity::fetch(const tether::Context& ctx, const SourceRequest& request) {
  pb::RecentRequest req;
  req.set_user_id(request.user_id);
  req.set_latency_ms(request.latency.count());
  req.set_fail(request.fail);
  pb::RecentReply reply;
  const bool started_alive = !ctx.err();
  // The call carries ctx's deadline (minus 4 %) and trace, and is cancelled when ctx ends.
  const Status s = tether::grpc::call(
      ctx, [&](::grpc::ClientContext* cc) { return stub_->Recent(cc, req, &reply); });
  if (s.ok()) {
    nlohmann::ordered_json events = nlohmann::ordered_json::array();
    for (const pb::Event& e : reply.events())
      events.push_back({{"kind", e.kind()}, {"item", e.item()}, {"minutes_ago", e.minutes_ago()}});
    return {Outcome::ok, std::move(events), "", false};
  }
  if (auto err = ctx.err()) return context_ended(ctx, err, started_alive);
  switch (s.error_code()) {
    case StatusCode::NOT_FOUND:
      return {Outcome::not_found, nullptr, "", false};
    case StatusCode::DEADLINE_EXCEEDED:
      // The service gave up first: the deadline we sent (the time left minus 4 %) passed.
      return {Outcome::deadline_exceeded, nullptr,
              "activity service answered DEADLINE_EXCEEDED (the propagated deadline passed)",
              false};
    default:
      return {Outcome::failed, nullptr,
              "activity service: " + std::string(grpc_code_name(s.error_code())) + " " +
                  s.error_message(),
              false};
  }
}

}  // namespace tether_demo
