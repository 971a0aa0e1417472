// tether/result.hpp — Result<T, E>: a value, or the error that prevented it.
//
// C++20 has no std::expected (C++23), so operations that produce a value or fail return
// this small expected-like type. Two flavours share the name:
//
//   tether::Result<T>      the error is a std::error_code (Channel<T>::recv, for example):
//     tether::Result<int> r = ch.recv(ctx);
//     if (!r) return r.error();        // errc::canceled, channel_errc::closed, ...
//     use(*r);
//
//   tether::Result<T, E>   the error is a richer struct with at least `std::error_code code`
//                          and `std::string message` members (the SQL modules' Error, which
//                          also carries a SQLSTATE or whether a transaction rolled back):
//     auto rows = db.query(ctx, "SELECT 1");   // tether::sqlite::Result<Rows>
//     if (!rows) return rows.error().code;
//     use(*rows);
//
// Exactly one of value and error is present. Thread safety: a value type; like any object,
// not safe to mutate from two threads at once.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace tether {

/// A value of type T, or an error E (a struct with `code` and `message` members).
template <class T, class E = std::error_code>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  Result(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

  bool ok() const noexcept { return v_.index() == 0; }
  bool has_value() const noexcept { return ok(); }
  explicit operator bool() const noexcept { return ok(); }
  /// The value; throws std::system_error(error().code, error().message) if there is none.
  T& value() & {
    check();
    return std::get<0>(v_);
  }
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  /// The error; throws std::logic_error if the result holds a value.
  const E& error() const {
    if (ok()) throw std::logic_error("tether::Result::error() on a value");
    return std::get<1>(v_);
  }

 private:
  void check() const {
    if (!ok()) throw std::system_error(std::get<1>(v_).code, std::get<1>(v_).message);
  }
  std::variant<T, E> v_;
};

/// Success, or an error E: for calls that return nothing else.
template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(E error) : error_(std::move(error)) {}  // NOLINT: implicit

  bool ok() const noexcept { return !error_.has_value(); }
  bool has_value() const noexcept { return ok(); }
  explicit operator bool() const noexcept { return ok(); }
  /// Throws std::system_error(error().code, error().message) if this holds an error.
  void value() const {
    if (error_) throw std::system_error(error_->code, error_->message);
  }
  /// The error; throws std::logic_error on success.
  const E& error() const {
    if (!error_) throw std::logic_error("tether::Result::error() on success");
    return *error_;
  }

 private:
  std::optional<E> error_;
};

/// A value of type T, or the std::error_code that prevented it.
template <class T>
class [[nodiscard]] Result<T, std::error_code> {
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
