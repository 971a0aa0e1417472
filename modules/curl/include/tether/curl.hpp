// tether/curl.hpp — libcurl transfers that stop when their context does.
//
// libcurl is the HTTP client most C++ services already use (HTTPS, HTTP/2, proxies, every
// auth scheme). tether::curl runs an easy handle you configured yourself under a Context,
// the way Go's http.NewRequestWithContext does: the call returns when the transfer
// completes, or within milliseconds of the context ending, with the context's error.
//
//   CURL* easy = curl_easy_init();
//   curl_easy_setopt(easy, CURLOPT_URL, "https://api.example.com/items");
//   auto [ctx, cancel] = tether::with_timeout(parent, 2s);
//   std::string body;
//   std::error_code ec = tether::curl::perform(ctx, easy, {.on_body = [&](std::string_view b) {
//     body.append(b);
//   }});
//   if (ec == tether::errc::deadline_exceeded) ...           // the context ended it
//   else if (ec == tether::curl::make_error_code(CURLE_COULDNT_CONNECT)) ...  // curl's own
//
// How a transfer is stopped: it runs on the multi interface, and the wait for its sockets
// includes the context — perform() passes ctx.done().fd() to curl_multi_poll, Driver wakes
// its loop with curl_multi_wakeup from an after_func. When the context ends first, the
// easy handle is removed from the multi at once; libcurl closes a connection whose
// transfer was cut off (it is never reused), and the call returns ctx.err(). As a second
// line of defence a context with a deadline also sets CURLOPT_TIMEOUT_MS to the time left
// (rounded up, plus 10 ms so that it fires after the context's own timer), so libcurl
// gives up by itself even if nobody were waiting; its CURLE_OPERATION_TIMEDOUT after the
// deadline is reported as deadline_exceeded too. A context that is already done makes no
// connection at all.
//
// Two forms:
//   * perform(ctx, easy): one transfer, on the calling thread (blocking). Each thread keeps
//     one multi handle of its own, so connections are reused across calls on that thread
//     (as curl_easy_perform reuses them across calls on one handle); they are closed when
//     the thread exits.
//   * Driver: any number of transfers on one thread of its own, each under its own
//     context; cancelling one leaves the others running. Driver::start() returns a
//     Transfer to wait() for (threads) or to co_await (coroutines).
//
// What tether touches on your handle, for the duration of the call only:
//   * CURLOPT_NOSIGNAL is set to 1 (required in threaded programs; it stays set);
//   * CURLOPT_TIMEOUT_MS, when ctx has a deadline: set to the time left (+10 ms), then
//     back to 0 (no timeout) afterwards — put a timeout in the context, not on the handle;
//   * CURLOPT_HTTPHEADER, when Options::propagate is set: Options::headers plus
//     `grpc-timeout` and `traceparent`, then back to Options::headers afterwards;
//   * CURLOPT_WRITEFUNCTION / CURLOPT_WRITEDATA, when Options::on_body is set: a trampoline
//     for the transfer, then back to libcurl's defaults (fwrite to stdout).
// CURLOPT_PRIVATE is never touched. After the call the handle is yours again, ready for
// another transfer (curl_easy_reset, new options, another perform).
//
// Errors are std::error_code, one way: the context's own error (tether::errc::canceled or
// deadline_exceeded) when the context ended the transfer, otherwise curl's CURLcode in
// tether::curl::category() (name "curl", message curl_easy_strerror's text; for details
// set CURLOPT_ERRORBUFFER yourself). An exception thrown by Options::on_body aborts the
// transfer and is rethrown by perform() / Transfer::wait() once the handle is released.
// Never let an exception escape a raw libcurl callback of your own: libcurl is C.
//
// Thread safety: an easy handle is used by one transfer at a time and not touched by you
// while it runs. perform() may be called from any number of threads at once (with
// different handles). Driver is thread-safe: start() from any thread. Contexts may be
// cancelled from any thread. Do not call perform() or Transfer::wait() from inside a
// libcurl callback.
//
// What blocks: perform() blocks its thread until the transfer completes or the context
// ends. Transfer::wait() blocks until the transfer has finished; ~Transfer of a transfer
// still running cancels it and waits for the driver to release the handle (one turn of
// the driver's loop). ~Driver cancels what still runs and joins its thread. What libcurl
// does inside one call cannot be interrupted: the context is seen when the call returns.
// The one long such step is loading the CA bundle for a multi handle's first TLS
// connection (tens of ms; cached per multi handle since libcurl 7.87); a Driver's other
// transfers wait for it too. Host names are resolved by libcurl's threaded resolver, which
// a context abandons but cannot interrupt.
//
// curl_global_init: tether calls it once (thread-safely, CURL_GLOBAL_DEFAULT) before its
// first transfer and never calls curl_global_cleanup.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <string_view>
#include <system_error>

#include "tether/context.hpp"

namespace tether::curl {

// ---- errors ----------------------------------------------------------------------------

/// The error category of libcurl's CURLcode: value() is the CURLcode, message() is
/// curl_easy_strerror's text. Its name is "curl".
const std::error_category& category() noexcept;

/// The error category of libcurl's CURLMcode (multi interface failures such as
/// CURLM_OUT_OF_MEMORY, rare). Its name is "curl.multi".
const std::error_category& multi_category() noexcept;

/// A CURLcode as an error_code of category(); CURLE_OK gives an empty error_code.
///   if (ec == tether::curl::make_error_code(CURLE_PEER_FAILED_VERIFICATION)) ...
std::error_code make_error_code(CURLcode code) noexcept;

/// A CURLMcode as an error_code of multi_category(); CURLM_OK gives an empty error_code.
std::error_code make_error_code(CURLMcode code) noexcept;

// ---- one transfer ----------------------------------------------------------------------

/// How a transfer runs; the defaults touch nothing but CURLOPT_NOSIGNAL and (with a
/// deadline) CURLOPT_TIMEOUT_MS.
struct Options {
  /// Send the context's `grpc-timeout` (time left minus deadline_margin, only when ctx has
  /// a deadline) and `traceparent` (a child span of the trace under tether::trace_key, or a
  /// new trace) — the headers and rules of tether::http::Client. Fields of the same name in
  /// `headers` are replaced, so the context stays the one source of truth.
  bool propagate = false;
  /// Subtracted from the time left when sending `grpc-timeout`, so that the server gives
  /// up before the caller does (tether::http::ClientOptions::deadline_margin's default).
  std::chrono::milliseconds deadline_margin{20};
  /// The header list the transfer sends when `propagate` is set (what you would otherwise
  /// pass to CURLOPT_HTTPHEADER; tether cannot read it back from the handle). Not owned;
  /// must outlive the call. CURLOPT_HTTPHEADER is set back to it afterwards. Ignored
  /// without `propagate`.
  const curl_slist* headers = nullptr;
  /// Receives the response body, chunk by chunk, on the thread running the transfer. If it
  /// throws, the transfer is aborted and the exception rethrown to the caller. Empty: the
  /// handle's own CURLOPT_WRITEFUNCTION is used, untouched.
  std::function<void(std::string_view chunk)> on_body;
};

/// Performs `easy` under `ctx` on the calling thread: returns {} when the transfer
/// completes (whatever the HTTP status — read it with CURLINFO_RESPONSE_CODE), the
/// context's error when the context ended first (within milliseconds; the connection is
/// closed), or curl's error (category()). A context already done returns its error at once
/// without connecting. Rethrows an exception thrown by Options::on_body. Blocks.
///
///   auto [ctx, cancel] = tether::with_timeout(parent, 500ms);
///   if (auto ec = tether::curl::perform(ctx, easy)) return ec;
std::error_code perform(const Context& ctx, CURL* easy, Options options = {});

// ---- many transfers on one thread ------------------------------------------------------

class Driver;

namespace internal {
struct TransferState;
struct DriverImpl;
void resume_when_done(const std::shared_ptr<TransferState>& state, std::coroutine_handle<> handle,
                      bool& suspended);
std::error_code take_result(TransferState& state);
}  // namespace internal

/// One transfer started on a Driver: wait for it (threads) or co_await it (coroutines).
///
/// Move-only. Destroying a Transfer that has not finished cancels it (it ends with
/// errc::canceled, the connection is closed) and waits until the driver has released the
/// easy handle — so once a Transfer is gone, the handle is yours again. A
/// default-constructed or moved-from Transfer is empty: ready() is true, wait() returns {}.
///
/// Thread safety: one Transfer is used by one thread (or coroutine) at a time.
class [[nodiscard]] Transfer {
 public:
  Transfer() noexcept = default;
  Transfer(Transfer&&) noexcept = default;
  Transfer& operator=(Transfer&& other) noexcept;
  ~Transfer();

  /// True once the transfer has finished and the driver has released the handle.
  bool ready() const noexcept;
  /// Blocks until the transfer has finished; returns its result as perform() would
  /// ({}, the context's error, or curl's), or rethrows the exception of Options::on_body.
  /// May be called again: it returns (or rethrows) the same.
  std::error_code wait();

  /// `std::error_code ec = co_await transfer;` suspends the coroutine until the transfer
  /// has finished. THE EXECUTOR RULE: the coroutine resumes on the driver's thread (or
  /// does not suspend, if the transfer has already finished). Keep what follows short and
  /// non-blocking, or move to your own executor: never wait() on that driver from there,
  /// and never destroy the Driver from there. Starting more transfers from there is fine.
  /// Destroying a coroutine suspended here destroys the Transfer: the transfer is cancelled
  /// and the coroutine is never resumed. Doing that while the transfer finishes on the
  /// driver thread is a race, as with any awaitable: destroy such frames on the driver
  /// thread (from a coroutine it resumed) or only after they have resumed.
  auto operator co_await() & noexcept { return Awaiter{state_}; }
  auto operator co_await() && noexcept { return Awaiter{state_}; }

  /// Internal: adopts a started transfer.
  explicit Transfer(std::shared_ptr<internal::TransferState> state) noexcept
      : state_(std::move(state)) {}

 private:
  struct Awaiter {
    std::shared_ptr<internal::TransferState> state;
    bool await_ready() const noexcept;
    bool await_suspend(std::coroutine_handle<> handle) {
      bool suspended = false;
      internal::resume_when_done(state, handle, suspended);
      return suspended;
    }
    std::error_code await_resume() {
      return state ? internal::take_result(*state) : std::error_code();
    }
  };
  void abandon() noexcept;
  std::shared_ptr<internal::TransferState> state_;
};

/// Runs any number of transfers on one thread of its own (one libcurl multi handle), each
/// under its own context. Cancelling one transfer's context ends that transfer only.
///
///   tether::curl::Driver driver;
///   std::vector<tether::curl::Transfer> transfers;
///   for (CURL* easy : handles) transfers.push_back(driver.start(ctx, easy));
///   for (auto& t : transfers) if (auto ec = t.wait()) log(ec.message());
///
///   // in a coroutine:
///   std::error_code ec = co_await driver.start(ctx, easy);   // resumes on the driver thread
///
/// Options::on_body callbacks run on the driver thread, one at a time: a slow one delays
/// every transfer of the driver (hand heavy work to another thread).
///
/// Connections are cached by the driver's multi handle and reused across its transfers.
/// A context's end reaches the driver through an after_func that wakes its loop
/// (curl_multi_wakeup), so waiting costs no descriptor per context; the hook is
/// deregistered (stop_and_wait) before the handle is released.
///
/// Thread safety: start() and perform() may be called from any thread, concurrently.
/// Transfers may outlive their Driver: destroying it ends every transfer still running with
/// errc::canceled (and resumes their awaiting coroutines, on the driver thread).
///
/// What blocks: perform() until its transfer finishes; ~Driver while it stops its thread
/// (it cancels, never waits for a transfer to complete). start() never blocks on I/O.
class Driver {
 public:
  Driver();
  /// Ends the transfers still running with errc::canceled and joins the driver thread.
  /// Not from the driver's own thread (a coroutine resumed by it).
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  /// Starts `easy` under `ctx` on the driver's thread and returns at once. The handle
  /// belongs to the transfer until it is ready(); the options are applied on this thread.
  /// A context already done gives a Transfer that is ready at once, with ctx.err(), and
  /// no connection is made.
  Transfer start(const Context& ctx, CURL* easy, Options options = {});

  /// start(ctx, easy, options).wait(): the blocking form for thread code.
  std::error_code perform(const Context& ctx, CURL* easy, Options options = {});

  /// How many transfers are running (started, not yet finished). For tests and metrics.
  std::size_t active() const noexcept;

 private:
  std::shared_ptr<internal::DriverImpl> impl_;
};

}  // namespace tether::curl
