// tether::grpc, server side: the per-call context against a real gRPC server on 127.0.0.1,
// called with raw gRPC clients (no tether on the client side unless the test says so).
// Behaviour numbers refer to the research note's list (docs/grpc.md, "What is tested").
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "probe_service.hpp"
#include "tether/grpc.hpp"
#include "tether/propagation.hpp"

extern char** environ;

namespace tether_test {
namespace {

using tether::test::Reply;
using tether::test::Request;
namespace tg = tether::grpc;

// Generous bounds: these tests also run under TSan on a loaded 2-core machine.
constexpr auto kSoon = 3s;

Request hold(int ms = 0) {
  Request r;
  r.set_hold_ms(ms);
  return r;
}

// A raw blocking call on its own thread, with its ClientContext reachable for TryCancel.
struct RawCall {
  ::grpc::ClientContext cc;
  Reply reply;
  std::future<::grpc::Status> status;
  void start(tether::test::Probe::Stub& stub, Request req, const char* method = "Hold") {
    status = std::async(std::launch::async, [this, &stub, req, method] {
      if (std::string(method) == "Echo") return stub.Echo(&cc, req, &reply);
      return stub.Hold(&cc, req, &reply);
    });
  }
};

// 1. The call's deadline: the client's (within gRPC's up-to-3 % growth), capped by
// max_timeout; none, or default_timeout, when the client sets none.
TEST(GrpcServerContext, CarriesClientDeadlineCappedByMaxTimeout) {
  TestServer server({.max_timeout = 5s});
  auto stub = server.stub();
  {
    ::grpc::ClientContext cc;
    cc.set_deadline(std::chrono::system_clock::now() + 2s);
    Reply reply;
    ASSERT_TRUE(stub->Echo(&cc, Request(), &reply).ok());
    const auto left = std::chrono::microseconds(reply.deadline_left_us());
    EXPECT_GT(left, 2s - 500ms) << "left " << left.count() << " us";
    EXPECT_LE(left, 2060ms + 5ms) << "left " << left.count() << " us";
  }
  {
    ::grpc::ClientContext cc;  // no deadline, default_timeout 0: none (grpc-go's behaviour)
    Reply reply;
    ASSERT_TRUE(stub->Echo(&cc, Request(), &reply).ok());
    EXPECT_EQ(reply.deadline_left_us(), -1);
  }
  {
    ::grpc::ClientContext cc;  // an hour asked, five seconds given
    cc.set_deadline(std::chrono::system_clock::now() + 1h);
    Reply reply;
    ASSERT_TRUE(stub->Echo(&cc, Request(), &reply).ok());
    EXPECT_LE(std::chrono::microseconds(reply.deadline_left_us()), 5s);
    EXPECT_GT(std::chrono::microseconds(reply.deadline_left_us()), 4s);
  }
}

TEST(GrpcServerContext, DefaultTimeoutWhenClientSetsNone) {
  TestServer server({.default_timeout = 3s});
  ::grpc::ClientContext cc;
  Reply reply;
  ASSERT_TRUE(server.stub()->Echo(&cc, Request(), &reply).ok());
  EXPECT_LE(std::chrono::microseconds(reply.deadline_left_us()), 3s);
  EXPECT_GT(std::chrono::microseconds(reply.deadline_left_us()), 2s);
}

// 2. The client's TryCancel mid-call ends the handler's context: canceled, "client cancelled".
TEST(GrpcServerContext, ClientTryCancelEndsContextWithClientCancelled) {
  TestServer server;
  auto stub = server.stub();
  RawCall call;
  call.start(*stub, hold());
  auto seen = server.rec.wait_call(0);
  ASSERT_TRUE(seen);
  const auto t0 = std::chrono::steady_clock::now();
  call.cc.TryCancel();
  ASSERT_TRUE(seen->ctx.done().wait_for(kSoon));
  std::printf("TryCancel -> server ctx done: %.3f ms\n", ms(std::chrono::steady_clock::now() - t0));
  EXPECT_EQ(seen->ctx.err(), tether::errc::canceled);
  EXPECT_EQ(tether::cause(seen->ctx), tg::errc::client_cancelled);
  EXPECT_EQ(tether::cause(seen->ctx).message(), "client cancelled");
  EXPECT_EQ(call.status.get().error_code(), ::grpc::StatusCode::CANCELLED);
}

// 3. A client process that dies with a call in flight ends the handler's context.
// The client is this test binary, re-executed with TETHER_GRPC_CHILD_CLIENT set.
TEST(GrpcServerContext, ClientProcessKilledMidCallEndsContext) {
  TestServer server;
  std::string env = "TETHER_GRPC_CHILD_CLIENT=" + server.address();
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  envp.push_back(env.data());
  envp.push_back(nullptr);
  std::string self = "/proc/self/exe", filter = "--gtest_filter=GrpcChildProcess.HoldForever";
  char* argv[] = {self.data(), filter.data(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, envp.data()), 0);
  auto seen = server.rec.wait_call(0, 30s);
  if (!seen) kill(pid, SIGKILL);
  ASSERT_TRUE(seen) << "the child client never reached the handler";
  const auto t0 = std::chrono::steady_clock::now();
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(seen->ctx.done().wait_for(kSoon));
  std::printf("client killed -> server ctx done: %.3f ms\n",
              ms(std::chrono::steady_clock::now() - t0));
  EXPECT_EQ(tether::cause(seen->ctx), tg::errc::client_cancelled);
}

// The child side of the test above (skipped unless started by it).
TEST(GrpcChildProcess, HoldForever) {
  const char* address = std::getenv("TETHER_GRPC_CHILD_CLIENT");
  if (!address) GTEST_SKIP() << "helper process for ClientProcessKilledMidCallEndsContext";
  auto stub = tether::test::Probe::NewStub(
      ::grpc::CreateChannel(address, ::grpc::InsecureChannelCredentials()));
  ::grpc::ClientContext cc;
  Reply reply;
  (void)stub->Hold(&cc, hold(), &reply);  // until killed
  std::_Exit(0);
}

// 4. A finished RPC ends a kept copy of the context ("rpc finished"); its after_funcs run.
TEST(GrpcServerContext, FinishedRpcEndsKeptContextAndRunsAfterFuncs) {
  TestServer server;
  ::grpc::ClientContext cc;
  Reply reply;
  ASSERT_TRUE(server.stub()->Echo(&cc, Request(), &reply).ok());
  auto seen = server.rec.wait_call(0);
  ASSERT_TRUE(seen);
  ASSERT_TRUE(seen->ctx.done().wait_for(kSoon));
  EXPECT_EQ(seen->ctx.err(), tether::errc::canceled);
  EXPECT_EQ(tether::cause(seen->ctx), tg::errc::rpc_finished);
  // done() is ready before the after_funcs run (on the cancelling thread): wait for ours.
  EXPECT_FALSE(seen->after.stop_and_wait()) << "the after_func never started";
  EXPECT_TRUE(seen->after_func_ran);
}

// 5. The shutdown helper: in-flight contexts end with "server shutdown" (not "client
// cancelled"); Shutdown returns promptly; the clients get CANCELLED "server shutdown".
TEST(GrpcServerContext, ShutdownHelperEndsInFlightCallsWithServerShutdown) {
  TestServer server;
  auto stub = server.stub();
  RawCall a, b;
  a.start(*stub, hold());
  b.start(*stub, hold());
  auto sa = server.rec.wait_call(0), sb = server.rec.wait_call(1);
  ASSERT_TRUE(sa && sb);
  const auto took = server.shutdown(30s);
  EXPECT_LT(took, 10s);
  for (auto* s : {&sa, &sb}) {
    ASSERT_TRUE((*s)->ctx.done().ready());
    EXPECT_EQ(tether::cause((*s)->ctx), tg::errc::server_shutdown);
  }
  for (auto* c : {&a, &b}) {
    auto st = c->status.get();
    EXPECT_EQ(st.error_code(), ::grpc::StatusCode::CANCELLED);
    EXPECT_EQ(st.error_message(), "server shutdown");
  }
}

// 6. Deadline expiry: deadline_exceeded — or, when the client's RST_STREAM at its own
// deadline beats the server's timer (gRPC's longer grpc-timeout), canceled with cause
// client_deadline_passed (≡ timed_out). Either way the status is DEADLINE_EXCEEDED.
TEST(GrpcServerContext, DeadlineExpiryEndsContextAsDeadline) {
  TestServer server;
  auto stub = server.stub();
  int timer = 0, rst = 0;
  for (int i = 0; i < 5; ++i) {
    RawCall call;
    call.cc.set_deadline(std::chrono::system_clock::now() + 150ms);
    call.start(*stub, hold());
    auto seen = server.rec.wait_call(i);
    ASSERT_TRUE(seen);
    ASSERT_TRUE(seen->ctx.done().wait_for(kSoon));
    const auto c = tether::cause(seen->ctx);
    EXPECT_TRUE(c == std::errc::timed_out) << c.message();
    (seen->ctx.err() == tether::errc::deadline_exceeded ? timer : rst)++;
    EXPECT_EQ(call.status.get().error_code(), ::grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  std::printf("server ctx ended by its own timer %d/5, by the client's RST at its deadline %d/5\n",
              timer, rst);
}

// 7. traceparent: a valid one gives a child span of the caller's trace; missing, invalid
// or uppercase ones start a new trace.
TEST(GrpcServerContext, TraceparentGivesChildSpanOrNewRoot) {
  TestServer server;
  auto stub = server.stub();
  const std::string tid = "4bf92f3577b34da6a3ce929d0e0e4736";
  auto trace_of = [&](const char* tp) {
    ::grpc::ClientContext cc;
    if (tp) cc.AddMetadata("traceparent", tp);
    Reply reply;
    EXPECT_TRUE(stub->Echo(&cc, Request(), &reply).ok());
    return reply.trace_id();
  };
  EXPECT_EQ(trace_of(("00-" + tid + "-00f067aa0ba902b7-01").c_str()), tid);
  auto seen = server.rec.wait_call(0);
  const auto* t = seen->ctx.value(tether::trace_key);
  ASSERT_TRUE(t);
  EXPECT_NE(t->span_id_hex(), "00f067aa0ba902b7");  // a new span: a child, not the parent
  EXPECT_NE(trace_of(nullptr), tid);
  EXPECT_EQ(trace_of(nullptr).size(), 32u);
  EXPECT_NE(trace_of("garbage"), tid);
  EXPECT_NE(trace_of("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
}

// 8. A call whose context is done before the work starts is finished at once with the
// right status, without running the work: base already cancelled; zero budget.
TEST(GrpcServerContext, AlreadyDoneCallIsFinishedWithoutRunningWork) {
  auto [base, cancel] = tether::with_cancel_cause(tether::background());
  cancel(tether::Cause("maintenance"));
  TestServer server({}, base);
  ::grpc::ClientContext cc;
  Reply reply;
  auto st = server.stub()->Echo(&cc, Request(), &reply);
  EXPECT_EQ(st.error_code(), ::grpc::StatusCode::CANCELLED);
  EXPECT_EQ(st.error_message(), "maintenance");
  EXPECT_EQ(server.rec.count(), 0u);

  TestServer zero({.max_timeout = 0s});
  ::grpc::ClientContext cc2;
  cc2.set_deadline(std::chrono::system_clock::now() + 10s);
  auto st2 = zero.stub()->Echo(&cc2, Request(), &reply);
  EXPECT_EQ(st2.error_code(), ::grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(zero.rec.count(), 0u);
}

// 9. status_for: the mapping table of the header.
TEST(GrpcStatusFor, MapsContextEndsAndKeepsApplicationErrors) {
  using ::grpc::Status;
  using ::grpc::StatusCode;
  const Status ok = Status::OK, cancelled(StatusCode::CANCELLED, "x"),
               dl(StatusCode::DEADLINE_EXCEEDED, "x"), nf(StatusCode::NOT_FOUND, "nf");
  auto live = tether::background();
  for (const auto& s : {ok, cancelled, dl, nf})
    EXPECT_EQ(tg::status_for(live, s).error_code(), s.error_code());

  auto [c1, cancel1] = tether::with_cancel_cause(live);
  cancel1(tether::Cause(tg::errc::client_cancelled, "client cancelled"));
  for (const auto& s : {ok, cancelled, dl}) {
    EXPECT_EQ(tg::status_for(c1, s).error_code(), StatusCode::CANCELLED);
    EXPECT_EQ(tg::status_for(c1, s).error_message(), "client cancelled");
  }
  EXPECT_EQ(tg::status_for(c1, nf).error_code(), StatusCode::NOT_FOUND);

  auto [c2, cancel2] = tether::with_timeout(live, -1s);
  EXPECT_EQ(tg::status_for(c2, ok).error_code(), StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(tg::status_for(c2, ok).error_message(), "context deadline exceeded");

  auto [c3, cancel3] = tether::with_cancel_cause(live);
  cancel3(tether::Cause(tg::errc::client_deadline_passed, "client deadline passed"));
  EXPECT_EQ(tg::status_for(c3, cancelled).error_code(), StatusCode::DEADLINE_EXCEEDED);

  EXPECT_TRUE(tg::make_error_code(tg::errc::client_cancelled) == std::errc::operation_canceled);
  EXPECT_TRUE(tg::make_error_code(tg::errc::client_deadline_passed) == std::errc::timed_out);
  EXPECT_STREQ(tg::category().name(), "tether.grpc");
}

// 10. Work runs off gRPC's threads (here: on an executor of the test's own), the method
// handler returns promptly, and OnCancel reaches the context while the work still runs.
TEST(GrpcServerContext, WorkRunsOffGrpcThreadsAndSeesCancelWhileRunning) {
  std::atomic<int> submitted{0};
  std::vector<std::thread> threads;
  std::mutex mu;
  tg::ServerOptions options;
  options.executor = [&](std::function<void()> task) {
    ++submitted;
    std::lock_guard lock(mu);
    threads.emplace_back(std::move(task));
  };
  {
    TestServer server(options);
    auto stub = server.stub();
    RawCall call;
    call.start(*stub, hold());
    auto seen = server.rec.wait_call(0);
    ASSERT_TRUE(seen);
    EXPECT_NE(seen->work_thread, seen->handler_thread);
    EXPECT_EQ(submitted, 1);
    EXPECT_FALSE(seen->ctx.err());
    call.cc.TryCancel();  // the work is blocked on ctx: only OnCancel can end it
    EXPECT_TRUE(seen->ctx.done().wait_for(kSoon));
    EXPECT_EQ(tether::cause(seen->ctx), tg::errc::client_cancelled);
    call.status.get();
    server.shutdown();
  }
  for (auto& t : threads) t.join();
}

// 11. Finish is called on every path (work returns, throws, application error, context
// already done), so every reactor reaches OnDone and is freed (LSan checks under ASan).
TEST(GrpcServerContext, FinishOnEveryPathIncludingThrowingWork) {
  TestServer server;
  auto stub = server.stub();
  Request r;
  r.set_text("throw");
  ::grpc::ClientContext c1;
  Reply reply;
  auto st = stub->Echo(&c1, r, &reply);
  EXPECT_EQ(st.error_code(), ::grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(st.error_message(), "handler threw");
  r.set_text("fail");
  ::grpc::ClientContext c2;
  EXPECT_EQ(stub->Echo(&c2, r, &reply).error_code(), ::grpc::StatusCode::NOT_FOUND);
  // Many calls cancelled at random points while they run.
  std::vector<std::unique_ptr<RawCall>> calls;
  for (int i = 0; i < 40; ++i) {
    calls.push_back(std::make_unique<RawCall>());
    calls.back()->start(*stub, hold(1 + i % 4));
    if (i % 3 == 0) calls.back()->cc.TryCancel();
  }
  for (auto& c : calls) {
    auto code = c->status.get().error_code();
    EXPECT_TRUE(code == ::grpc::StatusCode::OK || code == ::grpc::StatusCode::CANCELLED) << code;
  }
  // Every call that started has finished: each kept context ends.
  for (std::size_t i = 0; i < server.rec.count(); ++i)
    EXPECT_TRUE(server.rec.wait_call(i)->ctx.done().wait_for(kSoon));
}

// Dispatcher::unary_inline (opt-in): the work runs inside gRPC's method handler, never on
// the executor, with the call's deadline and trace; its context ends with rpc_finished
// before the reply is sent; errors and throws map as in unary(); a context already done
// finishes the call without running the work.
TEST(GrpcServerContext, UnaryInlineRunsOnGrpcThreadAndEndsContextWhenWorkReturns) {
  std::atomic<int> submitted{0};
  tg::ServerOptions options;
  options.executor = [&](std::function<void()>) {  // must not be used: refuses the task
    ++submitted;
    throw std::runtime_error("unary_inline used the executor");
  };
  TestServer server(options);
  server.service.inline_echo = true;
  auto stub = server.stub();
  const std::string tid = "4bf92f3577b34da6a3ce929d0e0e4736";
  ::grpc::ClientContext cc;
  cc.set_deadline(std::chrono::system_clock::now() + 20s);
  cc.AddMetadata("traceparent", "00-" + tid + "-00f067aa0ba902b7-01");
  Request req;
  req.set_text("hi");
  Reply reply;
  ASSERT_TRUE(stub->Echo(&cc, req, &reply).ok());
  EXPECT_EQ(reply.text(), "hi");
  EXPECT_EQ(reply.trace_id(), tid);
  EXPECT_GT(reply.deadline_left_us(), 0);
  EXPECT_LE(reply.deadline_left_us(), 20'600'000);  // gRPC's grpc-timeout may grow by 3 %
  auto seen = server.rec.wait_call(0);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->work_thread, seen->handler_thread);
  EXPECT_EQ(submitted, 0);
  // Ended before Finish: already done when the reply has arrived.
  EXPECT_EQ(seen->ctx.err(), tether::errc::canceled);
  EXPECT_EQ(tether::cause(seen->ctx), tg::errc::rpc_finished);

  req.set_text("throw");
  ::grpc::ClientContext c2;
  auto st = stub->Echo(&c2, req, &reply);
  EXPECT_EQ(st.error_code(), ::grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(st.error_message(), "handler threw");
  req.set_text("fail");
  ::grpc::ClientContext c3;
  EXPECT_EQ(stub->Echo(&c3, req, &reply).error_code(), ::grpc::StatusCode::NOT_FOUND);

  server.dispatcher.cancel_calls();  // the base context is done: the work must not run
  const std::size_t before = server.rec.count();
  ::grpc::ClientContext c4;
  auto st4 = stub->Echo(&c4, Request(), &reply);
  EXPECT_EQ(st4.error_code(), ::grpc::StatusCode::CANCELLED);
  EXPECT_EQ(st4.error_message(), "server shutdown");
  EXPECT_EQ(server.rec.count(), before);
  EXPECT_EQ(submitted, 0);
}

// 12. Streams: a server-streaming call and a bidirectional one cancelled mid-stream end the
// handler's context; a bidi stream the client half-closes finishes OK.
TEST(GrpcServerContext, ServerStreamCancelledMidStream) {
  TestServer server;
  auto stub = server.stub();
  ::grpc::ClientContext cc;
  auto reader = stub->Count(&cc, Request());
  Reply r;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(reader->Read(&r));
    EXPECT_EQ(r.text(), std::to_string(i));
  }
  auto seen = server.rec.wait_call(0);
  ASSERT_TRUE(seen);
  cc.TryCancel();
  ASSERT_TRUE(seen->ctx.done().wait_for(kSoon));
  EXPECT_EQ(tether::cause(seen->ctx), tg::errc::client_cancelled);
  while (reader->Read(&r)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), ::grpc::StatusCode::CANCELLED);
}

TEST(GrpcServerContext, BidiStreamCancelledMidStreamAndHalfClosed) {
  TestServer server;
  auto stub = server.stub();
  {
    ::grpc::ClientContext cc;
    auto stream = stub->Chat(&cc);
    Request q;
    Reply r;
    for (const char* t : {"a", "b"}) {
      q.set_text(t);
      ASSERT_TRUE(stream->Write(q));
      ASSERT_TRUE(stream->Read(&r));
      EXPECT_EQ(r.text(), t);
    }
    auto seen = server.rec.wait_call(0);
    ASSERT_TRUE(seen);
    cc.TryCancel();  // the handler is blocked in read()
    ASSERT_TRUE(seen->ctx.done().wait_for(kSoon));
    EXPECT_EQ(tether::cause(seen->ctx), tg::errc::client_cancelled);
    EXPECT_EQ(stream->Finish().error_code(), ::grpc::StatusCode::CANCELLED);
  }
  {
    ::grpc::ClientContext cc;
    auto stream = stub->Chat(&cc);
    Request q;
    q.set_text("c");
    Reply r;
    ASSERT_TRUE(stream->Write(q));
    ASSERT_TRUE(stream->Read(&r));
    ASSERT_TRUE(stream->WritesDone());
    EXPECT_FALSE(stream->Read(&r));
    EXPECT_TRUE(stream->Finish().ok());
  }
}

}  // namespace
}  // namespace tether_test
