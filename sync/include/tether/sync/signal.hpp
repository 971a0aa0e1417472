// tether/sync/signal.hpp — signal_context: a context cancelled by a POSIX signal.
//
// Go's signal.NotifyContext. The context is cancelled on the first of the listed signals
// to arrive, with the signal as its cause; a graceful shutdown then starts from one place:
//
//   auto [ctx, stop] = tether::signal_context(tether::background(), {SIGINT, SIGTERM});
//   serve(ctx);                            // returns once SIGINT or SIGTERM arrived
//   stop();                                // a second Ctrl-C now kills the process
//   auto [grace, c] = tether::with_timeout(tether::background(), 5s);
//   drain(grace);
//
// cause(ctx) then holds std::error_code(signo, tether::signal_category()) — compare
// `cause(ctx).code().value() == SIGTERM` — and the message "received signal SIGTERM".
// ctx.err() is errc::canceled, as for any cancel.
//
// The stop handle (`SignalStop`) is like a canceller: calling it — or destroying it —
// unregisters the signals and cancels the context (Go's stop()). Until then, the listed
// signals are captured: a second SIGINT does nothing. Once every signal_context listening
// for a signal has stopped, that signal's previous disposition is restored (normally
// SIG_DFL: the "default effect", e.g. termination) before stop() returns.
//
// Mechanism (signal safety): the installed handler only writes the signal number as one
// byte to a non-blocking pipe (saving errno). A single watcher thread, started with the
// first signal_context and joined when the last one stops, reads the pipe and cancels the
// listening contexts. So callbacks of the context (after_func) run on that watcher thread.
// Signals are process-wide: the handlers replace (and later restore) whatever sigaction
// was installed for those signals; do not mix with other code that calls sigaction for the
// same signals while a signal_context is active. Signal numbers must be in 1..255 and be
// catchable (not SIGKILL/SIGSTOP): otherwise std::invalid_argument is thrown.
//
// Thread safety: signal_context and the stop handles may be used from any thread,
// including from callbacks running on the watcher thread.
//
// What blocks: stop() joins the watcher thread when it is the last stop (briefly: the
// watcher only cancels contexts); called on the watcher thread itself, it does not wait.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <system_error>

#include "tether/context.hpp"

namespace tether {

/// The category of signal causes: value() is the signal number, message() its name
/// ("SIGTERM").
const std::error_category& signal_category() noexcept;

/// The stop handle of signal_context. Move-only; calling it or destroying it unregisters
/// the signals and cancels the context. Idempotent; callable from any thread.
class [[nodiscard]] SignalStop {
 public:
  SignalStop(SignalStop&& o) noexcept : id_(o.id_), cancel_(std::move(o.cancel_)) { o.id_ = 0; }
  SignalStop& operator=(SignalStop&& o) noexcept;
  SignalStop(const SignalStop&) = delete;
  SignalStop& operator=(const SignalStop&) = delete;
  ~SignalStop() { (*this)(); }
  /// Unregisters the signals (restoring their previous dispositions if no other
  /// signal_context listens to them) and cancels the context.
  void operator()() noexcept;

  SignalStop(std::uint64_t id, CancelCauseFunc cancel) noexcept
      : id_(id), cancel_(std::move(cancel)) {}

 private:
  std::uint64_t id_;  // 0 once stopped or moved from
  CancelCauseFunc cancel_;
};

/// A child of `parent` cancelled on the first of `signals` to arrive (cause: the signal),
/// when the stop handle is called or destroyed, or when `parent` is done.
/// Go: signal.NotifyContext(parent, signals...).
[[nodiscard]] Derived<SignalStop> signal_context(const Context& parent,
                                                 std::initializer_list<int> signals);

}  // namespace tether
