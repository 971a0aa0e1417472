#include "metrics_text.hpp"

#include <cstdlib>

namespace tether::demo_tour {

namespace {
// Parses `{a="x",b="y"}` starting at text[pos] == '{'; returns the index after '}' or npos.
std::size_t parse_labels(std::string_view text, std::size_t pos,
                         std::map<std::string, std::string>& labels) {
  ++pos;
  while (pos < text.size()) {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == ',')) ++pos;
    if (pos < text.size() && text[pos] == '}') return pos + 1;
    auto eq = text.find('=', pos);
    if (eq == std::string_view::npos || eq + 1 >= text.size() || text[eq + 1] != '"') {
      return std::string_view::npos;
    }
    std::string key(text.substr(pos, eq - pos));
    std::string value;
    std::size_t i = eq + 2;
    for (; i < text.size() && text[i] != '"'; ++i) {
      if (text[i] == '\\' && i + 1 < text.size()) {
        ++i;
        value += text[i] == 'n' ? '\n' : text[i];
      } else {
        value += text[i];
      }
    }
    if (i >= text.size()) return std::string_view::npos;
    labels[key] = value;
    pos = i + 1;
  }
  return std::string_view::npos;
}
}  // namespace

std::vector<Sample> parse_metrics(std::string_view text) {
  std::vector<Sample> samples;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    Sample s;
    std::size_t pos = 0;
    while (pos < line.size() && line[pos] != '{' && line[pos] != ' ') ++pos;
    s.name = std::string(line.substr(0, pos));
    if (pos < line.size() && line[pos] == '{') {
      pos = parse_labels(line, pos, s.labels);
      if (pos == std::string_view::npos) continue;
    }
    while (pos < line.size() && line[pos] == ' ') ++pos;
    if (pos >= line.size()) continue;
    std::string value(line.substr(pos));
    auto sp = value.find(' ');  // an optional timestamp follows
    if (sp != std::string::npos) value.resize(sp);
    char* end = nullptr;
    s.value = std::strtod(value.c_str(), &end);
    if (end == value.c_str()) continue;
    samples.push_back(std::move(s));
  }
  return samples;
}

double metric_sum(const std::vector<Sample>& samples, std::string_view name,
                  const std::map<std::string, std::string>& match) {
  double sum = 0;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& [k, v] : match) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) {
        all = false;
        break;
      }
    }
    if (all) sum += s.value;
  }
  return sum;
}

bool metric_present(const std::vector<Sample>& samples, std::string_view name) {
  for (const auto& s : samples) {
    if (s.name == name) return true;
  }
  return false;
}

}  // namespace tether::demo_tour
