// Route matching: see router.hpp.
#include "router.hpp"

#include <stdexcept>

namespace tether::http::detail {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 1;  // after the leading '/'
  for (;;) {
    std::size_t slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

// Percent-decodes a path segment; nullopt for a malformed escape.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace

std::vector<Router::Segment> Router::parse_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/')
    throw std::invalid_argument("http route pattern must start with '/': " + std::string(pattern));
  std::vector<Segment> out;
  for (std::string_view seg : split_path(pattern)) {
    const bool open = seg.find('{') != std::string_view::npos;
    const bool close = seg.find('}') != std::string_view::npos;
    if (!open && !close) {
      out.push_back({std::string(seg), false});
      continue;
    }
    if (seg.size() < 3 || seg.front() != '{' || seg.back() != '}' ||
        seg.find_first_of("{}", 1) != seg.size() - 1)
      throw std::invalid_argument(
          "http route pattern: a wildcard must be a whole segment {name}: " + std::string(pattern));
    std::string name(seg.substr(1, seg.size() - 2));
    for (const Segment& s : out)
      if (s.wildcard && s.text == name)
        throw std::invalid_argument("http route pattern: wildcard {" + name +
                                    "} repeated: " + std::string(pattern));
    out.push_back({std::move(name), true});
  }
  return out;
}

// Matches a pattern route against `path`; fills `values` on success. A path that fits the
// pattern but holds a malformed escape in a wildcard segment is a bad request.
Router::Match Router::match(const Key& key, std::string_view path, PathValues& values) {
  if (path.empty() || path.front() != '/') return Match::no;
  std::vector<std::string_view> parts = split_path(path);
  if (parts.size() != key.segments.size()) return Match::no;
  PathValues found;
  bool bad_escape = false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Segment& seg = key.segments[i];
    if (!seg.wildcard) {
      if (parts[i] != seg.text) return Match::no;
      continue;
    }
    if (parts[i].empty()) return Match::no;
    std::optional<std::string> v = percent_decode(parts[i]);
    if (!v) bad_escape = true;
    found.emplace_back(seg.text, v.value_or(std::string()));
  }
  if (bad_escape) return Match::bad_escape;
  values = std::move(found);
  return Match::yes;
}

std::size_t Router::add(std::string method, std::string path) {
  std::vector<Segment> segments;
  if (path.find_first_of("{}") != std::string::npos) segments = parse_pattern(path);
  keys_.push_back(Key{std::move(method), std::move(path), std::move(segments)});
  return keys_.size() - 1;
}

Router::Found Router::find(std::string_view method, std::string_view path) const {
  bool path_known = false;
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    const Key& k = keys_[i];
    if (!k.segments.empty() || k.path != path) continue;
    path_known = true;
    if (k.method == method) return {i, 0, {}};
  }
  PathValues values;
  bool bad_escape = false;
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    const Key& k = keys_[i];
    if (k.segments.empty()) continue;
    const Match m = match(k, path, values);
    if (m == Match::bad_escape) bad_escape = true;
    if (m != Match::yes) continue;
    path_known = true;
    if (k.method == method) return {i, 0, std::move(values)};
  }
  return {std::nullopt, bad_escape ? 400 : path_known ? 405 : 404, {}};
}

}  // namespace tether::http::detail
