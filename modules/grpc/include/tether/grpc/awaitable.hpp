// tether/grpc/awaitable.hpp — a unary gRPC call a Boost.Asio coroutine can co_await: the
// client call of <tether/grpc.hpp> (deadline minus a margin, `traceparent`, TryCancel when
// the context ends), made with gRPC's callback API and completed on the awaiting
// coroutine's executor, so no thread blocks while the call is in flight.
//
//   // a tether::http coroutine route calling a gRPC service (Go: `r, err := stub.Find(ctx, q)`)
//   server.route("GET", "/find",
//       [&](tether::Context ctx, const tether::http::Request& req)
//           -> boost::asio::awaitable<tether::http::Response> {
//         pb::Query q;
//         q.set_text(std::string(req.query()));
//         auto [hits, status] =
//             co_await tether::grpc::co_unary(ctx, *stub, &pb::Search::Stub::async::Find, q);
//         if (!status.ok()) co_return tether::http::Response::text(502, status.error_message());
//         co_return tether::http::Response::text(200, hits.DebugString());
//       });
//
// The guarantees are the blocking call's (tether::grpc::call, ClientCall):
//   * the gRPC deadline is the time left on ctx's deadline minus ClientOptions' margins
//     (never longer than what the caller has left), and a `traceparent` with a child span of
//     ctx's trace (or a new trace) is sent;
//   * when ctx ends during the call, the call is cancelled (ClientContext::TryCancel, run on
//     the thread that cancels ctx or on tether's timer thread), and the status says why:
//     DEADLINE_EXCEEDED when ctx's deadline passed — even when tether's timer beat gRPC's
//     own — else CANCELLED, with the cause's message (status_for);
//   * a ctx already done fails at once: the call is never started, nothing is sent;
//   * the coroutine resumes only after the call has completed, and after the TryCancel hook
//     has been stopped (and waited for, if it was running on another thread), so nothing
//     touches the ClientContext afterwards.
// An OK status means the call completed before the context ended.
//
// Take the Context BY VALUE in the coroutine (tether-vet: coroutine-context-ref); co_unary
// takes it by value too, and copies the request: the caller's objects may go after the
// first suspension. The stub must outlive the call.
//
// Cancellation comes from the context: end ctx (or give it a deadline) to cancel the call.
// Boost.Asio's per-operation cancellation (a `||` of awaitable_operators, a cancellation
// slot) is not connected: a lost `||` race waits for the call to complete.
//
// Threads: gRPC completes the call on one of its threads; the completion is then posted to
// the coroutine's executor (the associated executor of the completion handler), where the
// coroutine resumes. The call keeps that executor's work count up while it is in flight,
// so an io_context does not run out of work under a pending call.
//
// What blocks: nothing on the coroutine's thread.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "tether/context.hpp"
#include "tether/grpc.hpp"

namespace tether::grpc {

/// What an awaited unary call gives back: the reply and the call's status (Go's
/// `reply, err`). `reply` is meaningful only when `status.ok()`.
template <class Resp>
struct UnaryResult {
  Resp reply;
  ::grpc::Status status;
};

/// The callback-API method of a generated stub's `async` class, e.g.
/// `&pb::Search::Stub::async::Find`: the overload taking a completion std::function.
template <class Async, class Req, class Resp>
using AsyncUnaryMethod = void (Async::*)(::grpc::ClientContext*, const Req*, Resp*,
                                         std::function<void(::grpc::Status)>);

namespace internal {

/// One awaited call: lives from the initiation until the completion has been handed to the
/// coroutine's executor.
template <class Req, class Resp, class Handler, class WorkExecutor>
struct AwaitedCall {
  AwaitedCall(const Context& ctx, const ClientOptions& options, Req req, Handler h, WorkExecutor ex)
      : request(std::move(req)),
        handler(std::move(h)),
        executor(std::move(ex)),
        call(std::in_place, ctx, options) {}
  Req request;
  Resp reply;
  Handler handler;
  WorkExecutor executor;           // the coroutine's, with outstanding work tracked
  std::optional<ClientCall> call;  // reset before the coroutine resumes
};

/// Resumes the coroutine with `result` on the executor `work` (the coroutine's, tracking
/// outstanding work). The tracked executor travels inside the posted function and dies on
/// the coroutine's thread after the handler ran: destroyed here (a gRPC thread) after the
/// post, it would release the work count when the io_context may already be gone.
template <class Handler, class WorkExecutor, class Resp>
void complete_on(WorkExecutor work, Handler handler, UnaryResult<Resp> result) {
  namespace net = boost::asio;
  auto ex = net::prefer(work, net::execution::outstanding_work.untracked);
  net::post(ex, [h = std::move(handler), r = std::move(result), w = std::move(work)]() mutable {
    std::move(h)(std::move(r));
  });
}

struct UnaryInitiation {
  template <class Handler, class Async, class Req, class Resp>
  void operator()(Handler handler, Context ctx, Async* async,
                  AsyncUnaryMethod<Async, Req, Resp> method, Req request,
                  ClientOptions options) const {
    namespace net = boost::asio;
    auto ex = net::prefer(net::get_associated_executor(handler),
                          net::execution::outstanding_work.tracked);
    if (ctx.err()) {  // already done: fail at once, never start the call
      const ::grpc::Status cancelled(::grpc::StatusCode::CANCELLED, "context done");
      complete_on(std::move(ex), std::move(handler),
                  UnaryResult<Resp>{{}, status_for(ctx, cancelled)});
      return;
    }
    using Op = AwaitedCall<Req, Resp, Handler, decltype(ex)>;
    auto* op = new Op(ctx, options, std::move(request), std::move(handler), std::move(ex));
    // gRPC runs the callback once, on one of its threads, after the call has completed.
    (async->*method)(&op->call->client_context(), &op->request, &op->reply, [op](::grpc::Status s) {
      std::unique_ptr<Op> owned(op);
      UnaryResult<Resp> r{std::move(owned->reply), owned->call->status(s)};
      owned->call.reset();  // stops (and waits for) the TryCancel hook
      auto work = std::move(owned->executor);
      auto resume = std::move(owned->handler);
      owned.reset();  // nothing of the call is left once the coroutine may resume
      complete_on(std::move(work), std::move(resume), std::move(r));
    });
  }
};

}  // namespace internal

/// A unary call under `ctx`, awaited: `co_await co_unary(ctx, *stub,
/// &Service::Stub::async::Method, request)`. Returns the reply and the status (see the
/// header comment for the deadline, trace and cancellation guarantees). `token` is any
/// Boost.Asio completion token taking `void(UnaryResult<Resp>)`; the default makes it an
/// awaitable.
template <class Stub, class Async, class Req, class Resp,
          class Token = boost::asio::use_awaitable_t<>>
requires std::is_convertible_v<decltype(std::declval<Stub&>().async()), Async*>
auto co_unary(Context ctx, Stub& stub, AsyncUnaryMethod<Async, Req, Resp> method, Req request,
              ClientOptions options = {}, Token&& token = {}) {
  return boost::asio::async_initiate<Token, void(UnaryResult<Resp>)>(
      internal::UnaryInitiation{}, token, std::move(ctx), static_cast<Async*>(stub.async()), method,
      std::move(request), options);
}

}  // namespace tether::grpc
