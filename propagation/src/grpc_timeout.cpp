// The grpc-timeout grammar: TimeoutValue TimeoutUnit, where TimeoutValue is 1–8 ASCII digits
// and TimeoutUnit one of H M S m u n (gRPC over HTTP/2 protocol spec, "Requests").
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tether/propagation.hpp"

namespace tether {
namespace {

constexpr std::uint32_t kMaxAmount = 99'999'999;  // 8 digits

// Nanoseconds per unit; 0 for a character that is not a unit.
constexpr std::int64_t unit_nanos(char unit) noexcept {
  switch (unit) {
    case 'H':
      return 3'600'000'000'000;
    case 'M':
      return 60'000'000'000;
    case 'S':
      return 1'000'000'000;
    case 'm':
      return 1'000'000;
    case 'u':
      return 1'000;
    case 'n':
      return 1;
    default:
      return 0;
  }
}

}  // namespace

std::chrono::nanoseconds GrpcTimeout::duration() const noexcept {
  const std::int64_t per = unit_nanos(unit);
  if (per == 0) return std::chrono::nanoseconds::zero();
  if (amount > static_cast<std::uint64_t>(std::chrono::nanoseconds::max().count() / per))
    return std::chrono::nanoseconds::max();
  return std::chrono::nanoseconds(static_cast<std::int64_t>(amount) * per);
}

std::optional<GrpcTimeout> parse_grpc_timeout(std::string_view value) noexcept {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  const char unit = value.back();
  if (unit_nanos(unit) == 0) return std::nullopt;
  std::uint32_t amount = 0;
  for (char c : value.substr(0, value.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    amount = amount * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return GrpcTimeout{amount, unit};
}

std::string format_grpc_timeout(const GrpcTimeout& timeout) {
  std::string out = std::to_string(timeout.amount);
  out.push_back(timeout.unit);
  return out;
}

std::string format_grpc_timeout(std::chrono::nanoseconds timeout) {
  if (timeout <= std::chrono::nanoseconds::zero()) return "0n";
  const auto ns = static_cast<std::uint64_t>(timeout.count());
  // Finest unit first; round up so the receiver never gets less time than we meant.
  for (char unit : {'n', 'u', 'm', 'S', 'M', 'H'}) {
    const auto per = static_cast<std::uint64_t>(unit_nanos(unit));
    const std::uint64_t amount = ns / per + (ns % per != 0 ? 1 : 0);
    if (amount <= kMaxAmount)
      return format_grpc_timeout(GrpcTimeout{static_cast<std::uint32_t>(amount), unit});
  }
  return format_grpc_timeout(GrpcTimeout{kMaxAmount, 'H'});  // unreachable with 64-bit ns
}

}  // namespace tether
