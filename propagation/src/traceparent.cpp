// W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header):
//   version "-" trace-id "-" parent-id "-" trace-flags, lowercase hex, 55 characters for 00.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "tether/propagation.hpp"

namespace tether {
namespace {

constexpr std::size_t kVersion00Length = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2

// Decoding tables, indexed by a character: its value as a lowercase hex digit, shifted
// into the high nibble (kHighNibble) or not (kLowNibble); 0x100 for anything else
// (uppercase included), a bit no valid pair sets. Parsing runs on every incoming call that
// carries a trace: a byte costs two loads and an or.
constexpr std::array<std::uint16_t, 256> nibble_table(int shift) {
  std::array<std::uint16_t, 256> t{};
  for (auto& v : t) v = 0x100;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = (c - '0') << shift;
  for (int c = 'a'; c <= 'f'; ++c) t[static_cast<std::size_t>(c)] = (c - 'a' + 10) << shift;
  return t;
}
constexpr std::array<std::uint16_t, 256> kHighNibble = nibble_table(4);
constexpr std::array<std::uint16_t, 256> kLowNibble = nibble_table(0);

// Decodes 2*N lowercase hex digits into `out`; false if any is not one.
template <std::size_t N>
bool decode_hex(const char* digits, std::array<std::uint8_t, N>& out) noexcept {
  unsigned bad = 0;  // one test at the end instead of a branch per digit
  for (std::size_t i = 0; i < N; ++i) {
    const unsigned byte = kHighNibble[static_cast<unsigned char>(digits[2 * i])] |
                          kLowNibble[static_cast<unsigned char>(digits[2 * i + 1])];
    bad |= byte;
    out[i] = static_cast<std::uint8_t>(byte);
  }
  return (bad & 0x100) == 0;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) noexcept {
  for (std::uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

// The two lowercase hex digits of each byte value.
constexpr std::array<std::array<char, 2>, 256> kHexPairs = [] {
  constexpr char kDigits[] = "0123456789abcdef";
  std::array<std::array<char, 2>, 256> t{};
  for (std::size_t b = 0; b < 256; ++b) t[b] = {kDigits[b >> 4], kDigits[b & 0xf]};
  return t;
}();

// Writes 2*n lowercase hex digits at `out`; returns the end.
char* write_hex(char* out, const std::uint8_t* bytes, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i, out += 2) std::memcpy(out, kHexPairs[bytes[i]].data(), 2);
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
  if (!decode_hex(value.data(), version) || version[0] == 0xff) return std::nullopt;
  if (version[0] == 0x00) {
    if (value.size() != kVersion00Length) return std::nullopt;
  } else if (value.size() > kVersion00Length && value[kVersion00Length] != '-') {
    return std::nullopt;  // a future version may append fields, but only after a dash
  }
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  TraceContext trace;
  std::array<std::uint8_t, 1> flags{};
  // The size was checked above: every field lies within `value`.
  if (!decode_hex(value.data() + 3, trace.trace_id) ||
      !decode_hex(value.data() + 36, trace.span_id) || !decode_hex(value.data() + 53, flags))
    return std::nullopt;
  if (all_zero(trace.trace_id) || all_zero(trace.span_id)) return std::nullopt;
  trace.flags = flags[0];
  return trace;
}

void format_traceparent(const TraceContext& trace, std::string& out) {
  out.resize(kVersion00Length);  // written in place: it runs on every outgoing call
  char* p = out.data();
  *p++ = '0';
  *p++ = '0';
  *p++ = '-';
  p = write_hex(p, trace.trace_id.data(), trace.trace_id.size());
  *p++ = '-';
  p = write_hex(p, trace.span_id.data(), trace.span_id.size());
  *p++ = '-';
  write_hex(p, &trace.flags, 1);
}

std::string format_traceparent(const TraceContext& trace) {
  std::string out;
  format_traceparent(trace, out);
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
