// tether/context.hpp — Go's context.Context for C++20.
//
// A Context carries a cancellation signal, a deadline and request-scoped values across API
// boundaries and threads. Pass it as the first parameter of every function that may block:
//
//   std::error_code fetch(const tether::Context& ctx, std::string_view id);
//
//   auto [ctx, cancel] = tether::with_timeout(parent, 2s);   // cancel is RAII
//   if (auto ec = fetch(ctx, "42")) log("fetch: {}", ec.message());
//   // leaving the scope destroys `cancel`, which cancels ctx: Go's `defer cancel()`.
//
// Contexts form a tree. Cancelling a context cancels every context derived from it;
// a derived context never outlives the cancellation of its parent. The roots are
// background() (and todo(), its twin for "not decided yet"); they are never cancelled.
//
// Semantics are Go's, exactly (see docs/go-to-cpp.md for the mapping table):
//   * err() is empty until the context is done, then errc::canceled or
//     errc::deadline_exceeded, and never changes again. The first cancel wins.
//   * Cancelling is synchronous: when a canceller returns, the context and every
//     descendant report err() and their done() is ready.
//   * Deriving from a context that is already done gives a context that is already done,
//     with the parent's err and cause.
//   * A deadline later than the parent's is ignored (deadline() reports the parent's, and
//     no timer is armed); a deadline in the past is exceeded at once.
//
// Beyond Go: a derived context whose every handle (Context copies, cancellers, pending
// after_func registrations) is gone unregisters from its parent and disarms its timer, so a
// forgotten cancel leaks nothing; and all deadlines share one timer thread.
//
// Thread safety: a Context is an immutable value; copies may be used, compared and
// destroyed concurrently from any number of threads. Cancellers may be invoked from any
// thread, any number of times, concurrently.
//
// What blocks: only Done::wait*() (by design) and, for at most the time it takes to
// cancel a subtree and run its after_func callbacks, a canceller. Nothing here waits for
// the work a context governs to stop: a canceller signals, it does not join.
#pragma once

#include <chrono>
#include <concepts>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "tether/error.hpp"
#include "tether/internal/node.hpp"

namespace tether {

/// The clock of deadlines. Tests substitute time with tether::testing::ManualClock, which
/// moves every deadline computation (with_timeout, remaining time) onto manual time.
using Clock = std::chrono::steady_clock;

/// The current time as tether sees it: Clock::now(), or the installed ManualClock's time.
Clock::time_point now() noexcept;

/// A typed key for with_value / Context::value. Its identity is its address: declare each
/// key once, as a namespace-scope (inline) constant, and two libraries can never collide.
///
///   inline const tether::Key<std::string> request_id{"request_id"};
///   auto ctx2 = tether::with_value(ctx, request_id, std::string("r-42"));
///   if (const std::string* id = ctx2.value(request_id)) log(*id);
///
/// A lookup with a Key<T> can only ever find a T: there is no cast that can fail.
/// The name is used by describe() only.
template <class T>
class Key {
 public:
  constexpr explicit Key(const char* name) noexcept : name_(name) {}
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
  constexpr const char* name() const noexcept { return name_; }

 private:
  const char* name_;
};

/// A waitable view of "this context is done", like Go's `<-ctx.Done()`.
///
/// A Done is a view: it is valid while the Context it came from (or any copy of it) is
/// alive, like std::string_view. All members are const and thread-safe.
///
/// Nothing is allocated until someone waits: wait*() park on the context's own state word;
/// fd() creates its eventfd on first use.
class Done {
 public:
  /// True once the context is done. One atomic load; never blocks.
  bool ready() const noexcept {
    return internal::is_done(anchor_->state.load(std::memory_order_acquire));
  }
  /// True for contexts that can never be done: background(), todo(), without_cancel() and
  /// their value children. Go: `ctx.Done() == nil`. Lets code skip setting up a wait.
  bool never() const noexcept { return anchor_->kind == internal::Kind::kNever; }
  /// Blocks until the context is done. On background() this blocks forever.
  void wait() const;
  /// Blocks until the context is done or `timeout` of real time has passed; returns
  /// ready(). Measures real time (std::chrono::steady_clock), even under a ManualClock.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    if (ready()) return true;
    if (timeout <= timeout.zero()) return false;
    return wait_until_ns(saturating_deadline(timeout));
  }
  /// Blocks until the context is done or `deadline` (real time) has passed; returns ready().
  template <class C, class D>
  bool wait_until(std::chrono::time_point<C, D> deadline) const {
    return wait_for(deadline - C::now());
  }
  /// A file descriptor that becomes readable (POLLIN) once the context is done, for poll,
  /// epoll or an Asio posix::stream_descriptor. Created on the first call (an eventfd);
  /// owned by the context: do not close it, and do not use it after the context is gone.
  /// Never-done contexts (background, without_cancel) share one descriptor that never
  /// becomes readable. Throws std::system_error if the descriptor cannot be created.
  int fd() const;

 private:
  friend class Context;
  friend struct internal::Access;
  explicit Done(internal::CancelNode* anchor) noexcept : anchor_(anchor) {}

  template <class Rep, class Period>
  static internal::Nanos saturating_deadline(std::chrono::duration<Rep, Period> d) {
    return internal::add_duration(internal::steady_now_ns(), d);
  }
  bool wait_until_ns(internal::Nanos steady_deadline) const;
  internal::CancelNode* anchor_;
};

/// The context handle: a cheap, copyable, never-null reference to a node of the context
/// tree. A default-constructed Context is background(); so is a moved-from one.
///
/// Copying costs one relaxed atomic increment (none for background/todo); err(), done(),
/// deadline() and value() never lock and never allocate.
class Context {
 public:
  Context() noexcept : node_(&internal::background_node) {}
  Context(const Context& other) noexcept : node_(other.node_) { internal::retain(node_); }
  Context(Context&& other) noexcept : node_(other.node_) {
    other.node_ = &internal::background_node;
  }
  Context& operator=(const Context& other) noexcept {
    internal::retain(other.node_);
    internal::release(std::exchange(node_, other.node_));
    return *this;
  }
  Context& operator=(Context&& other) noexcept {
    if (this != &other)
      internal::release(
          std::exchange(node_, std::exchange(other.node_, &internal::background_node)));
    return *this;
  }
  ~Context() { internal::release(node_); }

  /// Empty until the context is done; then errc::canceled or errc::deadline_exceeded,
  /// forever. One atomic (acquire) load. Go: ctx.Err().
  std::error_code err() const noexcept {
    auto code = internal::code_of(node_->anchor->state.load(std::memory_order_acquire));
    return code != 0 ? std::error_code(static_cast<int>(code), internal::kContextCategory)
                     : std::error_code();
  }
  /// A waitable view of done-ness. Go: ctx.Done(). See Done.
  Done done() const noexcept { return Done(node_->anchor); }
  /// The time at which this context will be cancelled with deadline_exceeded, if any.
  /// Go: ctx.Deadline().
  std::optional<Clock::time_point> deadline() const noexcept {
    internal::Nanos d = node_->anchor->deadline;
    if (d == internal::kNoDeadline) return std::nullopt;
    return Clock::time_point(std::chrono::nanoseconds(d));
  }
  /// The newest value stored under `key` in this context or an ancestor; nullptr if none.
  /// The pointer stays valid while this Context (or a copy) is alive. Go: ctx.Value(key).
  template <class T>
  const T* value(const Key<T>& key) const noexcept {
    return static_cast<const T*>(internal::find_value(node_->values, &key));
  }
  /// Go's String(): "context.Background.WithCancel.WithValue(request_id, r-42)".
  std::string describe() const;
  /// Throws ContextError(err(), cause) if the context is done; otherwise does nothing.
  void throw_if_done() const;

  /// Two handles are equal when they refer to the same context.
  friend bool operator==(const Context& a, const Context& b) noexcept { return a.node_ == b.node_; }

 private:
  friend struct internal::Access;
  explicit Context(internal::Node* adopt) noexcept : node_(adopt) {}

  internal::Node* node_;
};

/// The root of every context tree: never cancelled, no deadline, no values. Static; costs
/// nothing to copy. Go: context.Background().
inline Context background() noexcept { return Context(); }
/// Like background(), for code that has not yet decided which context to use.
/// Go: context.TODO().
inline Context todo() noexcept;

/// A copyable, shareable cancel function. Go: context.CancelFunc.
///
/// Calling it cancels its context with errc::canceled (and cause errc::canceled) unless the
/// context is already done. It does not wait for the work to stop. It may be called from
/// any thread, concurrently, any number of times; after the first call the others do
/// nothing. It keeps its context's node alive. A default-constructed CancelFunc does
/// nothing.
class CancelFunc {
 public:
  CancelFunc() noexcept = default;
  CancelFunc(const CancelFunc& o) noexcept : node_(o.node_) {
    if (node_) internal::retain(node_);
  }
  CancelFunc(CancelFunc&& o) noexcept : node_(std::exchange(o.node_, nullptr)) {}
  CancelFunc& operator=(CancelFunc o) noexcept {
    std::swap(node_, o.node_);
    return *this;
  }
  ~CancelFunc() {
    if (node_) internal::release(node_);
  }
  void operator()() const noexcept;
  explicit operator bool() const noexcept { return node_ != nullptr; }

 protected:
  friend struct internal::Access;
  explicit CancelFunc(internal::CancelNode* adopt) noexcept : node_(adopt) {}
  internal::CancelNode* node_ = nullptr;
};

/// A copyable cancel function that records a cause. Go: context.CancelCauseFunc.
/// `cancel(cause)`; `cancel()` or an empty Cause means "no cause" (cause(ctx) == err()).
class CancelCauseFunc : private CancelFunc {
 public:
  CancelCauseFunc() noexcept = default;
  using CancelFunc::operator bool;
  void operator()(Cause cause = {}) const noexcept;

 private:
  friend struct internal::Access;
  explicit CancelCauseFunc(internal::CancelNode* adopt) noexcept : CancelFunc(adopt) {}
};

/// The RAII canceller returned by with_cancel / with_deadline / with_timeout.
///
/// Move-only. Calling it cancels (like CancelFunc). DESTROYING IT CANCELS: the scope that
/// derived a context bounds it, which is Go's `defer cancel()` without the forgetting.
/// func() hands out a copyable CancelFunc (for another thread or a callback);
/// release() returns that CancelFunc and disarms the destructor, for a context that must
/// outlive this scope.
class [[nodiscard]] ScopedCancel {
 public:
  ScopedCancel(ScopedCancel&& o) noexcept : f_(std::move(o.f_)) {}
  ScopedCancel& operator=(ScopedCancel&& o) noexcept {
    if (this != &o) {
      f_();
      f_ = std::move(o.f_);
    }
    return *this;
  }
  ~ScopedCancel() { f_(); }
  void operator()() const noexcept { f_(); }
  /// A copyable cancel function for the same context; this canceller stays armed.
  CancelFunc func() const noexcept { return f_; }
  /// Disarms this canceller and hands its cancel function to the caller.
  [[nodiscard]] CancelFunc release() noexcept { return std::move(f_); }

  explicit ScopedCancel(CancelFunc f) noexcept : f_(std::move(f)) {}

 private:
  CancelFunc f_;
};

/// The RAII canceller returned by the *_cause derivations: like ScopedCancel, and
/// `cancel(cause)` records why. Destruction cancels with no cause.
class [[nodiscard]] ScopedCancelCause {
 public:
  ScopedCancelCause(ScopedCancelCause&& o) noexcept : f_(std::move(o.f_)) {}
  ScopedCancelCause& operator=(ScopedCancelCause&& o) noexcept {
    if (this != &o) {
      f_();
      f_ = std::move(o.f_);
    }
    return *this;
  }
  ~ScopedCancelCause() { f_(); }
  void operator()(Cause cause = {}) const noexcept { f_(std::move(cause)); }
  CancelCauseFunc func() const noexcept { return f_; }
  [[nodiscard]] CancelCauseFunc release() noexcept { return std::move(f_); }

  explicit ScopedCancelCause(CancelCauseFunc f) noexcept : f_(std::move(f)) {}

 private:
  CancelCauseFunc f_;
};

/// What every cancellable derivation returns, for structured bindings:
///   auto [ctx, cancel] = tether::with_cancel(parent);
template <class Cancel>
struct [[nodiscard]] Derived {
  Context ctx;
  Cancel cancel;
};

/// A child of `parent` that is cancelled when `cancel` is called (or destroyed) or when
/// `parent` is done. Go: context.WithCancel.
[[nodiscard]] Derived<ScopedCancel> with_cancel(const Context& parent);
/// Like with_cancel; `cancel(cause)` records a cause for tether::cause().
/// Go: context.WithCancelCause.
[[nodiscard]] Derived<ScopedCancelCause> with_cancel_cause(const Context& parent);

/// A child that is done with errc::deadline_exceeded at `deadline` (on tether::now()'s
/// clock), or canceled earlier. Go: context.WithDeadline.
///   * deadline at or before now → done at once with deadline_exceeded;
///   * parent's deadline strictly earlier → a plain with_cancel child (no timer; Go's
///     `cur.Before(d)` rule — an equal deadline arms its own timer);
///   * Clock::time_point::max() → no deadline at all (a plain with_cancel child).
[[nodiscard]] Derived<ScopedCancel> with_deadline(const Context& parent,
                                                  Clock::time_point deadline);
/// Like with_deadline; when the deadline passes, cause(ctx) is `cause` (err() is still
/// deadline_exceeded). Go: context.WithDeadlineCause.
[[nodiscard]] Derived<ScopedCancel> with_deadline_cause(const Context& parent,
                                                        Clock::time_point deadline, Cause cause);
/// with_cancel_cause and with_deadline in one context: done with errc::deadline_exceeded
/// at `deadline` (the with_deadline rules above, Clock::time_point::max() for none), or
/// earlier by `cancel(cause)`, which records the cause as with_cancel_cause does. What
///   auto [outer, cancel] = with_cancel_cause(parent);
///   auto [ctx, stop] = with_deadline(outer, deadline);
/// gives through ctx, in one node instead of two: one allocation, one step less when it
/// is cancelled (a server call's context, made per request, is built this way).
/// Go: WithDeadline over WithCancelCause.
[[nodiscard]] Derived<ScopedCancelCause> with_deadline_cancel_cause(const Context& parent,
                                                                    Clock::time_point deadline);
/// with_deadline(parent, now() + timeout). Zero or negative → done at once with
/// deadline_exceeded; a timeout so large that now() + timeout overflows → no deadline.
/// Go: context.WithTimeout.
template <class Rep, class Period>
[[nodiscard]] Derived<ScopedCancel> with_timeout(const Context& parent,
                                                 std::chrono::duration<Rep, Period> timeout);
/// with_deadline_cause(parent, now() + timeout, cause). Go: context.WithTimeoutCause.
template <class Rep, class Period>
[[nodiscard]] Derived<ScopedCancel> with_timeout_cause(const Context& parent,
                                                       std::chrono::duration<Rep, Period> timeout,
                                                       Cause cause);

/// A child carrying `value` under `key`; it shadows any value of the same key above it.
/// Cancellation, deadline and done-ness are the parent's. `value` is moved into the
/// context's own node (one allocation for node and value). Go: context.WithValue.
/// Use values for request-scoped data that crosses API boundaries (trace ids, auth), not
/// for optional parameters.
template <class T, class U = T>
requires std::constructible_from<T, U&&> && std::destructible<T>
[[nodiscard]] Context with_value(const Context& parent, const Key<T>& key, U&& value);

/// A child that keeps the parent's values but is never cancelled and has no deadline,
/// even when the parent is. For work that must finish after the request that started it
/// (an audit write, a cache fill). Go: context.WithoutCancel.
[[nodiscard]] Context without_cancel(const Context& parent);

/// Why `ctx` is done: the cause given to its canceller or to with_deadline_cause, or one
/// inherited from the ancestor whose cancellation reached it; when none was given, a cause
/// holding ctx.err(). Empty while ctx is not done. Go: context.Cause.
Cause cause(const Context& ctx);

namespace internal {
/// The type-erased part of an after_func registration; see context.cpp.
/// Its Link base is its membership in anchor->children (under the anchor's lock).
struct CallbackBase : Link {
  std::atomic<std::uint32_t> refs{0};    // list membership + Registration handles
  std::atomic<std::uint32_t> phase{0};   // kPending, kRunning, kFinished, kStopped
  CancelNode* anchor = nullptr;          // strong (unless the never-cancelled anchor)
  std::atomic<std::uint64_t> runner{0};  // pthread_self() of the thread running it
  virtual void run() noexcept = 0;
  virtual ~CallbackBase() = default;
  // A registration small enough takes a block of the per-thread node cache (context.cpp):
  // one registered and stopped on the same thread costs no malloc. Over-aligned ones take
  // the heap.
  static void* operator new(std::size_t size);
  static void operator delete(void* p, std::size_t size) noexcept;
  static void* operator new(std::size_t size, std::align_val_t align) {
    return ::operator new(size, align);
  }
  static void operator delete(void* p, std::size_t, std::align_val_t align) noexcept {
    ::operator delete(p, align);
  }
};
template <class F>
struct Callback final : CallbackBase {
  explicit Callback(F&& f) : fn(std::move(f)) {}
  explicit Callback(const F& f) : fn(f) {}
  void run() noexcept override;
  F fn;
};
[[noreturn]] void callback_threw(std::exception_ptr e) noexcept;
}  // namespace internal

/// The handle of an after_func registration. Copyable; the registration itself lives until
/// its callback has run or been stopped, whether or not any handle remains (as in Go,
/// dropping the handle does not stop the callback).
class Registration {
 public:
  Registration() noexcept = default;
  Registration(const Registration& o) noexcept;
  Registration(Registration&& o) noexcept : rep_(std::exchange(o.rep_, nullptr)) {}
  Registration& operator=(Registration o) noexcept {
    std::swap(rep_, o.rep_);
    return *this;
  }
  ~Registration();

  /// Stops the association of the context with the callback. Returns true if this call
  /// prevented the callback from running; false if it has already started (or finished),
  /// or was already stopped. Does not wait for a running callback. Go: the stop func.
  bool stop() const noexcept;
  /// Like stop(), and if the callback is running on another thread, waits until it
  /// returns. Use it before destroying anything the callback touches. On the thread that
  /// runs the callback (from inside it, or from another callback of the same cancellation)
  /// it does not wait.
  bool stop_and_wait() const noexcept;

 private:
  friend struct internal::Access;
  explicit Registration(internal::CallbackBase* adopt) noexcept : rep_(adopt) {}
  internal::CallbackBase* rep_ = nullptr;
};

namespace internal {
/// The one door from tether's own code (core, modules, white-box tests) into the
/// representation of the public handles. Not API: their constructors from nodes and their
/// node accessors are private, so user code cannot forge or take apart a handle.
struct Access {
  static Node* node(const Context& c) noexcept { return c.node_; }
  /// Adopts one reference to `n`.
  static Context context(Node* n) noexcept { return Context(n); }
  static CancelNode* anchor(const Done& d) noexcept { return d.anchor_; }
  /// Adopts one reference to `n`.
  static CancelFunc cancel_func(CancelNode* n) noexcept { return CancelFunc(n); }
  /// Adopts one reference to `n`.
  static CancelCauseFunc cancel_cause_func(CancelNode* n) noexcept { return CancelCauseFunc(n); }
  /// Takes `f`'s reference to its node (f is empty after).
  static CancelNode* release(CancelFunc& f) noexcept { return std::exchange(f.node_, nullptr); }
  static CauseRep* rep(const Cause& c) noexcept { return c.rep_; }
  /// Adopts one reference to `r`.
  static Cause cause(CauseRep* r) noexcept { return Cause(r); }
  /// Adopts `cb`.
  static Registration registration(CallbackBase* cb) noexcept { return Registration(cb); }
};

/// Registers `cb` (adopting it) to run when `anchor` is done; runs it at once, on this
/// thread, if it already is. Integrations use the anchor form with Done views.
Registration register_callback(CancelNode* anchor, CallbackBase* cb);
inline Registration register_callback(const Context& ctx, CallbackBase* cb) {
  return register_callback(Access::node(ctx)->anchor, cb);
}
}  // namespace internal

inline Context todo() noexcept { return internal::Access::context(&internal::todo_node); }

/// Arranges for `f()` to run once, after `ctx` is done. Go: context.AfterFunc.
///
/// `f` runs on the thread that cancels the context (after the whole subtree is cancelled
/// and no lock is held), on the timer thread when a deadline passes, or — if `ctx` is
/// already done — at once, on the calling thread, before after_func returns. Keep it short:
/// hand long work to another thread. A callback on a never-cancelled context (background,
/// without_cancel) never runs and holds nothing.
///
/// Until it runs or is stopped, a registration keeps `ctx` alive (its node, its deadline
/// timer, its place under its parent), whether or not the returned Registration is kept —
/// as Go's AfterFunc does. On a context that may never be cancelled, call `stop()` once the
/// callback is no longer wanted.
///
/// If `f` throws, tether prints the exception to stderr and calls std::terminate(), as
/// std::stop_callback does: a callback has no caller to report to.
template <class F>
requires std::invocable < std::decay_t<F>
& > Registration after_func(const Context& ctx, F&& f) {
  auto* cb = new internal::Callback<std::decay_t<F>>(std::forward<F>(f));
  return internal::register_callback(ctx, cb);
}

// ---- implementation of the templates above -------------------------------------------

namespace internal {
/// `known_future`: the caller read the clock and found `deadline` later (with_timeout of
/// a positive timeout), so make_deadline need not read it again.
Derived<ScopedCancel> make_deadline(const Context& parent, Nanos deadline, Cause cause,
                                    bool known_future = false);
template <class Rep, class Period>
Nanos timeout_to_deadline(std::chrono::duration<Rep, Period> timeout) noexcept {
  Nanos now = now_ns();
  if (timeout <= timeout.zero()) {  // already exceeded: now + timeout, floored at the epoch
    double ns = std::chrono::duration<double, std::nano>(timeout).count();
    if (ns <= -static_cast<double>(now)) return 0;
    return now + std::chrono::floor<std::chrono::nanoseconds>(timeout).count();
  }
  return add_duration(now, timeout);
}

Node* make_value_node(Node* parent, const void* key, const char* key_name, const ValueOps* ops,
                      std::size_t size, std::size_t align, void (*construct)(void*, void*),
                      void* arg);
std::string describe_value_typename(const std::type_info& type);

template <class T>
std::string describe_value(const void* p) {
  const T& v = *static_cast<const T*>(p);
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return std::string(std::string_view(v));
  } else if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_arithmetic_v<T>) {
    return std::to_string(v);
  } else if constexpr (requires {
                         { v.describe() } -> std::convertible_to<std::string>;
                       }) {
    return v.describe();
  } else {
    return describe_value_typename(typeid(T));
  }
}

template <class T>
inline constexpr ValueOps value_ops{
    alignof(T),
    [](void* p) noexcept { static_cast<T*>(p)->~T(); },
    &describe_value<T>,
};

template <class F>
void Callback<F>::run() noexcept {
  try {
    fn();
  } catch (...) {
    callback_threw(std::current_exception());
  }
}
}  // namespace internal

template <class Rep, class Period>
Derived<ScopedCancel> with_timeout(const Context& parent,
                                   std::chrono::duration<Rep, Period> timeout) {
  return internal::make_deadline(parent, internal::timeout_to_deadline(timeout), Cause(),
                                 timeout > timeout.zero());
}

template <class Rep, class Period>
Derived<ScopedCancel> with_timeout_cause(const Context& parent,
                                         std::chrono::duration<Rep, Period> timeout, Cause cause) {
  return internal::make_deadline(parent, internal::timeout_to_deadline(timeout), std::move(cause),
                                 timeout > timeout.zero());
}

template <class T, class U>
requires std::constructible_from<T, U&&> && std::destructible<T> Context
with_value(const Context& parent, const Key<T>& key, U&& value) {
  auto construct = [](void* where, void* arg) {
    ::new (where) T(std::forward<U>(*static_cast<std::remove_reference_t<U>*>(arg)));
  };
  return internal::Access::context(internal::make_value_node(
      internal::Access::node(parent), &key, key.name(), &internal::value_ops<T>, sizeof(T),
      alignof(T), construct, const_cast<void*>(static_cast<const void*>(std::addressof(value)))));
}

}  // namespace tether
