// W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header):
//   version "-" trace-id "-" parent-id "-" trace-flags, lowercase hex, 55 characters for 00.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "tether/propagation.hpp"

namespace tether {
namespace {

constexpr std::size_t kVersion00Length = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2

// The value of each byte as a lowercase hex digit; -1 for anything else (uppercase
// included). A table: parsing runs on every incoming call that carries a trace.
constexpr std::array<std::int8_t, 256> kHexValue = [] {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = '0'; c <= '9'; ++c)
    t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c)
    t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - 'a' + 10);
  return t;
}();

constexpr int hex_value(char c) noexcept { return kHexValue[static_cast<unsigned char>(c)]; }

// Decodes 2*N lowercase hex digits into `out`; false if any is not one.
template <std::size_t N>
bool decode_hex(std::string_view digits, std::array<std::uint8_t, N>& out) noexcept {
  int bad = 0;  // one test at the end instead of a branch per digit
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_value(digits[2 * i]);
    const int lo = hex_value(digits[2 * i + 1]);
    bad |= hi | lo;
    out[i] = static_cast<std::uint8_t>((hi & 0xf) << 4 | (lo & 0xf));
  }
  return bad >= 0;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) noexcept {
  for (std::uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

// Writes 2*n lowercase hex digits at `out`; returns the end.
char* write_hex(char* out, const std::uint8_t* bytes, std::size_t n) noexcept {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    *out++ = kDigits[bytes[i] >> 4];
    *out++ = kDigits[bytes[i] & 0xf];
  }
  return out;
}

template <std::size_t N>
std::string hex_string(const std::array<std::uint8_t, N>& bytes) {
  std::string out(2 * N, '\0');
  write_hex(out.data(), bytes.data(), N);
  return out;
}

// Random ids from a per-thread generator seeded once from std::random_device.
template <std::size_t N>
void fill_random_nonzero(std::array<std::uint8_t, N>& out) {
  thread_local std::mt19937_64 generator{[] {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
  }()};
  do {
    for (std::size_t i = 0; i < N; i += 8) {
      std::uint64_t word = generator();
      for (std::size_t j = i; j < N && j < i + 8; ++j, word >>= 8)
        out[j] = static_cast<std::uint8_t>(word);
    }
  } while (all_zero(out));
}

}  // namespace

std::optional<TraceContext> parse_traceparent(std::string_view value) noexcept {
  if (value.size() < kVersion00Length) return std::nullopt;
  std::array<std::uint8_t, 1> version{};
  if (!decode_hex(value.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  if (version[0] == 0x00) {
    if (value.size() != kVersion00Length) return std::nullopt;
  } else if (value.size() > kVersion00Length && value[kVersion00Length] != '-') {
    return std::nullopt;  // a future version may append fields, but only after a dash
  }
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  TraceContext trace;
  std::array<std::uint8_t, 1> flags{};
  if (!decode_hex(value.substr(3, 32), trace.trace_id) ||
      !decode_hex(value.substr(36, 16), trace.span_id) || !decode_hex(value.substr(53, 2), flags))
    return std::nullopt;
  if (all_zero(trace.trace_id) || all_zero(trace.span_id)) return std::nullopt;
  trace.flags = flags[0];
  return trace;
}

std::string format_traceparent(const TraceContext& trace) {
  std::string out(kVersion00Length, '-');  // written in place: it runs on every outgoing call
  char* p = out.data();
  *p++ = '0';
  *p++ = '0';
  p = write_hex(p + 1, trace.trace_id.data(), trace.trace_id.size());
  p = write_hex(p + 1, trace.span_id.data(), trace.span_id.size());
  write_hex(p + 1, &trace.flags, 1);
  return out;
}

TraceContext TraceContext::new_root() {
  TraceContext trace;
  fill_random_nonzero(trace.trace_id);
  fill_random_nonzero(trace.span_id);
  trace.flags = 0x01;
  return trace;
}

TraceContext TraceContext::child() const {
  TraceContext next = *this;
  fill_random_nonzero(next.span_id);
  return next;
}

std::string TraceContext::trace_id_hex() const { return hex_string(trace_id); }

std::string TraceContext::span_id_hex() const { return hex_string(span_id); }

std::string TraceContext::describe() const { return format_traceparent(*this); }

}  // namespace tether
