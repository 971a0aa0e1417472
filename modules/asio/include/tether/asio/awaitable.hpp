// tether/asio/awaitable.hpp — what a Boost.Asio coroutine needs to live under a context:
// wait for it, sleep under it, and run a blocking call on a pool without holding the
// coroutine's thread.
//
//   namespace net = boost::asio;
//   net::awaitable<Response> handler(tether::Context ctx, const Request& req) {  // ctx BY VALUE
//     if (auto ec = co_await tether::asio::sleep_for(ctx, 100ms)) co_return ...;  // ctx ended
//     auto rows = co_await tether::asio::run_blocking(ctx, pool.get_executor(),
//         [&](const tether::Context& c) { return db.query(c, "SELECT ..."); });
//     co_await tether::asio::done(ctx);  // Go: <-ctx.Done()
//   }
//
// Take the Context BY VALUE in a coroutine: a coroutine frame copies its parameters, but a
// `const Context&` parameter still refers to the caller's object, which may be gone after
// the first suspension (tether-vet: coroutine-context-ref). Copying a Context is one atomic
// increment.
//
// How they end: done() and sleep_for() are timer waits bound to the context with
// bind_context (tether/asio.hpp): no descriptor, no thread; the io_context owns the pending
// wait like any other operation. The context's callback posts the cancellation to the
// coroutine's executor, so that executor must run one handler at a time: a strand, or an
// io_context run by one thread (a tether::http coroutine handler runs on its connection's
// io_context, which one I/O thread runs). Cancelling the coroutine's own operation
// (awaitable_operators' `||`, a parallel group) ends them too: they then throw
// boost::system::system_error(operation_aborted), as any use_awaitable operation does.
//
// Thread safety: a coroutine uses them like any awaitable; the context may be cancelled
// from any thread.
//
// What blocks: nothing on the coroutine's thread. run_blocking's `f` blocks a thread of the
// executor you give it, and the coroutine resumes (on its own executor) only when f has
// returned.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <concepts>
#include <system_error>
#include <type_traits>
#include <utility>

#include "tether/asio.hpp"
#include "tether/context.hpp"

namespace tether::asio {

namespace detail {
// run_blocking's body on the pool's thread.
template <class R, class F>
boost::asio::awaitable<R> call_blocking(Context ctx, F f) {
  co_return f(ctx);
}
}  // namespace detail

/// Completes when `ctx` is done; at once if it is already. Go: `<-ctx.Done()`.
/// Throws boost::system::system_error(operation_aborted) if the coroutine's operation is
/// cancelled by something else (a `||` race it lost) before ctx is done.
///
///   using namespace boost::asio::experimental::awaitable_operators;
///   auto r = co_await (tether::asio::done(ctx) || fetch(ctx));   // whichever ends first
inline boost::asio::awaitable<void> done(Context ctx) {
  namespace net = boost::asio;
  if (ctx.err()) co_return;
  net::steady_timer never(co_await net::this_coro::executor, net::steady_timer::time_point::max());
  auto [ec] = co_await never.async_wait(bind_context(ctx, net::as_tuple(net::use_awaitable)));
  if (!ctx.err()) throw boost::system::system_error(ec ? ec : net::error::operation_aborted);
}

/// Sleeps for `d` or until `ctx` is done, whichever comes first, without holding a thread.
/// Returns {} when the time passed, else ctx.err() (canceled, deadline_exceeded); if both
/// happen at once the context wins, as in tether::sleep_for (tether/sync/sleep.hpp).
/// Throws boost::system::system_error(operation_aborted) if the coroutine's operation is
/// cancelled by something else first.
template <class Rep, class Period>
boost::asio::awaitable<std::error_code> sleep_for(Context ctx,
                                                  std::chrono::duration<Rep, Period> d) {
  namespace net = boost::asio;
  if (std::error_code err = ctx.err()) co_return err;
  net::steady_timer timer(co_await net::this_coro::executor,
                          std::chrono::ceil<net::steady_timer::duration>(d));
  auto [ec] = co_await timer.async_wait(bind_context(ctx, net::as_tuple(net::use_awaitable)));
  if (std::error_code err = ctx.err()) co_return err;
  if (ec) throw boost::system::system_error(ec);
  co_return std::error_code{};
}

/// Runs the blocking call `f(ctx)` on `executor` (a thread pool's: net::thread_pool,
/// net::static_thread_pool) and resumes the coroutine on its own executor with f's result
/// (or rethrows f's exception). The coroutine's thread — an I/O thread, say — stays free
/// meanwhile.
///
/// Cancellation reaches `f` through its argument: pass it down (tether::sqlite,
/// tether::pg and tether::sync's waits all stop when it is done). The coroutine waits for f
/// to return, never less: f may use the coroutine's locals by reference. f is called even
/// if ctx is already done (it should then return at once, as any call taking a context
/// does). Go: a blocking call in a goroutine.
///
///   net::thread_pool pool(4);
///   auto user = co_await tether::asio::run_blocking(ctx, pool.get_executor(),
///       [&](const tether::Context& c) { return users.find(c, id); });  // a SQLite query
template <class Executor, class F>
requires std::invocable<F&, const Context&>
auto run_blocking(Context ctx, Executor executor, F f)
    -> boost::asio::awaitable<std::invoke_result_t<F&, const Context&>> {
  namespace net = boost::asio;
  using R = std::invoke_result_t<F&, const Context&>;
  // TRICKY: a named coroutine holds the Context, not a lambda handed to co_spawn. Built with
  // g++ 12, a capturing lambda passed through co_spawn's use_awaitable initiation had its
  // Context released twice (ASan: use-after-free in AsioAwaitable.RunBlocking*); the
  // awaitable passed instead is move-only, and a moved-from one owns nothing.
  co_return co_await net::co_spawn(std::move(executor),
                                   detail::call_blocking<R>(std::move(ctx), std::move(f)),
                                   net::use_awaitable);
}

}  // namespace tether::asio
