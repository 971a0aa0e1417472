// tether/sync/stop_token.hpp — std::stop_token interop, both ways.
//
// C++20 already has a cancellation signal: std::stop_source / std::stop_token, understood by
// std::jthread and std::condition_variable_any. This header bridges it to tether contexts:
//
//   * ContextStopSource (and to_stop_token) — a std::stop_token that is requested when a
//     context is done, for code that only knows stop tokens:
//
//       tether::ContextStopSource stop(ctx);
//       cv.wait(lock, stop.get_token(), [&] { return ready; });   // wakes when ctx ends
//
//   * with_stop_token — a context derived from a parent that is ALSO cancelled when a
//     std::stop_token is requested, so std::jthread code can call context-taking functions:
//
//       std::jthread worker([](std::stop_token st) {
//         auto [ctx, cancel] = tether::with_stop_token(tether::background(), st);
//         serve(ctx);                       // ends when the jthread is asked to stop
//       });
//
// Lifetimes (who owns the link):
//   * ContextStopSource owns its link: an after_func registration on the context that
//     requests stop on its std::stop_source. Destroying the ContextStopSource stops the
//     registration (waiting for an in-flight run), so nothing is left registered on a
//     long-lived context. Tokens handed out stay valid after that (std::stop_token shares
//     its state), they just will not be requested any more.
//   * to_stop_token(ctx) gives the link to the context: the registration lives until the
//     context is done (then it requests stop and is freed). Convenient for one-shot use on
//     a request context; do not call it in a loop on a long-lived context — every call
//     adds a registration that lives as long as the context. Use ContextStopSource there.
//   * with_stop_token's canceller owns the std::stop_callback: the context is linked to
//     the token exactly as long as the canceller lives. Destroying the canceller (like any
//     tether canceller) cancels the context and removes the stop_callback.
//
// Never-cancelled contexts (background(), todo(), without_cancel) give a std::stop_token
// with stop_possible() == false, and hold nothing.
//
// Thread safety: every function may be called from any thread. A ContextStopSource may be
// read (get_token, stop_requested) concurrently; destroy it from one thread.
//
// What blocks: nothing, except ~ContextStopSource while its callback is running on another
// thread (a few instructions: request_stop), and ~StopTokenCancel while the stop_callback
// is running on another thread (one cancel()).
#pragma once

#include <memory>
#include <stop_token>
#include <utility>

#include "tether/context.hpp"

namespace tether {

namespace internal {}  // namespace internal

/// A std::stop_source that is requested when a context is done. Owns the link; see the
/// header comment. Move-only.
class ContextStopSource {
 public:
  /// Links a new stop source to `ctx`. If `ctx` is already done, the source is requested
  /// before the constructor returns.
  explicit ContextStopSource(const Context& ctx) : ContextStopSource(ctx.done()) {}
  /// Same, from a Done view (which must stay valid while this constructor runs).
  explicit ContextStopSource(Done done) {
    if (done.never()) {
      source_ = std::stop_source(std::nostopstate);
      return;
    }
    std::stop_source source = source_;
    registration_ =
        internal::register_callback(internal::Access::anchor(done),
                                    new internal::Callback<Request>(Request{std::move(source)}));
  }
  ContextStopSource(ContextStopSource&&) noexcept = default;
  ContextStopSource& operator=(ContextStopSource&& other) noexcept {
    if (this != &other) {
      registration_.stop_and_wait();
      source_ = std::move(other.source_);
      registration_ = std::move(other.registration_);
    }
    return *this;
  }
  ContextStopSource(const ContextStopSource&) = delete;
  ContextStopSource& operator=(const ContextStopSource&) = delete;
  /// Unlinks from the context, waiting if the link is requesting stop on another thread.
  ~ContextStopSource() { registration_.stop_and_wait(); }

  /// A token requested once the context is done (stop_possible() is false for a
  /// never-cancelled context).
  std::stop_token get_token() const noexcept { return source_.get_token(); }
  bool stop_requested() const noexcept { return source_.stop_requested(); }

 private:
  struct Request {
    std::stop_source source;
    void operator()() noexcept { source.request_stop(); }
  };
  std::stop_source source_;
  Registration registration_;
};

/// A std::stop_token requested when `ctx` is done; the link is owned by the context and
/// lives until the context is done (see the header comment before using it in a loop).
inline std::stop_token to_stop_token(const Context& ctx) {
  if (ctx.done().never()) return std::stop_token();
  std::stop_source source;
  std::stop_token token = source.get_token();
  // The returned Registration handle is dropped on purpose: the registration itself lives
  // until its callback runs (as in Go, dropping the handle does not stop it).
  (void)after_func(ctx, [s = std::move(source)]() mutable { s.request_stop(); });
  return token;
}

/// The canceller returned by with_stop_token: a ScopedCancelCause that also owns the
/// std::stop_callback linking the token to the context. Calling it cancels the context;
/// destroying it cancels the context and unlinks the token (waiting if the stop_callback is
/// running on another thread). Move-only.
class [[nodiscard]] StopTokenCancel {
 public:
  StopTokenCancel(StopTokenCancel&&) noexcept = default;
  StopTokenCancel& operator=(StopTokenCancel&&) noexcept = default;
  ~StopTokenCancel() = default;  // link_ first (declared last), then cancel_ cancels
  void operator()(Cause cause = {}) const noexcept { cancel_(std::move(cause)); }
  /// A copyable cancel function for the same context.
  CancelCauseFunc func() const noexcept { return cancel_.func(); }

 private:
  struct OnStop {
    CancelCauseFunc cancel;
    void operator()() const noexcept {
      cancel(Cause(std::make_error_code(std::errc::operation_canceled),
                   "std::stop_token: stop requested"));
    }
  };
  friend Derived<StopTokenCancel> with_stop_token(const Context& parent, std::stop_token token);
  StopTokenCancel(ScopedCancelCause cancel, std::unique_ptr<std::stop_callback<OnStop>> link)
      : cancel_(std::move(cancel)), link_(std::move(link)) {}

  ScopedCancelCause cancel_;
  std::unique_ptr<std::stop_callback<OnStop>> link_;
};

/// A child of `parent` that is also cancelled when `token` is requested, with cause
/// {std::errc::operation_canceled, "std::stop_token: stop requested"} (err() is
/// errc::canceled, as for any cancel). If the token is already requested, the child is
/// done before this returns. A token with stop_possible() == false links nothing.
/// Go has no stop tokens; this is the C++ way in (a std::jthread's token, for instance).
[[nodiscard]] inline Derived<StopTokenCancel> with_stop_token(const Context& parent,
                                                              std::stop_token token) {
  auto [ctx, cancel] = with_cancel_cause(parent);
  std::unique_ptr<std::stop_callback<StopTokenCancel::OnStop>> link;
  if (token.stop_possible()) {
    link = std::make_unique<std::stop_callback<StopTokenCancel::OnStop>>(
        std::move(token), StopTokenCancel::OnStop{cancel.func()});
  }
  return {std::move(ctx), StopTokenCancel(std::move(cancel), std::move(link))};
}

}  // namespace tether
