// White-box checks of the pure helpers behind both forms (modules/curl/src/handle.hpp), and
// the CURLOPT_TIMEOUT_MS backstop observed with a context whose deadline cannot fire.
#include "handle.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "curl_test_support.hpp"
#include "test_server.hpp"
#include "tether/curl.hpp"
#include "tether/propagation.hpp"
#include "tether/testing/manual_clock.hpp"

using namespace std::chrono_literals;
using tether_test::Easy;

TEST(CurlHeaders, UserHeadersAreKeptAndFieldsOfTheSameNameReplaced) {
  curl_slist* user = nullptr;
  user = curl_slist_append(user, "Accept: text/plain");
  user = curl_slist_append(user, "GRPC-Timeout: 99S");
  user = curl_slist_append(user, "traceparent: junk");
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  auto lines = tether::curl::internal::propagated_headers(ctx, user, 20ms);
  curl_slist_free_all(user);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "Accept: text/plain");
  EXPECT_EQ(lines[1].rfind("grpc-timeout: ", 0), 0u);
  auto timeout = tether::parse_grpc_timeout(std::string_view(lines[1]).substr(14));
  ASSERT_TRUE(timeout.has_value());
  EXPECT_LE(timeout->duration(), 980ms);
  EXPECT_EQ(lines[2].rfind("traceparent: ", 0), 0u);
  EXPECT_TRUE(tether::parse_traceparent(std::string_view(lines[2]).substr(13)).has_value());
}

TEST(CurlHeaders, WithoutADeadlineOnlyTheTraceIsSent) {
  auto lines = tether::curl::internal::propagated_headers(tether::background(), nullptr, 20ms);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("traceparent: ", 0), 0u);
}

TEST(CurlTimeout, TimeLeftIsRoundedUpPlusASlackSoCurlFiresAfterTheContext) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1500us);
  EXPECT_EQ(tether::curl::internal::timeout_ms(ctx), 2 + tether::curl::internal::kTimeoutSlackMs);
  EXPECT_EQ(tether::curl::internal::timeout_ms(tether::background()), 0);  // no timeout
}

TEST(CurlTimeout, CurlTimingOutAtOrAfterTheDeadlineIsDeadlineExceeded) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 100ms);
  EXPECT_EQ(tether::curl::internal::transfer_result(ctx, CURLE_OPERATION_TIMEDOUT),
            tether::curl::make_error_code(CURLE_OPERATION_TIMEDOUT));  // before: curl's
  auto [later, c2] = tether::with_timeout(tether::background(), 1h);
  clock.advance(100ms);  // fires ctx's deadline too; `later` still runs
  EXPECT_EQ(tether::curl::internal::transfer_result(ctx, CURLE_OPERATION_TIMEDOUT),
            tether::errc::deadline_exceeded);
  EXPECT_EQ(tether::curl::internal::transfer_result(tether::background(), CURLE_OPERATION_TIMEDOUT),
            tether::curl::make_error_code(CURLE_OPERATION_TIMEDOUT));
  EXPECT_FALSE(tether::curl::internal::transfer_result(ctx, CURLE_OK));
}

TEST(CurlTimeout, CurlsOwnTimeoutBoundsTheTransferWhenTheContextCannotFire) {
  tether_test::TestServer server;
  Easy easy(server.url("/silent"));
  tether::testing::ManualClock clock;  // the context's deadline never fires on its own
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 200ms);
  const auto start = std::chrono::steady_clock::now();
  auto ec = tether::curl::perform(ctx, easy);
  const double took = tether_test::ms_since(start);
  EXPECT_FALSE(ctx.err());  // manual time has not moved: only curl's timer could end it
  EXPECT_EQ(ec, tether::curl::make_error_code(CURLE_OPERATION_TIMEDOUT)) << ec.message();
  EXPECT_GE(took, 200.0);
  EXPECT_LT(took, 200.0 + tether::curl::internal::kTimeoutSlackMs + 1000.0);
}
