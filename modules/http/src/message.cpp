// The plain value types of tether/http.hpp: headers, requests, responses, log records.
#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>

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
