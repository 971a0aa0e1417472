// tether/asio.hpp — a tether::Context that cancels Boost.Asio operations.
//
// Asio cancels one operation at a time through a *cancellation slot* associated with the
// operation's completion handler (per-operation cancellation, Boost 1.77+). This header
// connects that slot to a context: when the context is done, the operation is cancelled
// with cancellation_type::terminal and completes with asio::error::operation_aborted.
// Look at ctx.err() (or tether::cause(ctx)) to learn why.
//
//   namespace net = boost::asio;
//   // a read that ends when the request context does (or when data arrives):
//   socket.async_read_some(buf, tether::asio::bind_context(ctx, [&](auto ec, std::size_t n) {
//     if (ec == net::error::operation_aborted && ctx.err()) return;  // cancelled by ctx
//     ...
//   }));
//   // a sleep that also ends on the context:
//   tether::asio::async_wait(timer, ctx, handler);
//   // in a coroutine, wait for the context itself (works with awaitable_operators too):
//   co_await tether::asio::async_wait_done(ctx, net::use_awaitable);
//
// How the signal travels: the context's after_func callback runs on whatever thread
// cancels the context (or the timer thread). It never touches the operation: it *posts* a
// function to the operation's executor, and that function emits the cancellation signal —
// unless the operation has completed in the meantime. Asio requires the emission to be
// serialised with the operation, so the executor must not run two of its handlers at once:
// use a strand, or an io_context run by a single thread.
//
// Which executor: bind_context(ctx, executor, token) uses the one you give (do this for
// Beast's composed operations such as http::async_read, whose initiations do not expose
// one); bind_context(ctx, token) uses the handler's associated executor, or else the I/O
// object's. Choosing neither fails to compile rather than emitting on a random thread.
//
// Lifetime: the after_func registration is stopped — waiting for a callback that is
// running on another thread — when the operation's handler is invoked or destroyed (for
// example by io_context destruction), so no cancellation is ever posted for an operation
// that no longer exists. Nothing here blocks except that wait, which lasts as long as
// one asio::post.
//
// Thread safety: call these from wherever the operation may be started (as for the
// underlying Asio call); the context may be cancelled from any thread.
//
// Composition: if the handler already has a connected cancellation slot (a coroutine
// spawned with one, a parallel group, awaitable_operators), cancellations arriving there
// are forwarded to the operation too: the context adds a reason to cancel, it does not
// take one away.
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/consign.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

#include <fcntl.h>

#include "tether/context.hpp"

namespace tether::asio {

namespace detail {

namespace net = boost::asio;

// What one bound operation shares with its context callback. Every field except
// `executor` is touched only on `executor` (which serialises them, see the header).
template <class Executor>
struct BoundOp {
  explicit BoundOp(Executor ex) : executor(std::move(ex)) {}
  Executor executor;
  net::cancellation_signal signal;  // its slot is the operation's slot
  net::cancellation_slot outer;     // the handler's own slot, forwarded to `signal`
  bool finished = false;            // the handler has been invoked
};

// Stops the context callback when the last copy of the handler goes away, invoked or
// destroyed unrun, and marks the operation finished so that nothing emits on it later.
template <class Executor>
struct RegistrationGuard {
  explicit RegistrationGuard(std::shared_ptr<BoundOp<Executor>> o) : op(std::move(o)) {}
  ~RegistrationGuard() {
    registration.stop_and_wait();
    op->finished = true;
  }
  std::shared_ptr<BoundOp<Executor>> op;
  Registration registration;
};

// The completion handler given to the operation: the user's handler plus the op state.
template <class Handler, class Executor>
class ContextHandler {
 public:
  ContextHandler(Handler handler, std::shared_ptr<BoundOp<Executor>> op,
                 std::shared_ptr<RegistrationGuard<Executor>> guard)
      : handler_(std::move(handler)), op_(std::move(op)), guard_(std::move(guard)) {}

  using cancellation_slot_type = net::cancellation_slot;
  cancellation_slot_type get_cancellation_slot() const noexcept { return op_->signal.slot(); }

  template <class... Args>
  void operator()(Args&&... args) {
    op_->finished = true;
    if (op_->outer.is_connected()) op_->outer.clear();
    guard_.reset();
    op_.reset();
    std::move(handler_)(std::forward<Args>(args)...);
  }

  const Handler& inner() const noexcept { return handler_; }

 private:
  Handler handler_;
  std::shared_ptr<BoundOp<Executor>> op_;
  std::shared_ptr<RegistrationGuard<Executor>> guard_;
};

template <class T, class = void>
struct HasGetExecutor : std::false_type {};
template <class T>
struct HasGetExecutor<T, std::void_t<decltype(std::declval<const T&>().get_executor())>>
    : std::true_type {};

// The executor on which cancellation is emitted for `handler` started by `initiation`.
template <class Handler, class Initiation>
auto choose_executor(const Handler& handler, const Initiation& initiation) {
  if constexpr (HasGetExecutor<Initiation>::value) {
    return net::get_associated_executor(handler, initiation.get_executor());
  } else {
    return net::get_associated_executor(handler);
  }
}

// Wraps `handler` so that `ctx` cancels the operation; `ex` is the executor to emit on.
template <class Handler, class Executor>
ContextHandler<Handler, Executor> wrap(const Context& ctx, Handler handler, Executor ex) {
  static_assert(!std::is_same_v<Executor, net::system_executor>,
                "tether::asio::bind_context: the handler has no associated executor and the "
                "initiation exposes none; use bind_context(ctx, executor, token)");
  auto op = std::make_shared<BoundOp<Executor>>(std::move(ex));
  op->outer = net::get_associated_cancellation_slot(handler);
  if (op->outer.is_connected()) {
    op->outer.assign([op](net::cancellation_type_t type) {
      if (!op->finished) op->signal.emit(type);
    });
  }
  auto guard = std::make_shared<RegistrationGuard<Executor>>(op);
  // TRICKY: the callback holds `op` and may run at once (ctx already done); it only posts,
  // and the posted function checks `finished`, so an early or late run is harmless.
  guard->registration = after_func(ctx, [op] {
    net::post(op->executor, [op] {
      if (!op->finished) op->signal.emit(net::cancellation_type::terminal);
    });
  });
  return ContextHandler<Handler, Executor>(std::move(handler), std::move(op), std::move(guard));
}

}  // namespace detail

/// A completion token adapter: the operation started with it is cancelled when `ctx` is
/// done. Made by bind_context(); see the header comment.
template <class Token, class Executor = void>
struct ContextBoundToken {
  Context ctx;
  Executor executor;
  Token token;
};
template <class Token>
struct ContextBoundToken<Token, void> {
  Context ctx;
  Token token;
};

/// Binds `ctx` to the operation started with the returned token; cancellation is emitted
/// on the handler's associated executor (or the I/O object's).
template <class Token>
ContextBoundToken<std::decay_t<Token>> bind_context(const Context& ctx, Token&& token) {
  return {ctx, std::forward<Token>(token)};
}

/// Binds `ctx` to the operation started with the returned token; cancellation is emitted
/// on `executor`, which must be the one the operation's handler runs on.
template <class Executor, class Token>
requires boost::asio::execution::executor<Executor> ||
    boost::asio::is_executor<Executor>::value ContextBoundToken<std::decay_t<Token>, Executor>
    bind_context(const Context& ctx, const Executor& executor, Token&& token) {
  return {ctx, executor, std::forward<Token>(token)};
}

/// Waits on `timer` until it expires or `ctx` is done, whichever comes first. Completes
/// with success at expiry, with asio::error::operation_aborted when ctx ended the wait
/// (or the timer was cancelled). Signature: void(boost::system::error_code).
// tether-vet: ignore[context-first] Asio's order: the I/O object first, like timer.async_wait
template <class Clock, class Traits, class Executor, class Token>
auto async_wait(boost::asio::basic_waitable_timer<Clock, Traits, Executor>& timer,
                const Context& ctx, Token&& token) {
  return timer.async_wait(bind_context(ctx, std::forward<Token>(token)));
}

/// Completes when `ctx` is done: with success, on the handler's associated executor.
/// Cancelling the operation through its slot (a coroutine race with `||`, a parallel
/// group) completes it with asio::error::operation_aborted.
/// Signature: void(boost::system::error_code).
///
///   using namespace boost::asio::experimental::awaitable_operators;
///   auto r = co_await (sock.async_read_some(buf, net::use_awaitable) ||
///                      tether::asio::async_wait_done(ctx, net::use_awaitable));
///   if (r.index() == 1) { /* ctx ended first; the read was cancelled */ }
///
/// It is an ordinary Asio wait on a duplicate of ctx.done().fd() (an eventfd that becomes
/// readable when ctx is done), so the io_context owns the pending operation like any other:
/// it counts as outstanding work, and destroying the io_context destroys it. The first
/// call on a context creates its eventfd. The handler's associated executor must be an I/O
/// executor (the coroutine's, or one given with bind_executor). Throws std::system_error
/// if no descriptor can be created.
template <class Token>
auto async_wait_done(const Context& ctx, Token&& token) {
  namespace net = boost::asio;
  return net::async_initiate<Token, void(boost::system::error_code)>(
      // tether-vet: ignore[context-first] async_initiate passes the handler first
      [](auto handler, Context c) {
        auto ex = net::get_associated_executor(handler);
        static_assert(!std::is_same_v<decltype(ex), net::system_executor>,
                      "tether::asio::async_wait_done: bind the handler to an I/O executor");
        const int fd = ::fcntl(c.done().fd(), F_DUPFD_CLOEXEC, 0);
        if (fd < 0) throw std::system_error(errno, std::system_category(), "dup");
        auto descriptor = std::make_shared<net::posix::stream_descriptor>(ex, fd);
        // The descriptor lives as long as the pending wait: its handler owns it.
        descriptor->async_wait(net::posix::descriptor_base::wait_read,
                               net::consign(std::move(handler), descriptor));
      },
      token, ctx);
}

}  // namespace tether::asio

namespace boost::asio {

/// Forwards the user's executor and allocator associations through the wrapper.
template <template <typename, typename> class Associator, typename Handler, typename Executor,
          typename DefaultCandidate>
struct associator<Associator, tether::asio::detail::ContextHandler<Handler, Executor>,
                  DefaultCandidate> : Associator<Handler, DefaultCandidate> {
  static typename Associator<Handler, DefaultCandidate>::type get(
      const tether::asio::detail::ContextHandler<Handler, Executor>& h) noexcept {
    return Associator<Handler, DefaultCandidate>::get(h.inner());
  }
  static auto get(const tether::asio::detail::ContextHandler<Handler, Executor>& h,
                  const DefaultCandidate& c) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(h.inner(), c)) {
    return Associator<Handler, DefaultCandidate>::get(h.inner(), c);
  }
};

template <typename Token, typename Executor, typename... Signatures>
struct async_result<tether::asio::ContextBoundToken<Token, Executor>, Signatures...>
    : async_result<Token, Signatures...> {
  template <typename Initiation>
  struct init_wrapper {
    Initiation initiation;
    tether::Context ctx;
    [[no_unique_address]] std::conditional_t<std::is_void_v<Executor>, char, Executor> executor;

    template <typename Handler, typename... Args>
    void operator()(Handler&& handler, Args&&... args) {
      auto ex = [&] {
        if constexpr (std::is_void_v<Executor>) {
          return tether::asio::detail::choose_executor(handler, initiation);
        } else {
          return executor;
        }
      }();
      std::move(initiation)(
          tether::asio::detail::wrap(ctx, std::forward<Handler>(handler), std::move(ex)),
          std::forward<Args>(args)...);
    }
  };

  template <typename Initiation, typename RawToken, typename... Args>
  // The explicit return type keeps Asio's completion_token_for checks (which initiate
  // with an archetype) from instantiating the body and its executor static_assert.
  static auto initiate(Initiation&& initiation, RawToken&& token, Args&&... args)
      -> decltype(async_initiate<Token, Signatures...>(
          std::declval<init_wrapper<std::decay_t<Initiation>>>(), std::declval<Token&>(),
          std::declval<Args>()...)) {
    using Wrapper = init_wrapper<std::decay_t<Initiation>>;
    auto executor = [&] {
      if constexpr (std::is_void_v<Executor>) {
        return char{};
      } else {
        return token.executor;
      }
    }();
    return async_initiate<Token, Signatures...>(
        Wrapper{std::forward<Initiation>(initiation), token.ctx, std::move(executor)}, token.token,
        std::forward<Args>(args)...);
  }
};

}  // namespace boost::asio
