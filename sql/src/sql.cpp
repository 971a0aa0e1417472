// tether::sql — see sql/include/tether/sql.hpp for the contract.
#include "tether/sql.hpp"

namespace tether::sql {
namespace {

class SqlCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tether.sql"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::constraint_violation:
        return "constraint violation";
      case errc::busy:
        return "busy: a lock or serialization conflict with another session";
      case errc::invalid_statement:
        return "invalid statement";
      case errc::invalid_data:
        return "invalid data";
      case errc::read_only:
        return "read-only database or transaction";
      case errc::unavailable:
        return "database unavailable";
      case errc::connection_lost:
        return "connection lost";
      case errc::closed:
        return "connection closed";
    }
    return "unknown tether.sql condition";
  }
};

const char* holds(const Value& v) noexcept {
  switch (v.index()) {
    case 0:
      return "NULL";
    case 1:
      return "an integer";
    case 2:
      return "a floating-point number";
    case 3:
      return "text";
    default:
      return "a blob";
  }
}

}  // namespace

const std::error_category& category() noexcept {
  static const SqlCategory c;
  return c;
}

namespace internal {
void bad_column(std::size_t i, const Value& v, const char* wanted) {
  std::string what = "tether::sql: column " + std::to_string(i) + " holds " + holds(v);
  if (const auto* s = std::get_if<std::string>(&v))
    what += " (\"" + s->substr(0, 40) + (s->size() > 40 ? "...\")" : "\")");
  throw std::invalid_argument(what + ", not " + wanted);
}
}  // namespace internal

}  // namespace tether::sql
