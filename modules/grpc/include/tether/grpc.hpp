// tether/grpc.hpp — gRPC calls whose context crosses the process boundary (gRPC 1.51, the
// callback API).
//
// Go services get this from grpc-go for free; C++ gRPC's ClientContext and ServerContext
// know nothing of each other or of the work beneath them. Here:
//
//   * a server handler gets a tether::Context that carries the call's deadline and the
//     caller's trace, and is done when the caller cancels, disconnects or runs out of time,
//     when the server shuts down, and — like grpc-go's — when the RPC has finished;
//   * a client call made under a tether::Context sends its deadline (minus a margin) and
//     a `traceparent`, and is cancelled when the Context is done.
//
//   // server: the Dispatcher makes each call's context and runs the work on its workers
//   tether::grpc::Dispatcher calls(tether::background(), {.max_timeout = 30s});
//   class Search final : public pb::Search::CallbackService {
//     ::grpc::ServerUnaryReactor* Find(::grpc::CallbackServerContext* sc, const pb::Query* q,
//                                      pb::Hits* hits) override {
//       return calls_.unary(sc, [q, hits](const tether::Context& ctx) {
//         return find(ctx, *q, hits);   // passes ctx down; returns a ::grpc::Status
//       });
//     }
//   };
//   ...
//   calls.shutdown(*server, std::chrono::system_clock::now() + 5s);
//
//   // client: bind the call to the caller's context
//   pb::Hits hits;
//   ::grpc::Status s = tether::grpc::call(ctx, [&](::grpc::ClientContext* cc) {
//     return stub->Find(cc, query, &hits);
//   });
//   if (s.error_code() == ::grpc::StatusCode::DEADLINE_EXCEEDED) ...
//
// The server context of a call (ServerCall), derived from the Dispatcher's base context:
//   * deadline: the caller's (read with gRPC's monotonic clock, never the wall clock),
//     capped by ServerOptions::max_timeout; ServerOptions::default_timeout when the caller
//     sets none (zero: no deadline, as in grpc-go);
//   * value tether::trace_key: a child span of the caller's `traceparent` metadata, or a new
//     root trace when it is missing or invalid;
//   * done with cause errc::client_cancelled ("client cancelled") when gRPC reports the call
//     cancelled (the client's TryCancel, its disconnect or death, a server-side TryCancel);
//     errc::client_deadline_passed when that happens within the deadline slack (see
//     "Deadlines" below); deadline_exceeded when the deadline passes; cause
//     errc::server_shutdown after Dispatcher::shutdown; errc::rpc_finished once the RPC is
//     over, so work that kept a copy of the context stops (grpc-go does the same).
//
// Deadlines, and why a hop never extends the caller's budget: gRPC C++ may put a
// `grpc-timeout` on the wire that is up to ~3 % longer than the time left (its HPACK
// encoder reuses a previously sent value within 3 %, grpc/grpc#28346, and rounds up), so a
// 2 s budget arrived as 2 009–2 080 ms after two hops. Client calls made here therefore set
// the gRPC deadline to `left − margin − margin_fraction × left` (4 % by default), so the
// server sees at most the time the caller has left. The caller's own deadline still ends its
// call on time (tether cancels it). A server can still be called by clients that send the
// longer value (grpc-go, raw gRPC C++): their RST_STREAM at their deadline then often beats
// the server's timer. A cancel that arrives when no more than `deadline_slack` of the budget
// is left is reported as errc::client_deadline_passed (it compares equal to
// std::errc::timed_out, and status_for maps it to DEADLINE_EXCEEDED) instead of a plain
// client cancel; err() is canceled then, as in grpc-go.
//
// Threads: gRPC runs reactions (OnCancel, OnDone) on its own threads, and tether runs the
// after_func callbacks of a cancelled context on the cancelling thread — so callbacks
// registered on a server call's context may run on a gRPC thread: keep them short and
// non-blocking (gRPC's rule). Handler work never runs on gRPC's threads: the Dispatcher
// runs it on its executor (its own worker pool by default), and the method handler returns
// at once — unless you opt in with Dispatcher::unary_inline, for unary work that never
// blocks, which runs inside the method handler and saves the hand-off. A call's Finish is
// always called exactly once (also when its context was done before the work started);
// nothing touches a ServerContext after the work returned. Client calls: ClientCall's
// destructor stops (and waits for) the TryCancel hook before the ClientContext dies; the
// hook runs on the thread that cancels the context or on tether's timer thread.
//
// The three gRPC server APIs:
//   * callback API: Dispatcher::unary / server_stream / bidi (below);
//   * CQ-based async API (no adapter; ServerCall by hand): call AsyncNotifyWhenDone(tag)
//     before requesting the call, build a ServerCall when the call starts, and when the tag
//     comes back call `sc.IsCancelled() ? call.on_cancel() : call.finished()` — deadline,
//     trace, client cancel and end of the RPC, as the callback API;
//   * sync API: gRPC gives no cancel notification (only polling IsCancelled()), so a
//     ServerCall built in the handler gives the deadline and the trace, and ends its context
//     when it goes out of scope as the handler returns; not the client's cancel — prefer the
//     callback API. (docs/grpc.md, "The other server APIs".)
//
// What blocks: Writer::write, Reader::read (until gRPC completes the operation or the
// context is done), Dispatcher::shutdown (as long as grpc::Server::Shutdown), the
// Dispatcher's destructor (until queued work has run), ClientCall's destructor (while its
// TryCancel hook runs on another thread) and, of course, blocking stubs.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_callback.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "tether/context.hpp"
#include "tether/propagation.hpp"

namespace tether::grpc {

// ---- errors ------------------------------------------------------------------------------

/// Why a server call's context ended (its cause), and how a stream operation failed.
enum class errc {
  client_cancelled = 1,    ///< the client cancelled or went away ≡ std::errc::operation_canceled
  client_deadline_passed,  ///< the client gave up at its deadline  ≡ std::errc::timed_out
  rpc_finished,            ///< the RPC is over (Finish was called and completed)
  server_shutdown,         ///< Dispatcher::shutdown (or the Dispatcher was destroyed)
  end_of_stream,           ///< Reader::read: the client closed its side of the stream
  stream_broken,           ///< a read or write failed: the call is cancelled or over
};
/// The category of tether::grpc::errc ("tether.grpc").
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// The status a call ended by `ctx` reports. When ctx is done and `status` is OK, CANCELLED
/// or DEADLINE_EXCEEDED: DEADLINE_EXCEEDED if ctx's deadline passed or its cause compares
/// equal to std::errc::timed_out, else CANCELLED; the message is the cause's. Any other
/// status (an application error) is kept, and so is everything while ctx is not done.
///
///   ctx done?  err / cause                          status in       status out
///   no         —                                    any             unchanged
///   yes        deadline_exceeded                    OK/1/4          DEADLINE_EXCEEDED
///   yes        canceled, cause ≡ timed_out          OK/1/4          DEADLINE_EXCEEDED
///   yes        canceled, any other cause            OK/1/4          CANCELLED
///   yes        any                                  anything else   unchanged
::grpc::Status status_for(const Context& ctx, const ::grpc::Status& status);

// ---- server ------------------------------------------------------------------------------

/// Runs a task on some other thread (a thread pool's submit). Must run every task it
/// accepts, or throw without keeping it; must not run it inline (the task would then run
/// inside gRPC's method handler, and gRPC holds OnCancel back until that returns).
using Executor = std::function<void(std::function<void()>)>;

/// Server policy.
struct ServerOptions {
  /// Caps the deadline a caller asks for.
  std::chrono::nanoseconds max_timeout = std::chrono::minutes(5);
  /// The deadline of calls that come without one; zero: none (grpc-go's behaviour).
  std::chrono::nanoseconds default_timeout{0};
  /// A cancel that arrives when at most this fraction of the call's budget (plus 2 ms) is
  /// left is reported as errc::client_deadline_passed. Zero: every cancel is a client cancel.
  double deadline_slack = 0.035;
  /// Where handler work runs; empty: a pool of `workers` threads owned by the Dispatcher.
  Executor executor{};
  std::size_t workers = 4;
};

/// The context of one server call, from the call's start until OnDone.
///
/// Built in the method handler (or when a CQ-async call starts); it reads the deadline and
/// the metadata there and never keeps the ServerContext. The reactor calls on_cancel() from
/// OnCancel and finished() from OnDone (the destructor calls finished() too). The context
/// holds nothing of gRPC: copies may outlive the call, and end with errc::rpc_finished.
///
/// Thread safety: context() may be used from any thread; on_cancel() and finished() may
/// race with each other and with deadline expiry (the first end wins).
class ServerCall {
 public:
  ServerCall(const Context& base, const ::grpc::ServerContextBase& sc,
             const ServerOptions& options = {});
  ~ServerCall() { finished(); }
  ServerCall(const ServerCall&) = delete;
  ServerCall& operator=(const ServerCall&) = delete;

  const Context& context() const noexcept { return ctx_; }
  /// gRPC reported the call cancelled: ends the context with errc::client_cancelled (or
  /// errc::client_deadline_passed near the deadline; nothing once the deadline has passed:
  /// the deadline reports itself).
  void on_cancel() noexcept;
  /// The RPC is over: ends the context with errc::rpc_finished.
  void finished() noexcept;
  /// status_for(context(), status).
  ::grpc::Status status(const ::grpc::Status& status) const { return status_for(ctx_, status); }

 private:
  std::optional<Clock::time_point> deadline_;  // the call's deadline on tether's clock
  std::chrono::nanoseconds slack_{0};          // see ServerOptions::deadline_slack
  std::optional<ScopedCancelCause> end_;       // ends the call context (deadline: its own)
  Context ctx_;
};

template <class Req>
class Reader;
template <class Resp>
class Writer;

namespace internal {
class WorkerPool;
/// The blocking half of one streaming operation: the work thread waits, the reaction
/// (OnReadDone/OnWriteDone) completes it.
class PendingOp {
 public:
  void start() {
    std::lock_guard lock(mu_);
    done_ = false;
  }
  void complete(bool ok) {
    {
      std::lock_guard lock(mu_);
      ok_ = ok;
      done_ = true;
    }
    cv_.notify_all();
  }
  /// Waits for completion. When ctx ends first, calls cancel() (a server-side TryCancel,
  /// which makes gRPC complete the operation with ok == false) and keeps waiting.
  bool wait(const Context& ctx, const std::function<void()>& cancel);

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool done_ = true;  // written under mu_
  bool ok_ = false;   // written under mu_
};
std::error_code stream_error(const Context& ctx);
::grpc::Status status_from_exception(std::exception_ptr e);
}  // namespace internal

/// A unary handler's work: runs on the Dispatcher's executor; returns the call's status.
using UnaryWork = std::function<::grpc::Status(const Context& ctx)>;
/// What Dispatcher::unary_inline runs: `work(ctx)` returning the call's status.
template <class F>
concept InlineUnaryWork = std::is_invocable_r_v<::grpc::Status, F&, const Context&>;
/// A server-streaming handler's work: writes replies through `out`.
template <class Resp>
using ServerStreamWork = std::function<::grpc::Status(const Context& ctx, Writer<Resp>& out)>;
/// A bidirectional handler's work: reads requests from `in`, writes replies through `out`.
template <class Req, class Resp>
using BidiWork =
    std::function<::grpc::Status(const Context& ctx, Reader<Req>& in, Writer<Resp>& out)>;

/// Makes each call's context (ServerCall) from one base context and runs the handlers'
/// work off gRPC's threads. One per server (or per service).
///
/// Destroy it after the grpc::Server has shut down: its destructor cancels the base
/// context, runs the work still queued, and joins its workers.
class Dispatcher {
 public:
  explicit Dispatcher(const Context& base, ServerOptions options = {});
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /// The base context of every call: done after shutdown().
  const Context& context() const noexcept { return base_; }
  const ServerOptions& options() const noexcept { return options_; }

  /// Cancels the base context with errc::server_shutdown ("server shutdown"), so every
  /// in-flight call's context ends with that cause, then Shutdown(deadline): calls that
  /// are still running at `deadline` are cancelled by gRPC. Without this, gRPC's own
  /// cancellation would look like client cancels. Blocks like grpc::Server::Shutdown.
  void shutdown(::grpc::Server& server, std::chrono::system_clock::time_point deadline);
  /// Cancels the base context only (for servers shut down elsewhere).
  void cancel_calls() noexcept;

  /// A unary call: returns the reactor for the method handler to return. `work` runs on
  /// the executor under the call's context; its status (through status_for) finishes the
  /// call. A call whose context is already done is finished at once without running work.
  /// A `work` that throws finishes the call with UNKNOWN and the exception's message.
  /// The reactor keeps `work` (and what it captured) until the RPC is over: it is destroyed
  /// in OnDone, on a gRPC thread — keep the captures' destructors short (so for
  /// server_stream and bidi).
  ::grpc::ServerUnaryReactor* unary(::grpc::CallbackServerContext* sc, UnaryWork work);
  /// Opt-in: a unary call whose `work` runs INLINE, inside gRPC's method handler on gRPC's
  /// thread, for work that never blocks (a lookup in memory, a computation). It saves the
  /// hand-off to the executor — on a trivial call about a third of the server's cost
  /// (docs/performance.md, "gRPC") — and the reactor's allocation (gRPC's default reactor
  /// finishes the call). The call's context is made as for unary() (deadline, trace) and
  /// ends with errc::rpc_finished as soon as `work` returns; the client's cancel cannot reach
  /// `work` (gRPC holds OnCancel back until the handler returns). Finish is called, with
  /// status_for's status, before this returns; a `work` that throws gives UNKNOWN, as in
  /// unary(). Work that blocks stalls one of gRPC's threads and every call queued behind
  /// it: use unary() for anything that waits (I/O, locks held by others, sleeps).
  template <InlineUnaryWork F>
  ::grpc::ServerUnaryReactor* unary_inline(::grpc::CallbackServerContext* sc, F&& work);
  /// A server-streaming call.
  template <class Resp>
  ::grpc::ServerWriteReactor<Resp>* server_stream(::grpc::CallbackServerContext* sc,
                                                  ServerStreamWork<Resp> work);
  /// A bidirectional-streaming call.
  template <class Req, class Resp>
  ::grpc::ServerBidiReactor<Req, Resp>* bidi(::grpc::CallbackServerContext* sc,
                                             BidiWork<Req, Resp> work);

  /// Runs `task` on the executor (used by the reactors; public for custom reactors).
  void submit(std::function<void()> task);

 private:
  ServerOptions options_;
  Context base_;
  std::optional<ScopedCancelCause> cancel_base_;
  std::unique_ptr<internal::WorkerPool> pool_;
};

/// The reading side of a bidirectional stream, for the handler's work.
/// One read at a time (from any one thread).
template <class Req>
class Reader {
 public:
  /// Blocks until a message arrives ({}), the client closes its side
  /// (errc::end_of_stream), the stream fails (errc::stream_broken) or ctx is done
  /// (ctx.err(); the call is then cancelled server-side so the read completes).
  std::error_code read(const Context& ctx, Req& into) {
    if (auto ec = ctx.err()) return ec;
    op_.start();
    start_(&into);
    if (op_.wait(ctx, cancel_)) return {};
    if (auto ec = ctx.err()) return ec;
    return make_error_code(closed_() ? errc::end_of_stream : errc::stream_broken);
  }

  Reader(std::function<void(Req*)> start, std::function<void()> cancel,
         std::function<bool()> closed)
      : start_(std::move(start)), cancel_(std::move(cancel)), closed_(std::move(closed)) {}
  internal::PendingOp& op() noexcept { return op_; }

 private:
  internal::PendingOp op_;
  std::function<void(Req*)> start_;
  std::function<void()> cancel_;
  std::function<bool()> closed_;
};

/// The writing side of a server or bidirectional stream, for the handler's work.
/// One write at a time (from any one thread).
template <class Resp>
class Writer {
 public:
  /// Blocks until gRPC has taken the message ({}), the stream fails (errc::stream_broken)
  /// or ctx is done (ctx.err(); the call is then cancelled server-side).
  std::error_code write(const Context& ctx, const Resp& message) {
    if (auto ec = ctx.err()) return ec;
    op_.start();
    start_(&message);
    if (op_.wait(ctx, cancel_)) return {};
    return internal::stream_error(ctx);
  }

  Writer(std::function<void(const Resp*)> start, std::function<void()> cancel)
      : start_(std::move(start)), cancel_(std::move(cancel)) {}
  internal::PendingOp& op() noexcept { return op_; }

 private:
  internal::PendingOp op_;
  std::function<void(const Resp*)> start_;
  std::function<void()> cancel_;
};

namespace internal {

/// Runs a reactor's work (its `run()`) and finishes the call with its status.
template <class Reactor>
void run_work(Reactor* r) noexcept {
  ::grpc::Status s;
  try {
    s = r->run();
  } catch (...) {
    s = status_from_exception(std::current_exception());
  }
  r->Finish(r->call.status(s));  // the last touch: OnDone may delete r from here on
}

/// Runs a reactor's work on the dispatcher, finishing on every path. The task handed to
/// the executor holds only the reactor (which holds the work): it fits std::function's
/// small buffer, so the hand-off allocates nothing.
template <class Reactor>
void start_work(Dispatcher& d, Reactor* r) {
  if (r->call.context().err()) {  // already done: do not start the work
    r->Finish(r->call.status(::grpc::Status::OK));
    return;
  }
  try {
    d.submit([r] { run_work(r); });
  } catch (...) {
    r->Finish(::grpc::Status(::grpc::StatusCode::UNAVAILABLE, "server shutdown"));
  }
}

template <class Resp>
class WriteReactor final : public ::grpc::ServerWriteReactor<Resp> {
 public:
  WriteReactor(const Dispatcher& d, ::grpc::CallbackServerContext* sc, ServerStreamWork<Resp> w)
      : call(d.context(), *sc, d.options()),
        writer([this](const Resp* m) { this->StartWrite(m); }, [sc] { sc->TryCancel(); }),
        work(std::move(w)) {}
  ::grpc::Status run() { return work(call.context(), writer); }
  void OnWriteDone(bool ok) override { writer.op().complete(ok); }
  void OnCancel() override { call.on_cancel(); }
  void OnDone() override {
    call.finished();
    delete this;
  }
  ServerCall call;
  Writer<Resp> writer;
  ServerStreamWork<Resp> work;
};

template <class Req, class Resp>
class BidiReactor final : public ::grpc::ServerBidiReactor<Req, Resp> {
 public:
  BidiReactor(const Dispatcher& d, ::grpc::CallbackServerContext* sc, BidiWork<Req, Resp> w)
      : call(d.context(), *sc, d.options()),
        // A failed read on a call gRPC has not cancelled is the client's half-close.
        reader([this](Req* m) { this->StartRead(m); }, [sc] { sc->TryCancel(); },
               [sc] { return !sc->IsCancelled(); }),
        writer([this](const Resp* m) { this->StartWrite(m); }, [sc] { sc->TryCancel(); }),
        work(std::move(w)) {}
  ::grpc::Status run() { return work(call.context(), reader, writer); }
  void OnReadDone(bool ok) override { reader.op().complete(ok); }
  void OnWriteDone(bool ok) override { writer.op().complete(ok); }
  void OnCancel() override { call.on_cancel(); }
  void OnDone() override {
    call.finished();
    delete this;
  }
  ServerCall call;
  Reader<Req> reader;
  Writer<Resp> writer;
  BidiWork<Req, Resp> work;
};

}  // namespace internal

template <InlineUnaryWork F>
::grpc::ServerUnaryReactor* Dispatcher::unary_inline(::grpc::CallbackServerContext* sc, F&& work) {
  ::grpc::Status s;
  {
    ServerCall call(base_, *sc, options_);
    if (!call.context().err()) {  // already done: do not start the work
      try {
        s = work(call.context());
      } catch (...) {
        s = internal::status_from_exception(std::current_exception());
      }
    }
    s = call.status(s);
  }  // the call's context ends here, with errc::rpc_finished
  ::grpc::ServerUnaryReactor* r = sc->DefaultReactor();
  r->Finish(std::move(s));
  return r;
}

template <class Resp>
::grpc::ServerWriteReactor<Resp>* Dispatcher::server_stream(::grpc::CallbackServerContext* sc,
                                                            ServerStreamWork<Resp> work) {
  auto* r = new internal::WriteReactor<Resp>(*this, sc, std::move(work));
  internal::start_work(*this, r);
  return r;
}

template <class Req, class Resp>
::grpc::ServerBidiReactor<Req, Resp>* Dispatcher::bidi(::grpc::CallbackServerContext* sc,
                                                       BidiWork<Req, Resp> work) {
  auto* r = new internal::BidiReactor<Req, Resp>(*this, sc, std::move(work));
  internal::start_work(*this, r);
  return r;
}

// ---- client ------------------------------------------------------------------------------

/// Client policy: how much of the time left a call gives away to the server.
struct ClientOptions {
  /// Subtracted from the time left (time for the answer to come back).
  std::chrono::nanoseconds margin{0};
  /// Also subtracted, as a fraction of the time left: covers gRPC's up-to-3 % longer
  /// grpc-timeout, so that no hop extends the caller's budget (see the header comment).
  double margin_fraction = 0.04;
};

/// Binds a ClientContext to a tether Context, for the lifetime of the binding:
///   * the gRPC deadline is the time left on ctx's deadline (on tether's clock, so a
///     ManualClock governs it) minus the margins, counted on gRPC's monotonic clock;
///   * a `traceparent` with a new span of ctx's trace (or a new trace) is added;
///   * when ctx is done, the call is cancelled (ClientContext::TryCancel); a ctx already
///     done cancels it before it starts, so it fails at once without being sent.
/// Bind before starting the call; destroy the binding after the call completed and before
/// the ClientContext (the destructor stops the TryCancel hook and waits for it if it is
/// running on another thread). ClientCall does all of this in the right order.
class ClientBinding {
 public:
  // tether-vet: ignore[context-first] binds `cc`: what is bound comes first, as in lock_guard
  ClientBinding(::grpc::ClientContext& cc, const Context& ctx, const ClientOptions& options = {});
  ~ClientBinding() { hook_.stop_and_wait(); }
  ClientBinding(const ClientBinding&) = delete;
  ClientBinding& operator=(const ClientBinding&) = delete;

  /// The status the call reports: status_for(ctx, status), except that OK stays OK (the
  /// call completed before the context ended). So a call ended by ctx's deadline reports
  /// DEADLINE_EXCEEDED even when tether's TryCancel beat gRPC's own deadline.
  ::grpc::Status status(const ::grpc::Status& status) const;

 private:
  Context ctx_;
  Registration hook_;
};

/// A ClientContext bound to a tether Context. Neither copyable nor movable (ClientContext
/// is not); one call per ClientCall.
///
///   tether::grpc::ClientCall call(ctx);
///   ::grpc::Status s = call.status(stub->Get(&call.client_context(), req, &reply));
///
/// Callback API: `stub->async()->Get(&call.client_context(), &req, &reply, done)`; keep
/// the ClientCall alive until `done` has run (the completion runs on a gRPC thread, never
/// inside the context's cancel), and pass the status through call.status().
class ClientCall {
 public:
  explicit ClientCall(const Context& ctx, const ClientOptions& options = {})
      : binding_(cc_, ctx, options) {}
  ::grpc::ClientContext& client_context() noexcept { return cc_; }
  ::grpc::Status status(const ::grpc::Status& status) const { return binding_.status(status); }

 private:
  ::grpc::ClientContext cc_;  // first: destroyed after the binding has stopped its hook
  ClientBinding binding_;
};

/// A blocking unary call under `ctx`: `f(ClientContext*)` makes the call (a stub method);
/// returns its status through ClientCall::status.
template <class F>
requires(std::is_invocable_r_v<::grpc::Status, F&, ::grpc::ClientContext*>)::grpc::Status
    call(const Context& ctx, F&& f, const ClientOptions& options = {}) {
  ClientCall c(ctx, options);
  return c.status(f(&c.client_context()));
}

}  // namespace tether::grpc

template <>
struct std::is_error_code_enum<tether::grpc::errc> : std::true_type {};
