// 13. The other two gRPC server APIs, with ServerCall used by hand as docs/grpc.md says
// ("The other server APIs"): the CQ-based async API (AsyncNotifyWhenDone before the call is
// requested; when its tag comes back, IsCancelled() ? on_cancel() : finished()) gets the
// deadline, the trace, the client's cancel and the end of the RPC; the sync API gets the
// deadline and the trace, and the context ends when the handler returns (ServerCall's
// destructor) — gRPC gives the sync API no cancel notification, and tether::grpc provides
// no poller for it. Real servers on 127.0.0.1, raw gRPC clients.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "probe.grpc.pb.h"
#include "tether/grpc.hpp"
#include "tether/propagation.hpp"

namespace tether_test {
namespace {

using namespace std::chrono_literals;
using tether::test::Reply;
using tether::test::Request;
namespace tg = tether::grpc;

constexpr auto kSoon = 5s;
const std::string kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
const std::string kTraceparent = "00-" + kTrace + "-00f067aa0ba902b7-01";

// One CQ-async Hold call on a server of its own: the ServerCall is built when the call
// starts, and ended from the AsyncNotifyWhenDone tag; the work (on its own thread) waits on
// the call's context for up to the request's hold_ms, then finishes the call.
class CqAsyncHold {
 public:
  CqAsyncHold() {
    ::grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", ::grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    cq_ = builder.AddCompletionQueue();
    server_ = builder.BuildAndStart();
    sc_.AsyncNotifyWhenDone(&done_tag_);  // before the call is requested
    service_.RequestHold(&sc_, &req_, &responder_, cq_.get(), cq_.get(), &started_tag_);
    poller_ = std::thread([this] { poll(); });
  }
  ~CqAsyncHold() {
    // Shutdown cancels a call still in flight (its work then finishes it), the work is
    // joined, and only then may the queue shut down: no operation may start after that.
    server_->Shutdown(std::chrono::system_clock::now() + 1s);
    {
      std::lock_guard lock(work_mu_);
      if (work_.joinable()) work_.join();
    }
    cq_->Shutdown();
    poller_.join();
  }
  std::unique_ptr<tether::test::Probe::Stub> stub() {
    return tether::test::Probe::NewStub(::grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port_), ::grpc::InsecureChannelCredentials()));
  }
  /// The call's context, once the call has started (bounded wait); nullopt if it did not.
  std::optional<tether::Context> started() {
    auto f = started_.get_future();
    if (f.wait_for(kSoon) != std::future_status::ready) return std::nullopt;
    return f.get();
  }
  /// What the AsyncNotifyWhenDone tag said: true if the call was cancelled.
  std::optional<bool> done_cancelled() {
    auto f = done_.get_future();
    if (f.wait_for(kSoon) != std::future_status::ready) return std::nullopt;
    return f.get();
  }

 private:
  void poll() {
    void* tag = nullptr;
    bool ok = false;
    while (cq_->Next(&tag, &ok)) {
      if (tag == &started_tag_ && ok) {
        call_.emplace(tether::background(), sc_);  // the deadline and metadata are there now
        started_.set_value(call_->context());
        std::lock_guard lock(work_mu_);
        work_ = std::thread([this] {  // never on the poller: it must keep popping tags
          const tether::Context& ctx = call_->context();
          (void)ctx.done().wait_for(std::chrono::milliseconds(req_.hold_ms()));
          Reply reply;
          reply.set_text(ctx.err() ? tether::cause(ctx).message() : "held");
          responder_.Finish(reply, call_->status(::grpc::Status::OK), &finish_tag_);
        });
      } else if (tag == &done_tag_) {
        const bool cancelled = sc_.IsCancelled();
        cancelled ? call_->on_cancel() : call_->finished();
        done_.set_value(cancelled);
      }
      // finish_tag_: nothing to do; the ServerCall ends with the done tag.
    }
  }

  int port_ = 0;
  tether::test::Probe::AsyncService service_;
  std::unique_ptr<::grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<::grpc::Server> server_;
  ::grpc::ServerContext sc_;
  Request req_;
  ::grpc::ServerAsyncResponseWriter<Reply> responder_{&sc_};
  std::optional<tg::ServerCall> call_;
  std::promise<tether::Context> started_;
  std::promise<bool> done_;
  int started_tag_ = 0, done_tag_ = 0, finish_tag_ = 0;
  std::thread poller_;
  std::mutex work_mu_;  // guards work_: started by the poller, joined by the destructor
  std::thread work_;
};

TEST(GrpcCqAsyncServer, ClientCancelReachesServerCallThroughAsyncNotifyWhenDone) {
  CqAsyncHold server;
  auto stub = server.stub();
  ::grpc::ClientContext cc;
  cc.set_deadline(std::chrono::system_clock::now() + 1h);
  Request req;
  req.set_hold_ms(3'600'000);  // only the cancel can end it
  Reply reply;
  auto status = std::async(std::launch::async, [&] { return stub->Hold(&cc, req, &reply); });
  auto ctx = server.started();
  ASSERT_TRUE(ctx) << "the call never started";
  cc.TryCancel();
  EXPECT_EQ(server.done_cancelled(), std::optional<bool>(true));
  ASSERT_TRUE(ctx->done().wait_for(kSoon));
  EXPECT_EQ(ctx->err(), tether::errc::canceled);
  EXPECT_EQ(tether::cause(*ctx), tg::errc::client_cancelled) << tether::cause(*ctx).message();
  EXPECT_EQ(status.get().error_code(), ::grpc::StatusCode::CANCELLED);
}

TEST(GrpcCqAsyncServer, ServerCallCarriesDeadlineAndTraceAndEndsWithTheRpc) {
  CqAsyncHold server;
  auto stub = server.stub();
  ::grpc::ClientContext cc;
  cc.set_deadline(std::chrono::system_clock::now() + 2s);
  cc.AddMetadata("traceparent", kTraceparent);
  Request req;
  req.set_hold_ms(1);
  Reply reply;
  auto status = std::async(std::launch::async, [&] { return stub->Hold(&cc, req, &reply); });
  auto ctx = server.started();
  ASSERT_TRUE(ctx) << "the call never started";
  ASSERT_TRUE(ctx->deadline());
  const auto left = *ctx->deadline() - tether::now();
  EXPECT_GT(left, 0s);
  EXPECT_LE(left, 2060ms);  // gRPC's up-to-3 % longer grpc-timeout
  ASSERT_TRUE(ctx->value(tether::trace_key));
  EXPECT_EQ(ctx->value(tether::trace_key)->trace_id_hex(), kTrace);

  EXPECT_TRUE(status.get().ok());
  EXPECT_EQ(reply.text(), "held");
  EXPECT_EQ(server.done_cancelled(), std::optional<bool>(false));
  ASSERT_TRUE(ctx->done().ready()) << "a kept copy of the call's context outlived the RPC";
  EXPECT_EQ(tether::cause(*ctx), tg::errc::rpc_finished) << tether::cause(*ctx).message();
}

// The sync API: a ServerCall built in the handler; it ends when the handler returns.
class SyncEcho final : public tether::test::Probe::Service {
 public:
  ::grpc::Status Echo(::grpc::ServerContext* sc, const Request*, Reply* reply) override {
    tg::ServerCall call(tether::background(), *sc);
    const tether::Context& ctx = call.context();
    kept = ctx;
    if (auto d = ctx.deadline())
      reply->set_deadline_left_us(
          std::chrono::duration_cast<std::chrono::microseconds>(*d - tether::now()).count());
    reply->set_trace_id(ctx.value(tether::trace_key)->trace_id_hex());
    return call.status(::grpc::Status::OK);
  }
  tether::Context kept;  // written by the one call each test makes, read after it returned
};

TEST(GrpcSyncServer, ServerCallCarriesDeadlineAndTraceAndEndsWhenTheHandlerReturns) {
  SyncEcho service;
  int port = 0;
  ::grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", ::grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  auto stub = tether::test::Probe::NewStub(::grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(port), ::grpc::InsecureChannelCredentials()));
  ::grpc::ClientContext cc;
  cc.set_deadline(std::chrono::system_clock::now() + 2s);
  cc.AddMetadata("traceparent", kTraceparent);
  Reply reply;
  ASSERT_TRUE(stub->Echo(&cc, Request(), &reply).ok());
  EXPECT_GT(reply.deadline_left_us(), 0);
  EXPECT_LE(std::chrono::microseconds(reply.deadline_left_us()), 2060ms);
  EXPECT_EQ(reply.trace_id(), kTrace);
  ASSERT_TRUE(service.kept.done().ready());
  EXPECT_EQ(tether::cause(service.kept), tg::errc::rpc_finished);
  server->Shutdown(std::chrono::system_clock::now() + 1s);
}

}  // namespace
}  // namespace tether_test
