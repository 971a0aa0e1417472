// The cross-process parsers: grpc-timeout and W3C traceparent, and what outgoing calls send.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "tether/context.hpp"
#include "tether/propagation.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using tether::GrpcTimeout;
using tether::parse_grpc_timeout;
using tether::parse_traceparent;

constexpr const char* kValidTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(PropagationGrpcTimeout, ParsesEveryUnit) {
  EXPECT_EQ(parse_grpc_timeout("2H")->duration(), 2h);
  EXPECT_EQ(parse_grpc_timeout("3M")->duration(), 3min);
  EXPECT_EQ(parse_grpc_timeout("4S")->duration(), 4s);
  EXPECT_EQ(parse_grpc_timeout("250m")->duration(), 250ms);
  EXPECT_EQ(parse_grpc_timeout("7u")->duration(), 7us);
  EXPECT_EQ(parse_grpc_timeout("9n")->duration(), 9ns);
}

TEST(PropagationGrpcTimeout, AcceptsEightDigitsAndZero) {
  EXPECT_EQ(parse_grpc_timeout("99999999n")->duration(), 99999999ns);
  EXPECT_EQ(parse_grpc_timeout("0m")->duration(), 0ns);
  EXPECT_EQ(parse_grpc_timeout("00000001S")->duration(), 1s);
}

TEST(PropagationGrpcTimeout, RejectsMalformedValues) {
  for (const char* bad : {"", "S", "1", "123456789S", "-1S", "+1S", " 1S", "1S ", "1 S", "1s", "1h",
                          "1x", "1.5S", "1SS", "S1", "0x1S", "\xef\xbc\x91S"}) {
    EXPECT_EQ(parse_grpc_timeout(bad), std::nullopt) << "'" << bad << "'";
  }
}

TEST(PropagationGrpcTimeout, HugeValueSaturatesInsteadOfOverflowing) {
  auto t = parse_grpc_timeout("99999999H");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->duration(), std::chrono::nanoseconds::max());
}

TEST(PropagationGrpcTimeout, FormatReproducesParsedValue) {
  for (const char* s : {"1H", "99999999H", "250m", "0n", "12345678u"})
    EXPECT_EQ(tether::format_grpc_timeout(*parse_grpc_timeout(s)), s);
}

TEST(PropagationGrpcTimeout, FormatDurationPicksFinestUnitThatFits) {
  EXPECT_EQ(tether::format_grpc_timeout(250ms), "250000u");  // 250000000n has 9 digits
  EXPECT_EQ(tether::format_grpc_timeout(99999999ns), "99999999n");
  EXPECT_EQ(tether::format_grpc_timeout(100000000ns), "100000u");
  EXPECT_EQ(tether::format_grpc_timeout(2h), "7200000m");
}

TEST(PropagationGrpcTimeout, FormatDurationRoundsUp) {
  EXPECT_EQ(tether::format_grpc_timeout(100000001ns), "100001u");
}

TEST(PropagationGrpcTimeout, FormatNonPositiveDurationIsZero) {
  EXPECT_EQ(tether::format_grpc_timeout(0ns), "0n");
  EXPECT_EQ(tether::format_grpc_timeout(-5s), "0n");
}

TEST(PropagationGrpcTimeout, FormatLargestDurationUsesHours) {
  EXPECT_EQ(tether::format_grpc_timeout(std::chrono::nanoseconds::max()), "2562048H");
}

TEST(PropagationTraceparent, ParsesVersion00) {
  auto t = parse_traceparent(kValidTraceparent);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->span_id_hex(), "00f067aa0ba902b7");
  EXPECT_EQ(t->flags, 0x01);
  EXPECT_TRUE(t->sampled());
}

TEST(PropagationTraceparent, FormatReproducesParsedValue) {
  EXPECT_EQ(tether::format_traceparent(*parse_traceparent(kValidTraceparent)), kValidTraceparent);
  const char* unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
  EXPECT_EQ(tether::format_traceparent(*parse_traceparent(unsampled)), unsampled);
}

TEST(PropagationTraceparent, FormatIntoAStringReplacesItsContentsAndReusesItsBuffer) {
  std::string out = "some longer previous contents, more than fifty-five characters long";
  const char* before = out.data();
  tether::format_traceparent(*parse_traceparent(kValidTraceparent), out);
  EXPECT_EQ(out, kValidTraceparent);
  EXPECT_EQ(out.data(), before) << "no new buffer when the old one is large enough";
  const char* unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
  tether::format_traceparent(*parse_traceparent(unsampled), out);
  EXPECT_EQ(out, unsampled);
  EXPECT_EQ(out.data(), before);
}

TEST(PropagationTraceparent, RejectsAllZeroIds) {
  EXPECT_FALSE(parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
}

TEST(PropagationTraceparent, RejectsUppercaseHex) {
  EXPECT_FALSE(parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"));
  EXPECT_FALSE(parse_traceparent("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

// Every byte value at every digit of the trace id, span id and flags: accepted exactly
// when it is a lowercase hex digit, and then formatted back unchanged (the decoding and
// encoding tables against the W3C grammar).
TEST(PropagationTraceparent, AcceptsExactlyLowercaseHexAtEveryDigitAndFormatsItBack) {
  const std::string valid = kValidTraceparent;
  for (std::size_t at = 3; at < valid.size(); ++at) {
    if (valid[at] == '-') continue;
    for (int c = 0; c < 256; ++c) {
      std::string v = valid;
      v[at] = static_cast<char>(c);
      const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      const auto t = parse_traceparent(v);
      ASSERT_EQ(t.has_value(), hex) << "byte " << c << " at " << at;
      if (t) {
        ASSERT_EQ(tether::format_traceparent(*t), v) << "byte " << c << " at " << at;
      }
    }
  }
}

TEST(PropagationTraceparent, RejectsVersionFF) {
  EXPECT_FALSE(parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST(PropagationTraceparent, RejectsWrongLengthOrSeparators) {
  EXPECT_FALSE(parse_traceparent(""));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-010"));
  EXPECT_FALSE(parse_traceparent("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01"));
  EXPECT_FALSE(parse_traceparent(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"));
}

TEST(PropagationTraceparent, FutureVersionParsesKnownFieldsAndIgnoresTheRest) {
  auto t = parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(tether::format_traceparent(*t), kValidTraceparent);  // we answer in version 00
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST(PropagationTraceparent, FutureVersionNeedsDashAfterFlags) {
  EXPECT_FALSE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
}

TEST(PropagationTraceContext, NewRootHasNonZeroIdsAndIsSampled) {
  auto t = tether::TraceContext::new_root();
  EXPECT_NE(t.trace_id, decltype(t.trace_id){});
  EXPECT_NE(t.span_id, decltype(t.span_id){});
  EXPECT_TRUE(t.sampled());
  EXPECT_EQ(parse_traceparent(tether::format_traceparent(t)), t);
}

TEST(PropagationTraceContext, ChildKeepsTraceIdAndGetsNewSpanId) {
  auto parent = *parse_traceparent(kValidTraceparent);
  auto child = parent.child();
  EXPECT_EQ(child.trace_id, parent.trace_id);
  EXPECT_EQ(child.flags, parent.flags);
  EXPECT_NE(child.span_id, parent.span_id);
}

TEST(PropagationTraceContext, TravelsInAContextUnderTraceKey) {
  auto trace = *parse_traceparent(kValidTraceparent);
  auto ctx = tether::with_value(tether::background(), tether::trace_key, trace);
  ASSERT_NE(ctx.value(tether::trace_key), nullptr);
  EXPECT_EQ(*ctx.value(tether::trace_key), trace);
  EXPECT_EQ(tether::background().value(tether::trace_key), nullptr);
  EXPECT_EQ(ctx.describe(),
            std::string("context.Background.WithValue(trace, ") + kValidTraceparent + ")");
}

TEST(PropagationOutgoing, TraceIsChildOfContextTrace) {
  auto trace = *parse_traceparent(kValidTraceparent);
  auto ctx = tether::with_value(tether::background(), tether::trace_key, trace);
  auto out = tether::outgoing_trace(ctx);
  EXPECT_EQ(out.trace_id, trace.trace_id);
  EXPECT_NE(out.span_id, trace.span_id);
}

TEST(PropagationOutgoing, TraceIsNewRootWithoutContextTrace) {
  auto a = tether::outgoing_trace(tether::background());
  auto b = tether::outgoing_trace(tether::background());
  EXPECT_NE(a.trace_id, b.trace_id);
}

TEST(PropagationOutgoing, TimeoutIsRemainingTimeMinusMargin) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 2s);
  clock.advance(500ms);
  EXPECT_EQ(tether::outgoing_grpc_timeout(ctx, 100ms), "1400000u");
}

TEST(PropagationOutgoing, TimeoutIsZeroWhenMarginExceedsRemaining) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 50ms);
  EXPECT_EQ(tether::outgoing_grpc_timeout(ctx, 100ms), "0n");
}

TEST(PropagationOutgoing, NoTimeoutWithoutDeadline) {
  EXPECT_EQ(tether::outgoing_grpc_timeout(tether::background(), 10ms), std::nullopt);
}

}  // namespace
