// Request::query_params and Request::query_value: the query string decoded by Boost.URL,
// the way Go's url.ParseQuery does it (pure functions; no sockets).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "tether/http.hpp"

namespace {

using tether::http::Request;
using Params = std::vector<std::pair<std::string, std::string>>;

Request with_target(std::string target) {
  Request r;
  r.target = std::move(target);
  return r;
}

TEST(HttpRequestQuery, ParamsAreDecodedInOrder) {
  Request r = with_target("/search?q=tether+ctx&lang=c%2B%2B&empty=&flag&q=again");
  EXPECT_EQ(
      r.query_params(),
      (Params{{"q", "tether ctx"}, {"lang", "c++"}, {"empty", ""}, {"flag", ""}, {"q", "again"}}));
  EXPECT_EQ(r.query_value("q"), "tether ctx");  // the first one, as Go's Get
  EXPECT_EQ(r.query_value("lang"), "c++");
  EXPECT_EQ(r.query_value("empty"), "");
  EXPECT_EQ(r.query_value("flag"), "");
  EXPECT_EQ(r.query_value("missing"), std::nullopt);
  EXPECT_EQ(r.query_value("Q"), std::nullopt);  // names are case-sensitive
}

TEST(HttpRequestQuery, NoQueryNoParams) {
  EXPECT_TRUE(with_target("/x").query_params().empty());
  EXPECT_TRUE(with_target("/x?").query_params().empty());
  EXPECT_EQ(with_target("/x").query_value("a"), std::nullopt);
}

TEST(HttpRequestQuery, AMalformedParameterIsLeftOutTheOthersStay) {
  Request r = with_target("/x?a=1&bad=%ZZ&b=%41");
  EXPECT_EQ(r.query_params(), (Params{{"a", "1"}, {"b", "A"}}));
  EXPECT_EQ(r.query_value("bad"), std::nullopt);
  EXPECT_EQ(r.query_value("b"), "A");
}

}  // namespace
