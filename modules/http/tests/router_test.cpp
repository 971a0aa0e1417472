// tether::http's route matching (src/router.hpp) without sockets: which route a method and
// path go to, the path values, and 404 / 405 / 400 when none does. route_pattern_test.cpp
// checks the same rules end to end through a server.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "router.hpp"

namespace {

using tether::http::detail::Router;
using Values = Router::PathValues;

TEST(Router, ExactPathsComeBeforePatternsWhateverTheOrderAdded) {
  Router r;
  ASSERT_EQ(r.add("GET", "/users/{id}"), 0u);
  ASSERT_EQ(r.add("GET", "/users/me"), 1u);
  Router::Found me = r.find("GET", "/users/me");
  EXPECT_EQ(me.index, 1u);
  EXPECT_TRUE(me.values.empty());
  Router::Found other = r.find("GET", "/users/42");
  EXPECT_EQ(other.index, 0u);
  EXPECT_EQ(other.values, (Values{{"id", "42"}}));
}

TEST(Router, PatternsAreTriedInTheOrderAdded) {
  Router r;
  r.add("GET", "/{a}/{b}");
  r.add("GET", "/x/{b}");
  Router::Found f = r.find("GET", "/x/y");
  EXPECT_EQ(f.index, 0u);
  EXPECT_EQ(f.values, (Values{{"a", "x"}, {"b", "y"}}));
}

TEST(Router, WildcardsArePercentDecoded) {
  Router r;
  r.add("GET", "/files/{name}");
  EXPECT_EQ(r.find("GET", "/files/a%20b%2Fc").values, (Values{{"name", "a b/c"}}));
}

TEST(Router, AnUnknownPathIs404AndAKnownPathUnderAnotherMethodIs405) {
  Router r;
  r.add("GET", "/healthz");
  r.add("POST", "/users/{id}");
  EXPECT_EQ(r.find("GET", "/nope").status, 404);
  EXPECT_FALSE(r.find("GET", "/nope").index);
  EXPECT_EQ(r.find("POST", "/healthz").status, 405);
  EXPECT_EQ(r.find("GET", "/users/7").status, 405);
  EXPECT_EQ(r.find("POST", "/users/7").index, 1u);
}

TEST(Router, AMalformedEscapeInAWildcardIs400NotA404) {
  Router r;
  r.add("GET", "/users/{id}");
  EXPECT_EQ(r.find("GET", "/users/%ZZ").status, 400);
  EXPECT_EQ(r.find("GET", "/users/%4").status, 400);
  EXPECT_FALSE(r.find("GET", "/users/%ZZ").index);
}

TEST(Router, AWildcardMatchesOneNonEmptySegmentOnly) {
  Router r;
  r.add("GET", "/users/{id}");
  EXPECT_EQ(r.find("GET", "/users/").status, 404);
  EXPECT_EQ(r.find("GET", "/users/1/2").status, 404);
  EXPECT_EQ(r.find("GET", "/users").status, 404);
}

TEST(Router, MalformedPatternsThrowInvalidArgument) {
  Router r;
  EXPECT_THROW(r.add("GET", "users/{id}"), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/a{b}"), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/{}"), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/{x}/{x}"), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/{x"), std::invalid_argument);
  // Nothing was added by the failed calls: the next route is route 0.
  EXPECT_EQ(r.add("GET", "/ok"), 0u);
}

}  // namespace
