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

// The value of a lowercase hex digit; -1 for anything else (uppercase included).
constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Decodes 2*N lowercase hex digits into `out`; false if any is not one.
template <std::size_t N>
bool decode_hex(std::string_view digits, std::array<std::uint8_t, N>& out) noexcept {
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_value(digits[2 * i]);
    const int lo = hex_value(digits[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) noexcept {
  for (std::uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

void append_hex(std::string& out, const std::uint8_t* bytes, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const std::size_t at = out.size();
  out.resize(at + 2 * n);  // one resize, then plain stores: this runs on every HTTP response
  char* p = out.data() + at;
  for (std::size_t i = 0; i < n; ++i) {
    *p++ = kDigits[bytes[i] >> 4];
    *p++ = kDigits[bytes[i] & 0xf];
  }
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
  std::string out;
  out.reserve(kVersion00Length);
  out += "00-";
  append_hex(out, trace.trace_id.data(), trace.trace_id.size());
  out.push_back('-');
  append_hex(out, trace.span_id.data(), trace.span_id.size());
  out.push_back('-');
  append_hex(out, &trace.flags, 1);
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

std::string TraceContext::trace_id_hex() const {
  std::string out;
  out.reserve(2 * trace_id.size());
  append_hex(out, trace_id.data(), trace_id.size());
  return out;
}

std::string TraceContext::span_id_hex() const {
  std::string out;
  append_hex(out, span_id.data(), span_id.size());
  return out;
}

std::string TraceContext::describe() const { return format_traceparent(*this); }

}  // namespace tether
