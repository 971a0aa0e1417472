// tether/error.hpp — why a context ended: error codes, causes, and the exception type.
//
// A context that is done reports one of exactly two errors, as in Go:
//
//   tether::errc::canceled           "context canceled"            (Go: context.Canceled)
//   tether::errc::deadline_exceeded  "context deadline exceeded"   (Go: context.DeadlineExceeded)
//
// They are `std::error_code`s of tether's category, and compare equal to the portable
// conditions `std::errc::operation_canceled` and `std::errc::timed_out`, so code that only
// knows the standard library can still test them:
//
//   if (ctx.err() == std::errc::timed_out) { ... }          // true for deadline_exceeded
//
// A *cause* says more than the error: it is what the canceller passed to a
// `with_cancel_cause` canceller or to `with_deadline_cause` — an application error code, a
// message, an exception, or any mix of them. `tether::cause(ctx)` returns it (or, when none
// was given, a cause holding just `ctx.err()`), exactly like Go's `context.Cause`.
//
// gRPC mapping: canceled ↔ CANCELLED (1), deadline_exceeded ↔ DEADLINE_EXCEEDED (4).
//
// Thread safety: all types here are immutable values once built; copies may be used from
// any number of threads.
#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace tether {

/// The two errors a done context can report. Zero is never used: an empty `std::error_code`
/// means "not done".
enum class errc {
  canceled = 1,           ///< the context (or an ancestor) was cancelled
  deadline_exceeded = 2,  ///< the context's deadline passed
};

/// The category of `tether::errc`. Its name is "tether"; messages are Go's strings.
const std::error_category& context_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), context_category()};
}

namespace internal {
struct CauseRep;
struct Access;  // tether's internals' only way into the handles' representation
}  // namespace internal

/// Why a context was cancelled. Cheap to copy (one pointer, shared and immutable).
///
/// A cause may carry an error code, a message and an exception, in any combination:
///
///   Cause{std::errc::connection_reset, "client disconnected"}
///   Cause{"server shutdown"}                       // message only
///   Cause{std::current_exception()}                // message taken from what()
///
/// An empty Cause (default constructed) means "no cause given"; cancelling with it is the
/// same as Go's `cancel(nil)`, and `cause(ctx)` then reports `ctx.err()`.
class Cause {
 public:
  Cause() noexcept = default;
  Cause(std::error_code code, std::string_view message = {});
  template <class E>
  requires std::is_error_code_enum_v<E> Cause(E e, std::string_view message = {})
      : Cause(make_error_code(e), message) {}
  /// From a portable condition such as std::errc::connection_reset: the code is
  /// std::make_error_code(e), in the generic category.
  template <class E>
  requires(std::is_error_condition_enum_v<E> && !std::is_error_code_enum_v<E>)
      Cause(E e, std::string_view message = {})
      : Cause(std::make_error_code(e), message) {}
  /// A message-only cause: code() is empty, message() is `message`.
  explicit Cause(std::string_view message);
  explicit Cause(const char* message) : Cause(std::string_view(message)) {}
  /// An exception cause: message() is the exception's what() when it derives from
  /// std::exception; code() is its code() when it derives from std::system_error.
  explicit Cause(std::exception_ptr exception);

  Cause(const Cause& other) noexcept;
  Cause(Cause&& other) noexcept : rep_(other.rep_) { other.rep_ = nullptr; }
  Cause& operator=(const Cause& other) noexcept;
  Cause& operator=(Cause&& other) noexcept;
  ~Cause();

  /// True unless this is the empty "no cause" value.
  explicit operator bool() const noexcept { return rep_ != nullptr; }
  std::error_code code() const noexcept;
  /// The message given, or the code's message when only a code was given.
  std::string message() const;
  std::exception_ptr exception() const noexcept;
  /// Rethrows the exception if there is one; otherwise throws
  /// std::system_error(code(), message()). Does nothing for an empty cause.
  void rethrow() const;

  /// Compares the code: `cause(ctx) == tether::errc::canceled`.
  friend bool operator==(const Cause& c, std::error_code ec) noexcept { return c.code() == ec; }
  template <class E>
  requires std::is_error_code_enum_v<E> || std::is_error_condition_enum_v<E>
  friend bool operator==(const Cause& c, E e) noexcept { return c.code() == e; }

 private:
  friend struct internal::Access;
  explicit Cause(internal::CauseRep* adopt) noexcept : rep_(adopt) {}
  internal::CauseRep* rep_ = nullptr;
};

/// The exception thrown by `Context::throw_if_done()` and by integrations that report
/// failure by throwing. `code()` is `errc::canceled` or `errc::deadline_exceeded`; `cause()`
/// is the context's cause.
class ContextError : public std::system_error {
 public:
  ContextError(std::error_code code, Cause cause);
  const Cause& cause() const noexcept { return cause_; }

 private:
  Cause cause_;
};

}  // namespace tether

template <>
struct std::is_error_code_enum<tether::errc> : std::true_type {};
