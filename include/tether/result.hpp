// tether/result.hpp — Result<T>: a value or the std::error_code that prevented it.
//
// C++20 has no std::expected (C++23), so operations that produce a value or fail with an
// error code (Channel<T>::recv, for example) return this small expected-like type:
//
//   tether::Result<int> r = ch.recv(ctx);
//   if (!r) return r.error();        // errc::canceled, channel_errc::closed, ...
//   use(*r);
//
// Exactly one of value and error is present. Thread safety: a value type; like any object,
// not safe to mutate from two threads at once.
#pragma once

#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace tether {

template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<T, std::error_code>,
                "Result<std::error_code> is ambiguous: return the std::error_code itself");

 public:
  /// A successful result.
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  /// A failed result; `error` must not be empty.
  Result(std::error_code error) : error_(error) {}  // NOLINT(google-explicit-constructor)

  bool has_value() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  /// The error; empty when has_value().
  std::error_code error() const noexcept { return error_; }

  /// The value; precondition has_value().
  T& operator*() & noexcept { return *value_; }
  const T& operator*() const& noexcept { return *value_; }
  T&& operator*() && noexcept { return std::move(*value_); }
  T* operator->() noexcept { return &*value_; }
  const T* operator->() const noexcept { return &*value_; }
  /// The value, or throws std::system_error(error()).
  T& value() & {
    if (!value_) throw std::system_error(error_);
    return *value_;
  }
  T&& value() && {
    if (!value_) throw std::system_error(error_);
    return std::move(*value_);
  }
  /// The value, or `fallback` when there is none.
  T value_or(T fallback) const& { return value_ ? *value_ : std::move(fallback); }

 private:
  std::optional<T> value_;
  std::error_code error_;
};

}  // namespace tether
