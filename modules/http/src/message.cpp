// The plain value types of tether/http.hpp: headers, requests, responses, log records.
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tether/http.hpp"

namespace tether::http {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

}  // namespace

const std::string* Headers::find(std::string_view name) const noexcept {
  for (const auto& [n, v] : fields_)
    if (iequals(n, name)) return &v;
  return nullptr;
}

void Headers::set(std::string_view name, std::string value) {
  std::erase_if(fields_, [&](const auto& f) { return iequals(f.first, name); });
  fields_.emplace_back(std::string(name), std::move(value));
}

void Headers::add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

std::string_view Request::path() const noexcept {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view Request::query() const noexcept {
  std::string_view t = target;
  auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

namespace {

// Calls f(name, value) for each well-formed parameter of `query`, decoded by Boost.URL.
// A query with a bad escape is taken parameter by parameter, leaving the bad ones out.
template <class F>
void for_each_param(std::string_view query, F&& f) {
  if (query.empty()) return;
  const boost::urls::encoding_opts plus_is_space(true);
  if (boost::urls::parse_query(query)) {
    for (auto p : boost::urls::params_view(query, plus_is_space)) f(p.key, p.value);
    return;
  }
  std::size_t start = 0;
  while (start <= query.size()) {
    const std::size_t amp = std::min(query.find('&', start), query.size());
    const std::string_view one = query.substr(start, amp - start);
    if (!one.empty() && boost::urls::parse_query(one))
      for (auto p : boost::urls::params_view(one, plus_is_space)) f(p.key, p.value);
    start = amp + 1;
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> Request::query_params() const {
  std::vector<std::pair<std::string, std::string>> out;
  for_each_param(query(), [&](std::string name, std::string value) {
    out.emplace_back(std::move(name), std::move(value));
  });
  return out;
}

std::optional<std::string> Request::query_value(std::string_view name) const {
  std::optional<std::string> out;
  for_each_param(query(), [&](const std::string& n, std::string value) {
    if (!out && n == name) out = std::move(value);
  });
  return out;
}

std::string_view Request::path_value(std::string_view name) const noexcept {
  for (const auto& [n, v] : path_values)
    if (n == name) return v;
  return {};
}

Response Response::text(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.set("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

std::string AccessLogEntry::format() const {
  char duration_text[32];
  std::snprintf(duration_text, sizeof duration_text, "%.3fms",
                static_cast<double>(duration.count()) / 1000.0);
  std::string line = method + " " + path + " " + std::to_string(status) + " " + duration_text +
                     " trace=" + trace_id;
  if (!cause.empty()) line += " cause=\"" + cause + "\"";
  if (!error.empty()) line += " error=\"" + error + "\"";
  return line;
}

}  // namespace tether::http
