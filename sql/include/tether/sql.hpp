// tether/sql.hpp — the SQL vocabulary shared by tether::sqlite and tether::pg.
//
// Both database modules speak these types, so code that reads rows or tests errors reads
// the same whichever engine answered:
//
//   * Param   a statement parameter (integers, bool, floating point, text, bytes, NULL);
//   * Value   one column value: Null, std::int64_t, double, std::string or Blob;
//   * Row     one result row of Values, read with get<T>(i);
//   * Rows    all the rows of a query, the column names, and the rows a write affected;
//   * Error   why a call failed: {code, message, sqlstate, rolled_back};
//   * Result<T> = tether::Result<T, sql::Error>, what every call returns;
//   * errc    the portable conditions an engine's error codes map to: compare any Error's
//             code with them (`err.code == tether::sql::errc::constraint_violation`) to
//             handle a unique-key violation alike from SQLite and PostgreSQL.
//
//   tether::sql::Result<std::int64_t> count_users(const tether::Context& ctx, auto& db) {
//     auto rows = db.query(ctx, "SELECT count(*) FROM users");   // sqlite or pg Connection
//     if (!rows) return rows.error();
//     return rows->at(0).get<std::int64_t>(0);
//   }
//
// An engine's own codes stay precise (tether::sqlite::errc, the SQLSTATE of
// tether::pg::sqlstate_category()); errc is the coarse, portable layer above them. A
// context that ended is not an engine error: its code is the context's own
// (tether::errc::canceled or deadline_exceeded).
//
// Thread safety: every type here is a plain value (Param is a view of its argument).
// Nothing here blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "tether/result.hpp"

namespace tether::sql {

// ---- errors ----------------------------------------------------------------------------

/// Portable error conditions. Each database module's error category maps its own codes to
/// these (see the table in docs/design.md, "SQL"); a code no condition fits matches none.
enum class errc {
  constraint_violation = 1,  ///< a UNIQUE, FOREIGN KEY, NOT NULL or CHECK constraint failed
  busy,                      ///< a lock or a serialization conflict with another session: retry
  invalid_statement,         ///< the statement is invalid: syntax, unknown table/column, privilege
  invalid_data,     ///< a value does not fit: type mismatch, out of range, division by zero
  read_only,        ///< a write on a read-only database or transaction
  unavailable,      ///< could not open the database / connect to the server
  connection_lost,  ///< the connection broke (or the server shut it down) mid-call
  closed,           ///< the connection or pool is closed (never opened, or discarded)
};
/// The category of errc conditions; its name is "tether.sql".
const std::error_category& category() noexcept;
inline std::error_condition make_error_condition(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// Why a call failed.
struct Error {
  /// The engine's code (sqlite::category(), pg::category(), pg::sqlstate_category()) or,
  /// when the context ended, the context's error (tether::errc). Compare with sql::errc for
  /// a portable test, with the engine's enum for a precise one.
  std::error_code code;
  /// The engine's own message, or for a context error its cause and what was interrupted.
  std::string message;
  /// PostgreSQL: the server's SQLSTATE ("23505") when it sent one. SQLite: empty.
  std::string sqlstate = {};
  /// SQLite: the engine rolled back the enclosing transaction because the statement was
  /// interrupted (the message says so too). PostgreSQL: always false (the server aborts
  /// the transaction; the next statement in it fails with SQLSTATE 25P02).
  bool rolled_back = false;
};

/// Either a value or an Error: what every call returns. Test it like a pointer; see
/// tether/result.hpp.
template <class T>
using Result = tether::Result<T, Error>;

// ---- values ----------------------------------------------------------------------------

/// SQL NULL, as a parameter or a column value.
struct Null {
  friend bool operator==(Null, Null) noexcept { return true; }
};
/// A BLOB / bytea value (owned bytes).
using Blob = std::vector<std::byte>;

/// One column value. SQLite's storage classes map one to one; PostgreSQL's well-known types
/// are converted (bool, int2, int4, int8 and oid to std::int64_t — bool as 0 or 1 —,
/// float4 and float8 to double, bytea to Blob) and every other type (text, varchar,
/// numeric, timestamp, uuid, json, ...) is a std::string in PostgreSQL's text format.
using Value = std::variant<Null, std::int64_t, double, std::string, Blob>;

/// A statement parameter: a view of the argument (it does not own text or blob bytes; the
/// arguments outlive the call). Built implicitly from integers (held as std::int64_t: an
/// unsigned value above INT64_MAX wraps), bool, floating point (held as double),
/// anything convertible to std::string_view (text), Blob or std::span<const std::byte>
/// (blob), Null / nullptr / std::nullopt (NULL), and std::optional<T> of those.
class Param {
 public:
  enum class Kind { null, integer, boolean, real, text, blob };

  Param(Null) noexcept {}                                          // NOLINT: implicit
  Param(std::nullptr_t) noexcept {}                                // NOLINT: implicit
  Param(std::nullopt_t) noexcept {}                                // NOLINT: implicit
  Param(bool b) noexcept : kind_(Kind::boolean), i_(b ? 1 : 0) {}  // NOLINT: implicit
  template <class I>
  requires(std::is_integral_v<I> && !std::is_same_v<I, bool>) Param(I i)
  noexcept : kind_(Kind::integer), i_(static_cast<std::int64_t>(i)) {}  // NOLINT
  template <class F>
  requires std::is_floating_point_v<F> Param(F f)
  noexcept : kind_(Kind::real), d_(static_cast<double>(f)) {}  // NOLINT
  template <class S>
  requires(std::is_convertible_v<const S&, std::string_view> &&
           !std::is_same_v<std::decay_t<S>, std::nullptr_t>) Param(const S& s)
  noexcept : kind_(Kind::text), text_(std::string_view(s)) {}                    // NOLINT
  Param(std::span<const std::byte> b) noexcept : kind_(Kind::blob), blob_(b) {}  // NOLINT
  Param(const Blob& b) noexcept : kind_(Kind::blob), blob_(b) {}                 // NOLINT
  template <class T>
  Param(const std::optional<T>& o) : Param(o ? Param(*o) : Param(Null{})) {}  // NOLINT

  Kind kind() const noexcept { return kind_; }
  /// The value of Kind::integer, and of Kind::boolean as 0 or 1.
  std::int64_t integer() const noexcept { return i_; }
  double real() const noexcept { return d_; }
  std::string_view text() const noexcept { return text_; }
  std::span<const std::byte> blob() const noexcept { return blob_; }

 private:
  Kind kind_ = Kind::null;
  std::int64_t i_ = 0;
  double d_ = 0;
  std::string_view text_;
  std::span<const std::byte> blob_;
};

/// One result row. get<T>(i) reads column i (0-based) as T:
///   * std::int64_t (or any integral type): an integer column; bool: an integer, != 0;
///   * double (or float): a floating-point or integer column;
///   * std::string / std::string_view (a view into the row): a text column;
///   * Blob: a blob column; std::span<const std::byte>: a view of it;
///   * std::optional<T> of the above: std::nullopt for NULL.
/// A NULL read as a non-optional T, or a column holding another kind of value, throws
/// std::invalid_argument (naming the column and what it holds); an index out of range
/// throws std::out_of_range. No conversion between text and numbers is attempted.
class Row {
 public:
  Row() = default;
  explicit Row(std::vector<Value> values) : values_(std::move(values)) {}

  std::size_t size() const noexcept { return values_.size(); }
  /// Column i's value; throws std::out_of_range.
  const Value& at(std::size_t i) const { return values_.at(i); }
  /// True if column i is NULL; throws std::out_of_range.
  bool is_null(std::size_t i) const { return std::holds_alternative<Null>(at(i)); }

  template <class T>
  T get(std::size_t i) const;

  friend bool operator==(const Row&, const Row&) = default;

 private:
  std::vector<Value> values_;
};

/// The rows of a query, fully read, with the column names and the number of rows the
/// statement changed (INSERT, UPDATE, DELETE; 0 for a statement that changes nothing).
class Rows {
 public:
  Rows() = default;
  Rows(std::vector<std::string> columns, std::vector<Row> rows, std::int64_t affected = 0)
      : columns_(std::move(columns)), rows_(std::move(rows)), affected_(affected) {}

  const std::vector<std::string>& columns() const noexcept { return columns_; }
  std::size_t size() const noexcept { return rows_.size(); }
  bool empty() const noexcept { return rows_.empty(); }
  const Row& operator[](std::size_t i) const { return rows_[i]; }
  const Row& at(std::size_t i) const { return rows_.at(i); }
  auto begin() const noexcept { return rows_.begin(); }
  auto end() const noexcept { return rows_.end(); }
  /// Rows changed by the statement; 0 when not applicable.
  std::int64_t affected() const noexcept { return affected_; }

 private:
  std::vector<std::string> columns_;
  std::vector<Row> rows_;
  std::int64_t affected_ = 0;
};

// ---- Row::get ------------------------------------------------------------------------

namespace internal {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
/// Throws std::invalid_argument: column i holds `v`, which is not `wanted`.
[[noreturn]] void bad_column(std::size_t i, const Value& v, const char* wanted);
template <class A>
const A& expect(std::size_t i, const Value& v, const char* wanted) {
  if (const A* a = std::get_if<A>(&v)) return *a;
  bad_column(i, v, wanted);
}
}  // namespace internal

template <class T>
T Row::get(std::size_t i) const {
  const Value& v = at(i);
  if constexpr (internal::is_optional<T>::value) {
    if (std::holds_alternative<Null>(v)) return std::nullopt;
    return get<typename T::value_type>(i);
  } else if constexpr (std::is_same_v<T, bool>) {
    return internal::expect<std::int64_t>(i, v, "a boolean (integer)") != 0;
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(internal::expect<std::int64_t>(i, v, "an integer"));
  } else if constexpr (std::is_floating_point_v<T>) {
    if (const auto* n = std::get_if<std::int64_t>(&v)) return static_cast<T>(*n);
    return static_cast<T>(internal::expect<double>(i, v, "a number"));
  } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) {
    return T(internal::expect<std::string>(i, v, "text"));
  } else if constexpr (std::is_same_v<T, Blob>) {
    return internal::expect<Blob>(i, v, "a blob");
  } else if constexpr (std::is_same_v<T, std::span<const std::byte>>) {
    return T(internal::expect<Blob>(i, v, "a blob"));
  } else {
    static_assert(sizeof(T) == 0, "Row::get<T>: unsupported type");
  }
}

}  // namespace tether::sql

template <>
struct std::is_error_condition_enum<tether::sql::errc> : std::true_type {};
