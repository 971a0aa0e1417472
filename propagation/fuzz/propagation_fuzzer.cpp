// libFuzzer target for the two cross-process header parsers (tether/propagation.hpp).
// Every input is fed to both parsers; a value that parses must format back to itself
// (modulo the documented normalisations) and the formatted value must parse to the same
// thing. Any violation aborts, which libFuzzer reports with the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tether/propagation.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// A grpc-timeout is formatted without leading zeros; anything else must reproduce exactly.
bool canonical_grpc_timeout(std::string_view s) { return s.size() == 2 || s[0] != '0'; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto timeout = tether::parse_grpc_timeout(input)) {
    const std::string formatted = tether::format_grpc_timeout(*timeout);
    check(tether::parse_grpc_timeout(formatted) == timeout);
    if (canonical_grpc_timeout(input)) check(formatted == input);
    check(timeout->duration().count() >= 0);
  }

  if (auto trace = tether::parse_traceparent(input)) {
    const std::string formatted = tether::format_traceparent(*trace);
    check(tether::parse_traceparent(formatted) == trace);
    if (input.substr(0, 2) == "00") check(formatted == input);
  }
  return 0;
}
