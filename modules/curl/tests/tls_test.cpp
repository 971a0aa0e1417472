// HTTPS against a local TLS server whose certificate the test makes (tls_server.hpp).
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "curl_test_support.hpp"
#include "test_server.hpp"
#include "tether/curl.hpp"
#include "tls_server.hpp"

using namespace std::chrono_literals;
using tether_test::Easy;
using tether_test::ms_since;

TEST(CurlTls, HttpsWithTheTestsOwnCertificateCompletes) {
  tether_test::TlsServer server;
  Easy easy(server.url("/"));
  curl_easy_setopt(easy, CURLOPT_CAINFO, server.ca_file().c_str());
  std::string body;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 10s);
  auto ec =
      tether::curl::perform(ctx, easy, {.on_body = [&](std::string_view b) { body.append(b); }});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(body, "hello tls");
  EXPECT_EQ(server.handshakes_ok(), 1);
}

TEST(CurlTls, HttpsOnTheDriverCompletes) {
  tether_test::TlsServer server;
  tether::curl::Driver driver;
  Easy easy(server.url("/"));
  curl_easy_setopt(easy, CURLOPT_CAINFO, server.ca_file().c_str());
  std::string body;
  auto ec = driver.perform(tether::background(), easy,
                           {.on_body = [&](std::string_view b) { body.append(b); }});
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(body, "hello tls");
}

TEST(CurlTls, UntrustedCertificateIsACurlTlsError) {
  tether_test::TlsServer server;
  Easy easy(server.url("/"));  // the system's CA bundle does not know the test's certificate
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 10s);
  auto ec = tether::curl::perform(ctx, easy);
  EXPECT_EQ(ec, tether::curl::make_error_code(CURLE_PEER_FAILED_VERIFICATION)) << ec.message();
  EXPECT_EQ(&ec.category(), &tether::curl::category());
}

TEST(CurlTls, HandshakeWithAServerThatNeverAnswersEndsAtTheDeadline) {
  tether_test::TestServer server;  // reads the ClientHello, never answers it
  Easy easy(server.url("/", "https"));
  // A one-certificate CA file: loading the system bundle happens inside one libcurl call,
  // which nothing can interrupt (tens of ms; ~400 ms under TSan; see docs/curl.md).
  tether_test::TlsServer other;
  curl_easy_setopt(easy, CURLOPT_CAINFO, other.ca_file().c_str());
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 200ms);
  const auto deadline = *ctx.deadline();
  auto ec = tether::curl::perform(ctx, easy);
  const double late = ms_since(deadline);
  std::printf("[ measure ] TLS handshake, silent server: returned %.2f ms after the deadline\n",
              late);
  EXPECT_EQ(ec, tether::errc::deadline_exceeded) << ec.message();
  EXPECT_LT(late, (tether_test::kPromptly + tether_test::kTimerLateness).count());
}
