// tether/propagation.hpp — carrying a deadline and a trace across process boundaries.
//
// A context's deadline and trace id mean nothing to the next process unless they travel in
// the request. tether speaks the two formats the industry already uses:
//
//   * `grpc-timeout` (gRPC over HTTP/2, also fine on HTTP/1.1): the time the caller is
//     still willing to wait, as 1 to 8 ASCII digits followed by one unit letter:
//     H hours, M minutes, S seconds, m milliseconds, u microseconds, n nanoseconds.
//     "250m" is 250 ms. Nothing else is accepted: no sign, no spaces, no ninth digit.
//   * W3C Trace Context `traceparent`: "00-<trace-id>-<parent-id>-<flags>", with a
//     32-digit trace id, a 16-digit parent (span) id and 2-digit flags, all lowercase hex.
//
//   // server side: derive the request context from what the caller sent
//   auto budget = tether::parse_grpc_timeout(header_value);          // std::optional
//   auto limit = budget ? std::min(budget->duration(), policy_max) : policy_max;
//   auto [ctx, cancel] = tether::with_timeout(base, limit);
//   auto trace = tether::parse_traceparent(tp_header).value_or(tether::TraceContext::new_root());
//   auto req_ctx = tether::with_value(ctx, tether::trace_key, trace.child());
//
//   // client side: send what is left, minus a margin for the way back
//   if (auto t = tether::outgoing_grpc_timeout(ctx, 20ms)) headers.set("grpc-timeout", *t);
//
// Parsing is strict and total: every input either parses or yields std::nullopt, never
// throws, never reads past the view, never allocates. A value that does not parse must be
// ignored (start a new trace, apply the server's own limit), never trusted. An incoming
// timeout is a request, not an order: always cap it by your own maximum.
//
// Forward compatibility of traceparent (W3C Trace Context §3.2.4, "versioning"): a version
// other than 00 and ff is parsed the way the spec asks — the first 55 characters must have
// the version-00 layout, and the 56th, if present, must be '-'; whatever follows belongs to
// the future version and is dropped. Version ff is always invalid. Version 00 must be
// exactly 55 characters. All-zero trace ids and parent ids are invalid. Uppercase hex is
// invalid. Flags are kept as given (only bit 0, "sampled", has a meaning today).
//
// Round trip: format_grpc_timeout(*parse_grpc_timeout(x)) == x for every x without
// superfluous leading zeros (the value is kept as digits + unit, not converted), and
// format_traceparent(*parse_traceparent(x)) == x for every valid version-00 x. A fuzz target
// (propagation/fuzz) checks both.
//
// Thread safety: everything here is a pure function of its arguments, except
// TraceContext::new_root() and child(), which draw random ids from a per-thread generator;
// all may be called from any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tether/context.hpp"

namespace tether {

/// A parsed `grpc-timeout` value: an amount (0 … 99 999 999) and its unit, kept exactly as
/// sent so that formatting it again reproduces the header.
struct GrpcTimeout {
  std::uint32_t amount = 0;
  char unit = 'n';  ///< one of H M S m u n

  /// The timeout as nanoseconds, saturating: 99999999H (≈ 11 400 years) does not fit in
  /// 64-bit nanoseconds and becomes std::chrono::nanoseconds::max(). Cap it by policy.
  std::chrono::nanoseconds duration() const noexcept;

  friend bool operator==(const GrpcTimeout&, const GrpcTimeout&) = default;
};

/// Parses a `grpc-timeout` header value: 1–8 ASCII digits, then exactly one of H M S m u n,
/// nothing before or after. Returns std::nullopt for anything else.
std::optional<GrpcTimeout> parse_grpc_timeout(std::string_view value) noexcept;

/// Formats a parsed value back: "<amount><unit>".
std::string format_grpc_timeout(const GrpcTimeout& timeout);

/// Encodes a duration in the finest unit whose amount fits in 8 digits, rounding up (as
/// gRPC does): 1500ms → "1500000u", 2h → "7200000m" … A zero or negative duration gives
/// "0n" (already expired). The largest, nanoseconds::max(), is "2562048H".
std::string format_grpc_timeout(std::chrono::nanoseconds timeout);

/// The W3C trace context of one span: which trace it belongs to, which span it is, and the
/// trace flags. Stored in a Context under tether::trace_key.
struct TraceContext {
  std::array<std::uint8_t, 16> trace_id{};  ///< never all zero in a valid context
  std::array<std::uint8_t, 8> span_id{};    ///< the traceparent "parent-id"; never all zero
  std::uint8_t flags = 0;                   ///< bit 0: sampled

  /// A new trace: random trace id and span id, flags 01 (sampled).
  static TraceContext new_root();
  /// A child span: the same trace id and flags, a new random span id.
  TraceContext child() const;

  bool sampled() const noexcept { return (flags & 0x01) != 0; }
  /// The 32 lowercase hex digits of the trace id (what log lines print).
  std::string trace_id_hex() const;
  /// The 16 lowercase hex digits of the span id.
  std::string span_id_hex() const;
  /// The traceparent form; lets describe() print contexts carrying a trace.
  std::string describe() const;

  friend bool operator==(const TraceContext&, const TraceContext&) = default;
};

/// Parses a `traceparent` header value (see the header comment for the exact rules).
/// Returns std::nullopt when it is invalid: start a new trace instead.
std::optional<TraceContext> parse_traceparent(std::string_view value) noexcept;

/// "00-<trace-id>-<span-id>-<flags>", lowercase; the version written is always 00.
std::string format_traceparent(const TraceContext& trace);
/// The same, written into `out` (replacing its contents): once `out` has held one value it
/// allocates nothing, so a caller that keeps one string per thread formats without the
/// heap (tether::grpc's client does, on every call).
void format_traceparent(const TraceContext& trace, std::string& out);

/// The key under which servers store the current span's trace context, and from which
/// clients take the trace id they propagate:
///
///   if (const tether::TraceContext* t = ctx.value(tether::trace_key))
///     log("trace={}", t->trace_id_hex());
inline const Key<TraceContext> trace_key{"trace"};

/// The `grpc-timeout` value to send on an outgoing call made under `ctx`: the time left
/// until ctx's deadline minus `margin` (time for the answer to come back), floored at zero
/// ("0n"). std::nullopt when ctx has no deadline. Reads tether::now(), so a ManualClock
/// governs it in tests.
std::optional<std::string> outgoing_grpc_timeout(const Context& ctx,
                                                 std::chrono::nanoseconds margin);

/// The `traceparent` value to send on an outgoing call made under `ctx`: a child span of
/// the trace in ctx (same trace id, new span id), or a new root trace if ctx carries none.
TraceContext outgoing_trace(const Context& ctx);

}  // namespace tether
