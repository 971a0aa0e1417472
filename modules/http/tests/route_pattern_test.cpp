// tether::http::Server route patterns: "/users/{id}" and Request::path_value, on real
// sockets on 127.0.0.1.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "tether/context.hpp"
#include "tether/harness/raw_http.hpp"
#include "tether/http.hpp"

namespace {

using tether::harness::Connection;
using tether::harness::format_get;
using tether::harness::RawConnection;
using tether::http::Request;
using tether::http::Response;
using tether::http::Server;

// tether-vet: ignore[context-ignored] a route handler: the server imposes the signature
Response echo_values(const tether::Context&, const Request& r) {
  std::string body;
  for (const auto& [name, value] : r.path_values) body += name + "=" + value + ";";
  return Response::text(200, body);
}

struct Answer {
  int status = 0;
  std::string body;
};

Answer get(const Server& server, const std::string& target, const char* method = "GET") {
  auto c = RawConnection::connect(server.port());
  c.send_all(std::string(method) + " " + target +
             " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  auto res = c.read_response();
  if (!res.complete) return {};
  return {res.status, res.body};
}

TEST(HttpRoutePattern, WildcardSegmentIsReadWithPathValue) {
  Server server(tether::background(), {});
  server.route("GET", "/users/{id}", [](const tether::Context&, const Request& r) {
    return Response::text(200, "user " + std::string(r.path_value("id")) + " missing=[" +
                                   std::string(r.path_value("nope")) + "]");
  });
  server.start();
  Answer a = get(server, "/users/42?verbose=1");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "user 42 missing=[]");
}

TEST(HttpRoutePattern, SeveralWildcardsAreFilledInPatternOrder) {
  Server server(tether::background(), {});
  server.route("GET", "/orgs/{org}/repos/{repo}", echo_values);
  server.start();
  EXPECT_EQ(get(server, "/orgs/acme/repos/tether").body, "org=acme;repo=tether;");
}

TEST(HttpRoutePattern, PathValueIsPercentDecoded) {
  Server server(tether::background(), {});
  server.route("GET", "/files/{name}", echo_values);
  server.start();
  EXPECT_EQ(get(server, "/files/a%20b%2Fc").body, "name=a b/c;");
}

TEST(HttpRoutePattern, AMalformedEscapeInAWildcardSegmentIs400) {
  Server server(tether::background(), {});
  server.route("GET", "/files/{name}", echo_values);
  server.start();
  EXPECT_EQ(get(server, "/files/bad%2").status, 400);  // Go rejects such a URL as 400
  EXPECT_EQ(get(server, "/files/%ZZ").status, 400);
  EXPECT_EQ(get(server, "/other/%ZZ").status, 404);  // no pattern fits the path at all
}

TEST(HttpRoutePattern, WildcardNeedsOneWholeNonEmptySegment) {
  Server server(tether::background(), {});
  server.route("GET", "/users/{id}", echo_values);
  server.start();
  EXPECT_EQ(get(server, "/users/").status, 404);
  EXPECT_EQ(get(server, "/users").status, 404);
  EXPECT_EQ(get(server, "/users/1/extra").status, 404);
}

TEST(HttpRoutePattern, ExactRouteWinsOverAPatternRegisteredBefore) {
  Server server(tether::background(), {});
  server.route("GET", "/users/{id}", echo_values);
  server.route("GET", "/users/me",
               [](const tether::Context&, const Request&) { return Response::text(200, "me"); });
  server.start();
  EXPECT_EQ(get(server, "/users/me").body, "me");
  EXPECT_EQ(get(server, "/users/7").body, "id=7;");
}

TEST(HttpRoutePattern, KnownPatternWithAnotherMethodIs405) {
  Server server(tether::background(), {});
  server.route("GET", "/users/{id}", echo_values);
  server.start();
  EXPECT_EQ(get(server, "/users/7", "DELETE").status, 405);
}

TEST(HttpRoutePattern, MalformedPatternsAreRejectedWhenRouted) {
  Server server(tether::background(), {});
  EXPECT_THROW(server.route("GET", "users/{id}", echo_values), std::invalid_argument);
  EXPECT_THROW(server.route("GET", "/users/{}", echo_values), std::invalid_argument);
  EXPECT_THROW(server.route("GET", "/users/x{id}", echo_values), std::invalid_argument);
  EXPECT_THROW(server.route("GET", "/users/{id", echo_values), std::invalid_argument);
  EXPECT_THROW(server.route("GET", "/a/{id}/b/{id}", echo_values), std::invalid_argument);
  EXPECT_THROW(server.route("GET", "/a/{i{d}", echo_values), std::invalid_argument);
}

}  // namespace
