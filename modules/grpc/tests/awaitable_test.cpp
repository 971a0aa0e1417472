// tether::grpc::co_unary: the client call awaited from a Boost.Asio coroutine, against a
// real gRPC server on 127.0.0.1 — the blocking call's guarantees (deadline, traceparent,
// TryCancel on the context's end, already-done context, DEADLINE_EXCEEDED when tether's
// timer wins), resumed on the awaiting executor; and from a tether::http coroutine route.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "probe_service.hpp"
#include "tether/grpc.hpp"
#include "tether/grpc/awaitable.hpp"
#include "tether/http.hpp"
#include "tether/propagation.hpp"

namespace tether_test {
namespace {

namespace net = boost::asio;
namespace tg = tether::grpc;
using tether::test::Probe;
using tether::test::Reply;
using tether::test::Request;

constexpr auto kSoon = 5s;

// An io_context run by one thread for the test's lifetime.
struct IoThread {
  net::io_context io;
  net::executor_work_guard<net::io_context::executor_type> guard{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  ~IoThread() {
    guard.reset();
    io.stop();
    thread.join();
  }
  // Runs `coro` on the io_context and waits for its result.
  template <class T>
  T run(net::awaitable<T> coro) {
    auto f = net::co_spawn(io, std::move(coro), net::use_future);
    if (f.wait_for(kSoon * 2) != std::future_status::ready) ADD_FAILURE() << "coroutine hung";
    return f.get();
  }
};

struct Outcome {
  tg::UnaryResult<Reply> result;
  bool resumed_on_io_thread = false;
};

net::awaitable<Outcome> echo(tether::Context ctx, Probe::Stub& stub, std::thread::id io,
                             tg::ClientOptions options = {}) {
  Request req;
  req.set_text("hi");
  Outcome out;
  out.result = co_await tg::co_unary(ctx, stub, &Probe::Stub::async::Echo, req, options);
  out.resumed_on_io_thread = std::this_thread::get_id() == io;
  co_return out;
}

net::awaitable<Outcome> hold(tether::Context ctx, Probe::Stub& stub, tg::ClientOptions options) {
  Outcome out;
  out.result = co_await tg::co_unary(ctx, stub, &Probe::Stub::async::Hold, Request(), options);
  co_return out;
}

// 14 + 18, awaited: the deadline sent is the time left minus the margins; the traceparent is
// a child of the context's trace; the coroutine resumes on its own executor.
TEST(GrpcCoUnary, SendsDeadlineAndTraceAndResumesOnAwaitingExecutor) {
  TestServer server;
  auto stub = server.stub();
  IoThread io;
  const auto root = tether::TraceContext::new_root();
  auto [ctx, cancel] =
      tether::with_timeout(tether::with_value(tether::background(), tether::trace_key, root), 10s);
  auto out = io.run(echo(ctx, *stub, io.thread.get_id()));
  ASSERT_TRUE(out.result.status.ok()) << out.result.status.error_message();
  EXPECT_EQ(out.result.reply.text(), "hi");
  EXPECT_TRUE(out.resumed_on_io_thread);
  EXPECT_EQ(out.result.reply.trace_id(), root.trace_id_hex());
  EXPECT_NE(out.result.reply.traceparent(), tether::format_traceparent(root));  // a child span
  EXPECT_GT(out.result.reply.deadline_left_us(), 0);
  // 10 s less the 4 % margin, which covers gRPC's up-to-3 % longer grpc-timeout: never more
  // than the caller has left.
  EXPECT_LE(out.result.reply.deadline_left_us(), 10'000'000);
  EXPECT_GT(out.result.reply.deadline_left_us(), 9'000'000);
}

// 15 + 16, awaited: ending the context mid-call cancels the call (the server's context ends
// "client cancelled") and the awaited status says CANCELLED with the cause's message.
TEST(GrpcCoUnary, ContextCancelMidCallCancelsCallAndServerContext) {
  TestServer server;
  auto stub = server.stub();
  IoThread io;
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  auto f = net::co_spawn(io.io, hold(ctx, *stub, {}), net::use_future);
  auto seen = server.rec.wait_call(0);
  ASSERT_TRUE(seen);
  cancel(tether::Cause("user left"));
  ASSERT_EQ(f.wait_for(kSoon), std::future_status::ready);
  auto out = f.get();
  EXPECT_EQ(out.result.status.error_code(), ::grpc::StatusCode::CANCELLED);
  EXPECT_EQ(out.result.status.error_message(), "user left");
  ASSERT_TRUE(seen->ctx.done().wait_for(kSoon));
  EXPECT_EQ(tether::cause(seen->ctx), tg::errc::client_cancelled);
}

// 17, awaited: a context already done fails at once; the call is never sent.
TEST(GrpcCoUnary, AlreadyDoneContextFailsAtOnceUnsent) {
  TestServer server;
  auto stub = server.stub();
  IoThread io;
  auto [ctx, cancel] = tether::with_cancel_cause(tether::background());
  cancel(tether::Cause("gone"));
  auto out = io.run(echo(ctx, *stub, io.thread.get_id()));
  EXPECT_EQ(out.result.status.error_code(), ::grpc::StatusCode::CANCELLED);
  EXPECT_EQ(out.result.status.error_message(), "gone");
  EXPECT_TRUE(out.resumed_on_io_thread);
  ::grpc::ClientContext cc;  // a call after it: the server saw only that one
  Reply reply;
  ASSERT_TRUE(stub->Echo(&cc, Request(), &reply).ok());
  EXPECT_EQ(server.rec.count(), 1u);
}

// 19, awaited: a call ended by the context's deadline reports DEADLINE_EXCEEDED although
// tether's timer (TryCancel, which gRPC reports as CANCELLED) fired first: the negative
// margin gives gRPC a deadline 2 s later than the context's, so tether's timer always wins.
TEST(GrpcCoUnary, ContextDeadlineReportsDeadlineExceededWhenTetherTimerWins) {
  TestServer server;
  auto stub = server.stub();
  IoThread io;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 100ms);
  auto out = io.run(hold(ctx, *stub, {.margin = -2s, .margin_fraction = 0}));
  EXPECT_EQ(out.result.status.error_code(), ::grpc::StatusCode::DEADLINE_EXCEEDED)
      << out.result.status.error_message();
  auto seen = server.rec.wait_call(0);
  ASSERT_TRUE(seen);
  ASSERT_TRUE(seen->ctx.done().wait_for(kSoon));
  EXPECT_EQ(tether::cause(seen->ctx), tg::errc::client_cancelled);  // the client's cancel
}

// Many awaited calls on one io_context, half cancelled at random points: each resumes once,
// with OK or the context's status; every server call the client cancelled ends.
TEST(GrpcCoUnary, ConcurrentCallsCancelledAtRandomEachResumeOnce) {
  TestServer server;
  auto stub = server.stub();
  IoThread io;
  std::vector<std::future<Outcome>> calls;
  std::vector<tether::ScopedCancel> cancels;
  for (int i = 0; i < 40; ++i) {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    Request req;
    req.set_hold_ms(1 + i % 5);
    calls.push_back(net::co_spawn(
        io.io,
        [](tether::Context c, Probe::Stub& s, Request r) -> net::awaitable<Outcome> {
          Outcome out;
          out.result = co_await tg::co_unary(c, s, &Probe::Stub::async::Hold, r);
          co_return out;
        }(ctx, *stub, req),
        net::use_future));
    cancels.push_back(std::move(cancel));
    if (i % 2 == 0) cancels.back()();
  }
  for (auto& f : calls) {
    ASSERT_EQ(f.wait_for(kSoon), std::future_status::ready);
    const auto code = f.get().result.status.error_code();
    EXPECT_TRUE(code == ::grpc::StatusCode::OK || code == ::grpc::StatusCode::CANCELLED) << code;
  }
  for (std::size_t i = 0; i < server.rec.count(); ++i)  // every call the server started ended
    EXPECT_TRUE(server.rec.wait_call(i)->ctx.done().wait_for(kSoon));
}

// From a tether::http coroutine route: the route's request context (its trace, its
// deadline) flows into the awaited gRPC call; one trace id from the HTTP client to the gRPC
// handler.
TEST(GrpcCoUnary, HttpCoroutineRouteCallsGrpcServerUnderRequestContext) {
  TestServer grpc_server;
  auto stub = grpc_server.stub();
  tether::http::Server http(tether::background(), tether::http::ServerOptions{});
  http.route("GET", "/echo",
             [&](tether::Context ctx,
                 const tether::http::Request& r) -> net::awaitable<tether::http::Response> {
               Request req;
               req.set_text(std::string(r.query()));
               auto [reply, status] =
                   co_await tg::co_unary(ctx, *stub, &Probe::Stub::async::Echo, req);
               if (!status.ok())
                 co_return tether::http::Response::text(502, status.error_message());
               co_return tether::http::Response::text(200, reply.text() + " " + reply.trace_id());
             });
  http.start();
  const auto root = tether::TraceContext::new_root();
  auto [ctx, cancel] =
      tether::with_timeout(tether::with_value(tether::background(), tether::trace_key, root), 10s);
  tether::http::Client client;
  auto res = client.get(ctx, "http://127.0.0.1:" + std::to_string(http.port()) + "/echo?ping");
  ASSERT_TRUE(res.ok()) << res.error().message;
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->body, "ping " + root.trace_id_hex());
  auto seen = grpc_server.rec.wait_call(0);
  ASSERT_TRUE(seen);
  ASSERT_TRUE(seen->left);
  EXPECT_LE(*seen->left, 10s);  // no hop extends the HTTP request's budget
  EXPECT_GT(*seen->left, 5s);
  http.shutdown(tether::background());
}

}  // namespace
}  // namespace tether_test
