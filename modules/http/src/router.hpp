// modules/http/src/router.hpp — which route a request goes to, apart from sockets.
//
// Private to tether::http (server.cpp uses it; tests/router_test.cpp tests it directly).
// Exact paths are matched first, then patterns ("/users/{id}") in the order they were
// added; a wildcard matches one non-empty segment and is percent-decoded. Not found: 404
// for a path no route knows, 405 for a known path under another method, 400 for a path a
// pattern fits whose wildcard holds a malformed escape ("/users/%ZZ"; Go rejects such a
// URL as 400 too). Not thread-safe to add to; find() is const and safe from any thread
// once adding is over (the server adds before start()).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tether::http::detail {

class Router {
 public:
  using PathValues = std::vector<std::pair<std::string, std::string>>;

  /// Adds a route and returns its index (0, 1, … in the order added). Throws
  /// std::invalid_argument for a malformed pattern: not starting with '/', a brace that
  /// is not a whole "{name}" segment, a repeated wildcard name.
  std::size_t add(std::string method, std::string path);

  struct Found {
    std::optional<std::size_t> index;  // the route's index, or none
    int status = 0;                    // when none: 404, 405 or 400 (above)
    PathValues values;                 // the wildcards' decoded values, in pattern order
  };
  Found find(std::string_view method, std::string_view path) const;

 private:
  struct Segment {
    std::string text;  // the literal, or the wildcard's name
    bool wildcard = false;
  };
  struct Key {
    std::string method;
    std::string path;
    std::vector<Segment> segments;  // empty for an exact path
  };
  enum class Match { no, yes, bad_escape };

  static std::vector<Segment> parse_pattern(std::string_view pattern);
  static Match match(const Key& key, std::string_view path, PathValues& values);

  std::vector<Key> keys_;
};

}  // namespace tether::http::detail
