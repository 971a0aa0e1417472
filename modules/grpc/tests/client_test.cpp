// tether::grpc, client side: calls bound to a tether Context against a real gRPC server on
// 127.0.0.1 (the Probe service, itself on tether::grpc). Behaviour numbers: docs/grpc.md.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "probe_service.hpp"
#include "tether/grpc.hpp"
#include "tether/propagation.hpp"
#include "tether/testing/manual_clock.hpp"

namespace tether_test {
namespace {

using tether::test::Reply;
using tether::test::Request;
namespace tg = tether::grpc;

constexpr auto kSoon = 3s;

// 14. The context's deadline reaches the server, never longer than the time left (the
// margin covers gRPC's longer grpc-timeout); no deadline sends none.
TEST(GrpcClientCall, SendsDeadlineMinusMarginNeverMore) {
  TestServer server;
  auto stub = server.stub();
  for (int i = 0; i < 5; ++i) {  // repeated: gRPC's HPACK reuse shows from the second call
    auto [ctx, cancel] = tether::with_timeout(tether::background(), 2s);
    const auto left = *ctx.deadline() - tether::now();
    Reply reply;
    auto st =
        tg::call(ctx, [&](::grpc::ClientContext* cc) { return stub->Echo(cc, Request(), &reply); });
    ASSERT_TRUE(st.ok()) << st.error_message();
    const auto seen = std::chrono::microseconds(reply.deadline_left_us());
    EXPECT_LE(seen, left) << "a hop extended the caller's budget";
    EXPECT_GT(seen, left * 96 / 100 - 500ms);
  }
  Reply reply;
  auto st = tg::call(tether::background(),
                     [&](::grpc::ClientContext* cc) { return stub->Echo(cc, Request(), &reply); });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(reply.deadline_left_us(), -1);
}

// 15. Cancelling the context mid-call: CANCELLED (with the cause's message) within a bound;
// the server's context ends too.
TEST(GrpcClientCall, ContextCancelMidCallCancelsCallAndServerContext) {
  TestServer server;
  auto stub = server.stub();
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  auto status = std::async(std::launch::async, [&, c = ctx] {
    Reply reply;
    return tg::call(c,
                    [&](::grpc::ClientContext* cc) { return stub->Hold(cc, Request(), &reply); });
  });
  auto seen = server.rec.wait_call(0);
  ASSERT_TRUE(seen);
  const auto t0 = std::chrono::steady_clock::now();
  cancel(tether::Cause("user gave up"));
  ASSERT_EQ(status.wait_for(kSoon), std::future_status::ready);
  const auto returned = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(seen->ctx.done().wait_for(kSoon));
  std::printf("cancel -> client returns %.3f ms; server ctx done %.3f ms after cancel\n",
              ms(returned), ms(std::chrono::steady_clock::now() - t0));
  auto st = status.get();
  EXPECT_EQ(st.error_code(), ::grpc::StatusCode::CANCELLED);
  EXPECT_EQ(st.error_message(), "user gave up");
  EXPECT_EQ(tether::cause(seen->ctx), tg::errc::client_cancelled);
}

// 16. A context already done fails the call at once, without sending it.
TEST(GrpcClientCall, AlreadyDoneContextFailsAtOnceUnsent) {
  TestServer server;
  auto stub = server.stub();
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  Reply reply;
  const auto t0 = std::chrono::steady_clock::now();
  auto st =
      tg::call(ctx, [&](::grpc::ClientContext* cc) { return stub->Echo(cc, Request(), &reply); });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(st.error_code(), ::grpc::StatusCode::CANCELLED);
  auto [expired, c2] = tether::with_timeout(tether::background(), -1ms);
  st = tg::call(expired,
                [&](::grpc::ClientContext* cc) { return stub->Echo(cc, Request(), &reply); });
  EXPECT_EQ(st.error_code(), ::grpc::StatusCode::DEADLINE_EXCEEDED);
  // Nothing reached the server: a later call is the first it sees.
  ::grpc::ClientContext probe;
  ASSERT_TRUE(stub->Echo(&probe, Request(), &reply).ok());
  EXPECT_EQ(server.rec.count(), 1u);
}

// 17. A call ended by the context's deadline reports DEADLINE_EXCEEDED, also when tether's
// timer (TryCancel, which gRPC reports as CANCELLED) beats gRPC's own deadline: with no
// margin both fire at the same instant, and the race goes either way.
TEST(GrpcClientCall, ContextDeadlineReportsDeadlineExceededEvenWhenTetherWinsRace) {
  TestServer server;
  auto stub = server.stub();
  for (int i = 0; i < 5; ++i) {
    auto [ctx, cancel] = tether::with_timeout(tether::background(), 100ms);
    Reply reply;
    auto st =
        tg::call(ctx, [&](::grpc::ClientContext* cc) { return stub->Hold(cc, Request(), &reply); },
                 {.margin_fraction = 0});
    EXPECT_EQ(st.error_code(), ::grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
  }
}

// 18. traceparent: a child of the context's trace (same trace id, new span id), or a new
// root when the context carries none.
TEST(GrpcClientCall, SendsTraceparentChildOfContextTraceOrNewRoot) {
  TestServer server;
  auto stub = server.stub();
  const auto root = tether::TraceContext::new_root();
  auto ctx = tether::with_value(tether::background(), tether::trace_key, root);
  Reply reply;
  ASSERT_TRUE(tg::call(ctx, [&](::grpc::ClientContext* cc) {
                return stub->Echo(cc, Request(), &reply);
              }).ok());
  auto sent = tether::parse_traceparent(reply.traceparent());
  ASSERT_TRUE(sent) << reply.traceparent();
  EXPECT_EQ(sent->trace_id, root.trace_id);
  EXPECT_NE(sent->span_id, root.span_id);
  EXPECT_EQ(reply.trace_id(), root.trace_id_hex());  // and the server's span is in it
  ASSERT_TRUE(tg::call(tether::background(), [&](::grpc::ClientContext* cc) {
                return stub->Echo(cc, Request(), &reply);
              }).ok());
  auto fresh = tether::parse_traceparent(reply.traceparent());
  ASSERT_TRUE(fresh);
  EXPECT_NE(fresh->trace_id, root.trace_id);
}

// 19. A ClientCall destroyed while its context is being cancelled on another thread: the
// destructor waits for the TryCancel hook (ASan/TSan would see a use after scope).
TEST(GrpcClientCall, DestroyedWhileContextCancelledOnAnotherThread) {
  TestServer server;
  auto stub = server.stub();
  std::mt19937 rng(std::random_device{}());
  const auto seed = static_cast<unsigned>(rng());
  std::printf("seed %u\n", seed);
  rng.seed(seed);
  int ok = 0, cancelled = 0;
  for (int i = 0; i < 100; ++i) {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    const auto delay = std::chrono::microseconds(rng() % 3000);
    std::thread canceller([delay, c = cancel.func()] {
      std::this_thread::sleep_for(delay);
      c();
    });
    {
      tg::ClientCall call(ctx);
      Request req;
      req.set_hold_ms(rng() % 3);
      Reply reply;
      auto st = call.status(stub->Hold(&call.client_context(), req, &reply));
      (st.ok() ? ok : cancelled)++;
      EXPECT_TRUE(st.ok() || st.error_code() == ::grpc::StatusCode::CANCELLED) << st.error_code();
    }  // ~ClientCall races the canceller
    canceller.join();
  }
  std::printf("%d OK, %d CANCELLED\n", ok, cancelled);
}

// 20. Callback-API client: the completion never runs inside cancel() (it runs on a gRPC
// thread), and the ClientCall outlives it.
TEST(GrpcClientCall, CallbackApiCompletionNotRunInsideCancel) {
  TestServer server;
  auto stub = server.stub();
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tg::ClientCall call(ctx);
  Request req;
  Reply reply;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread::id completion_thread;
  ::grpc::Status status;
  stub->async()->Hold(&call.client_context(), &req, &reply, [&](::grpc::Status s) {
    std::lock_guard lock(mu);
    completion_thread = std::this_thread::get_id();
    status = call.status(s);
    done = true;
    cv.notify_all();
  });
  ASSERT_TRUE(server.rec.wait_call(0));
  cancel();
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, kSoon, [&] { return done; }));
  EXPECT_NE(completion_thread, std::this_thread::get_id());
  EXPECT_EQ(status.error_code(), ::grpc::StatusCode::CANCELLED);
}

// 21. A chain: client → Relay (calls Hold downstream under its own context) → Hold. The
// downstream handler sees no more than the client's budget and the same trace id; the
// client's cancel reaches it.
TEST(GrpcClientCall, TwoHopChainCarriesBudgetTraceAndCancel) {
  TestServer downstream;
  TestServer upstream;
  upstream.service.set_downstream(downstream.channel());
  auto stub = upstream.stub();
  const auto root = tether::TraceContext::new_root();
  auto traced = tether::with_value(tether::background(), tether::trace_key, root);
  auto [ctx, cancel] = tether::with_timeout(traced, 2s);
  const auto budget = *ctx.deadline() - tether::now();
  auto status = std::async(std::launch::async, [&, c = ctx] {
    Reply reply;
    return tg::call(c,
                    [&](::grpc::ClientContext* cc) { return stub->Relay(cc, Request(), &reply); });
  });
  auto hop1 = upstream.rec.wait_call(0);
  auto hop2 = downstream.rec.wait_call(0);
  ASSERT_TRUE(hop1 && hop2);
  ASSERT_TRUE(hop1->left && hop2->left);
  std::printf("budget %.3f ms; hop 1 saw %.3f ms; hop 2 saw %.3f ms\n", ms(budget), ms(*hop1->left),
              ms(*hop2->left));
  EXPECT_LE(*hop1->left, budget);
  EXPECT_LE(*hop2->left, *hop1->left);
  EXPECT_EQ(hop2->ctx.value(tether::trace_key)->trace_id, root.trace_id);
  const auto t0 = std::chrono::steady_clock::now();
  cancel();
  ASSERT_TRUE(hop2->ctx.done().wait_for(kSoon));
  std::printf("client cancel -> hop 2 ctx done: %.3f ms\n",
              ms(std::chrono::steady_clock::now() - t0));
  EXPECT_EQ(status.get().error_code(), ::grpc::StatusCode::CANCELLED);
}

// 22. ManualClock: the deadline a call sends is computed from tether's time; gRPC then
// enforces it in real time (documented limit).
TEST(GrpcClientCall, ManualClockGovernsTheDeadlineSent) {
  TestServer server;
  auto stub = server.stub();
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 10s);
  clock.advance(7s);  // 3 s of tether time left, at no real cost
  Reply reply;
  ASSERT_TRUE(tg::call(ctx, [&](::grpc::ClientContext* cc) {
                return stub->Echo(cc, Request(), &reply);
              }).ok());
  const auto seen = std::chrono::microseconds(reply.deadline_left_us());
  // 3 s less the 4 % margin = 2 880 ms sent; gRPC may put up to 3 % more on the wire (the
  // margin's reason), so the server sees at most the 3 s of tether time left.
  EXPECT_LE(seen, 3s);
  EXPECT_GT(seen, 2880ms - 1s);
}

}  // namespace
}  // namespace tether_test
