// tether/sync/channel.hpp — Channel<T> and select: Go's channels, bounded by a context.
//
// A Channel<T> is a thread-safe FIFO queue between threads, bounded (a capacity ≥ 1) or
// unbounded. send(ctx, v) blocks while the channel is full, recv(ctx) while it is empty;
// both give up with the context's error when the context ends first — Go's
//   select { case ch <- v: ...; case <-ctx.Done(): return ctx.Err() }
// in one call:
//
//   tether::Channel<std::string> results(16);
//   std::jthread producer([&] { (void)results.send(ctx, fetch()); results.close(); });
//   tether::Result<std::string> r = results.recv(ctx);
//   if (!r) return r.error();   // canceled / deadline_exceeded / channel_errc::closed
//
// select(ctx, cases...) waits on several channels (and other contexts) at once and runs
// the handler of exactly one case — the shape of Go's select:
//
//   std::error_code ec = tether::select(ctx,
//       tether::on_recv(data, [&](tether::Result<Item> r) { ... }),
//       tether::on_send(out, item, [&](std::error_code sent) { ... }),
//       tether::on_done(shutdown_ctx, [&] { ... }));
//   if (ec) return ec;          // ctx ended before any case was ready
//
// try_select(cases...) is the same with Go's `default:` — it never blocks.
// Go's `case <-time.After(d):` is a timeout context: select on `with_timeout(ctx, d)`, or
// add `on_done(timer_ctx, ...)` as a case (see docs/concurrency.md).
//
// Differences from Go, decided on purpose:
//   * No unbuffered (capacity 0, rendezvous) channels: a send completes when the value is
//     queued, not when it is received. Capacity 0 throws std::invalid_argument.
//   * send on a closed channel returns channel_errc::closed (Go panics); close() twice is a
//     no-op (Go panics). recv on a closed channel first drains the queued values, then
//     returns channel_errc::closed (Go's `v, ok := <-ch` with ok == false).
//   * When the context is already done, select/send/recv return its error even if a case
//     is ready (Go picks at random): a cancelled loop stops deterministically. Among ready
//     cases, select starts from a rotating position, so no case starves.
//
// Errors: {} or a value on success; ctx.err() (tether::errc) when the context ended first;
// channel_errc::closed; try_* also return std::errc::operation_would_block.
//
// Thread safety: every member of Channel may be called from any number of threads at once.
// A Channel must outlive every call on it (destroying it while a thread waits is undefined).
// Handlers run on the calling thread after every lock is released.
//
// What blocks: send (while full), recv (while empty), select (until a case is ready) — all
// until the context ends. Nothing blocks on background() forever unless the channel never
// becomes ready. No thread is ever created: a wait parks the calling thread only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "tether/context.hpp"
#include "tether/result.hpp"

namespace tether {

/// Errors of channel operations (besides the context's own errors).
enum class channel_errc {
  closed = 1,  ///< the channel is closed (and, for recv, drained)
};

namespace internal {
class ChannelCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tether.channel"; }
  std::string message(int code) const override {
    return code == static_cast<int>(channel_errc::closed) ? "channel closed"
                                                          : "unknown channel error";
  }
};
}  // namespace internal

inline const std::error_category& channel_category() noexcept {
  static const internal::ChannelCategory category;
  return category;
}
inline std::error_code make_error_code(channel_errc e) noexcept {
  return {static_cast<int>(e), channel_category()};
}

}  // namespace tether

template <>
struct std::is_error_code_enum<tether::channel_errc> : std::true_type {};

namespace tether {
namespace internal {

/// One blocked select: woken by any change of a channel it watches, or by a context.
struct SelectSignal {
  std::mutex mu;
  std::condition_variable cv;
  bool notified = false;  // under mu
  // Notifies under the lock: the waiter may destroy *this as soon as it sees `notified`.
  void notify() {
    std::lock_guard<std::mutex> lock(mu);
    notified = true;
    cv.notify_one();
  }
};

/// The non-template part of a channel: its lock and the selects waiting on it.
class ChannelCore {
 public:
  void subscribe(SelectSignal* s) {
    std::lock_guard<std::mutex> lock(mu_);
    waiters_.push_back(s);
  }
  void unsubscribe(SelectSignal* s) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
      if (*it == s) {
        waiters_.erase(it);
        return;
      }
    }
  }

 protected:
  // Any state change can make some waiter's case ready; waiters re-check (no lost wake-up:
  // a select subscribes before it checks, and checks again after every notification).
  void notify_locked() {
    for (SelectSignal* s : waiters_) s->notify();
  }
  mutable std::mutex mu_;
  std::vector<SelectSignal*> waiters_;  // under mu_
};

/// A type-erased select case.
struct CaseRef {
  void* self;
  bool (*try_fire)(void* self);  // takes the value / makes the send if ready
  void (*run)(void* self);       // calls the handler; after try_fire returned true
  void (*subscribe)(void* self, SelectSignal* s);
  void (*unsubscribe)(void* self, SelectSignal* s);
};

template <class C>
CaseRef make_case_ref(C& c) {
  return CaseRef{
      &c,
      [](void* p) { return static_cast<C*>(p)->try_fire(); },
      [](void* p) { static_cast<C*>(p)->run(); },
      [](void* p, SelectSignal* s) { static_cast<C*>(p)->subscribe(s); },
      [](void* p, SelectSignal* s) { static_cast<C*>(p)->unsubscribe(s); },
  };
}

inline std::size_t select_start(std::size_t n) {
  thread_local std::size_t counter = 0;
  return counter++ % n;
}

inline int try_cases(CaseRef* cases, std::size_t n) {
  std::size_t start = select_start(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t k = (start + i) % n;
    if (cases[k].try_fire(cases[k].self)) return static_cast<int>(k);
  }
  return -1;
}

/// The select loop: returns the index of the case that fired (its handler has run), or -1
/// with `ctx`'s error.
inline std::error_code select_cases(const Context& ctx, CaseRef* cases, std::size_t n) {
  if (auto ec = ctx.err()) return ec;
  int fired = try_cases(cases, n);
  if (fired < 0) {
    SelectSignal signal;
    for (std::size_t i = 0; i < n; ++i) cases[i].subscribe(cases[i].self, &signal);
    Registration on_done;  // a never-cancelled context (background) needs no wake-up
    if (!ctx.done().never()) on_done = after_func(ctx, [&signal] { signal.notify(); });
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(signal.mu);
        signal.notified = false;
      }
      if (ctx.err()) break;
      fired = try_cases(cases, n);
      if (fired >= 0) break;
      std::unique_lock<std::mutex> lock(signal.mu);
      signal.cv.wait(lock, [&] { return signal.notified; });
    }
    on_done.stop_and_wait();
    for (std::size_t i = 0; i < n; ++i) cases[i].unsubscribe(cases[i].self, &signal);
    if (fired < 0) return ctx.err();
  }
  cases[fired].run(cases[fired].self);
  return {};
}

}  // namespace internal

template <class T>
class Channel;

/// A select case that receives from a channel; see on_recv.
template <class T, class F>
class RecvCase {
 public:
  RecvCase(Channel<T>& ch, F f) : ch_(&ch), f_(std::move(f)) {}
  bool try_fire() {
    Result<T> r = ch_->try_recv();
    if (!r && r.error() == std::errc::operation_would_block) return false;
    got_.emplace(std::move(r));
    return true;
  }
  void run() { f_(std::move(*got_)); }
  void subscribe(internal::SelectSignal* s) { ch_->subscribe(s); }
  void unsubscribe(internal::SelectSignal* s) { ch_->unsubscribe(s); }

 private:
  Channel<T>* ch_;
  F f_;
  std::optional<Result<T>> got_;
};

/// A select case that sends a value to a channel; see on_send.
template <class T, class F>
class SendCase {
 public:
  SendCase(Channel<T>& ch, T value, F f) : ch_(&ch), value_(std::move(value)), f_(std::move(f)) {}
  bool try_fire() {
    result_ = ch_->try_send_ref(value_);
    return result_ != std::errc::operation_would_block;
  }
  void run() { f_(result_); }
  void subscribe(internal::SelectSignal* s) { ch_->subscribe(s); }
  void unsubscribe(internal::SelectSignal* s) { ch_->unsubscribe(s); }

 private:
  Channel<T>* ch_;
  T value_;
  F f_;
  std::error_code result_;
};

/// A select case that fires when another context is done; see on_done.
template <class F>
class DoneCase {
 public:
  DoneCase(Context ctx, F f) : ctx_(std::move(ctx)), f_(std::move(f)) {}
  bool try_fire() { return static_cast<bool>(ctx_.err()); }
  void run() { f_(); }
  void subscribe(internal::SelectSignal* s) {
    registration_ = after_func(ctx_, [s] { s->notify(); });
  }
  void unsubscribe(internal::SelectSignal*) { registration_.stop_and_wait(); }

 private:
  Context ctx_;
  F f_;
  Registration registration_;
};

/// A thread-safe FIFO channel of T, bounded or unbounded. See the header comment.
template <class T>
class Channel : private internal::ChannelCore {
  static_assert(std::is_move_constructible_v<T>, "Channel<T> needs a movable T");

 public:
  /// The capacity of an unbounded channel.
  static constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();

  /// An unbounded channel: send never blocks.
  Channel() : Channel(unbounded) {}
  /// A channel holding at most `capacity` (≥ 1) values; send blocks while it is full.
  explicit Channel(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw std::invalid_argument("tether::Channel: capacity must be at least 1");
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  /// Queues `value`, blocking while the channel is full. Returns {} once queued,
  /// channel_errc::closed if the channel is (or becomes) closed, or ctx.err() if `ctx` ends
  /// first (the value is then dropped). Go: `ch <- v` in a select with ctx.Done().
  std::error_code send(const Context& ctx, T value) {
    std::error_code result;
    if (auto ec = ctx.err()) return ec;
    result = try_send_ref(value);
    if (result != std::errc::operation_would_block) return result;
    SendCase<T, Assign> c(*this, std::move(value), Assign{&result});
    internal::CaseRef ref = internal::make_case_ref(c);
    if (auto ec = internal::select_cases(ctx, &ref, 1)) return ec;
    return result;
  }

  /// Takes the oldest value, blocking while the channel is empty and open. Returns the value,
  /// channel_errc::closed once the channel is closed and drained, or ctx.err() if `ctx` ends
  /// first. Go: `v, ok := <-ch` in a select with ctx.Done().
  Result<T> recv(const Context& ctx) {
    if (auto ec = ctx.err()) return ec;
    Result<T> r = try_recv();
    if (r || r.error() != std::errc::operation_would_block) return r;
    std::optional<Result<T>> got;
    RecvCase<T, Store> c(*this, Store{&got});
    internal::CaseRef ref = internal::make_case_ref(c);
    if (auto ec = internal::select_cases(ctx, &ref, 1)) return ec;
    return std::move(*got);
  }

  /// Queues `value` if there is room, without blocking. Returns {},
  /// channel_errc::closed, or std::errc::operation_would_block (value not consumed).
  std::error_code try_send(T value) { return try_send_ref(value); }

  /// Takes the oldest value without blocking; channel_errc::closed when closed and drained,
  /// std::errc::operation_would_block when empty and open.
  Result<T> try_recv() {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty()) {
      return closed_ ? make_error_code(channel_errc::closed)
                     : std::make_error_code(std::errc::operation_would_block);
    }
    Result<T> r(std::move(queue_.front()));
    queue_.pop_front();
    notify_locked();
    return r;
  }

  /// Closes the channel: later sends fail with channel_errc::closed; receivers drain the
  /// queued values, then get channel_errc::closed. Wakes every waiter. Idempotent.
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    notify_locked();
  }

  bool closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  /// The number of queued values (a snapshot).
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
  }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  template <class, class>
  friend class RecvCase;
  template <class, class>
  friend class SendCase;

  struct Assign {
    std::error_code* out;
    void operator()(std::error_code ec) const { *out = ec; }
  };
  struct Store {
    std::optional<Result<T>>* out;
    void operator()(Result<T> r) const { out->emplace(std::move(r)); }
  };

  // Moves from `value` only when it is queued.
  std::error_code try_send_ref(T& value) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return make_error_code(channel_errc::closed);
    if (queue_.size() >= capacity_) return std::make_error_code(std::errc::operation_would_block);
    queue_.push_back(std::move(value));
    notify_locked();
    return {};
  }

  const std::size_t capacity_;
  std::deque<T> queue_;  // under mu_
  bool closed_ = false;  // under mu_
};

/// A select case: receive from `ch`, then call `f(Result<T>)` — the value, or
/// channel_errc::closed when the channel is closed and drained.
template <class T, class F>
requires std::invocable<F&, Result<T>> RecvCase<T, F> on_recv(Channel<T>& ch, F f) {
  return RecvCase<T, F>(ch, std::move(f));
}

/// A select case: send `value` to `ch`, then call `f(std::error_code)` — {} when queued,
/// channel_errc::closed when the channel is closed (a closed channel is "ready").
template <class T, class U, class F>
requires std::constructible_from<T, U&&> && std::invocable<F&, std::error_code> SendCase<T, F>
on_send(Channel<T>& ch, U&& value, F f) {
  return SendCase<T, F>(ch, T(std::forward<U>(value)), std::move(f));
}

/// A select case: fires when `ctx` is done, then calls `f()`. Use it for a second context
/// (a timer: `auto [t, c] = with_timeout(ctx, 100ms);`, a shutdown signal...).
template <class F>
requires std::invocable<F&> DoneCase<F> on_done(Context ctx, F f) {
  return DoneCase<F>(std::move(ctx), std::move(f));
}

/// Waits until one case is ready, performs it and runs its handler (exactly one), or
/// returns ctx.err() if `ctx` is done first (no case performed). Returns {} when a case ran.
/// Cases are made with on_recv, on_send and on_done. Go: select.
template <class... Cases>
std::error_code select(const Context& ctx, Cases&&... cases) {
  static_assert(sizeof...(Cases) > 0, "tether::select needs at least one case");
  internal::CaseRef refs[] = {internal::make_case_ref(cases)...};
  return internal::select_cases(ctx, refs, sizeof...(Cases));
}

/// Performs one ready case and runs its handler; returns false at once if none is ready.
/// Go: select with a `default:` branch.
template <class... Cases>
bool try_select(Cases&&... cases) {
  static_assert(sizeof...(Cases) > 0, "tether::try_select needs at least one case");
  internal::CaseRef refs[] = {internal::make_case_ref(cases)...};
  int fired = internal::try_cases(refs, sizeof...(Cases));
  if (fired < 0) return false;
  refs[fired].run(refs[fired].self);
  return true;
}

}  // namespace tether
