#include "debug_page.hpp"

#include <cstdio>
#include <string_view>

#include "web_assets.hpp"

namespace tether_demo {
namespace {

std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// As contexts.js's duration(): "12.3 ms", "1.50 s".
std::string duration(std::chrono::nanoseconds ns) {
  const double ms = static_cast<double>(ns.count()) / 1e6;
  char buf[32];
  if (ms >= 1000 || ms <= -1000) {
    std::snprintf(buf, sizeof buf, "%.2f s", ms / 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f ms", ms);
  }
  return buf;
}

// As contexts.js's renderNode(): `parent_trace` is the trace id shown above; a node repeats
// it only when it differs.
void render_node(std::string& out, const tether::registry::ContextNode& n,
                 const std::string& parent_trace) {
  const std::string state = tether::registry::to_string(n.state);
  std::string line = "<span class=\"kind\">" + esc(n.kind) + "</span><span class=\"state\">" +
                     esc(state) + "</span>";
  if (n.time_left) line += "<span class=\"left\">left " + esc(duration(*n.time_left)) + "</span>";
  if (!n.cause.empty()) line += "<span class=\"cause\">cause: " + esc(n.cause) + "</span>";
  if (!n.values.empty()) {
    line += "<span class=\"values\">";
    for (std::size_t i = 0; i < n.values.size(); ++i)
      line += (i ? " " : "") + esc(n.values[i].first) + "=" + esc(n.values[i].second);
    line += "</span>";
  }
  if (n.callbacks != 0)
    line += "<span class=\"cb\">callbacks " + std::to_string(n.callbacks) + "</span>";
  if (!n.trace_id.empty() && n.trace_id != parent_trace)
    line += "<span class=\"trace\">trace " + esc(n.trace_id) + "</span>";
  if (n.truncated) line += "<span class=\"cb\">(truncated)</span>";
  out += "<div class=\"node " + esc(state) + "\"><div class=\"line\">" + line + "</div>";
  if (!n.children.empty()) {
    out += "<div class=\"children\">";
    for (const auto& child : n.children) render_node(out, child, n.trace_id);
    out += "</div>";
  }
  out += "</div>";
}

void replace(std::string& text, std::string_view placeholder, std::string_view with) {
  if (auto at = text.find(placeholder); at != std::string::npos)
    text.replace(at, placeholder.size(), with);
}

}  // namespace

std::string contexts_json(bool registry_on) {
  if (!registry_on) return R"({"contexts":[],"registry":"off"})";
  return tether::registry::to_json(tether::registry::snapshot());
}

std::string render_entries_html(const std::vector<tether::registry::Entry>& entries) {
  if (entries.empty()) return "<p class=\"empty\">No request in flight.</p>";
  std::string out;
  for (const auto& e : entries) {
    out += "<section class=\"request\" data-trace-id=\"" + esc(e.context.trace_id) +
           "\" data-id=\"" + std::to_string(e.id) + "\"><h2>" + esc(e.label) +
           "<span class=\"age\">age " + esc(duration(e.age)) + "</span></h2>";
    render_node(out, e.context, "");
    out += "</section>";
  }
  return out;
}

std::string contexts_html(bool registry_on) {
  std::vector<tether::registry::Entry> entries;
  if (registry_on) entries = tether::registry::snapshot();
  // Each placeholder is searched from the start of the page; the tree — text taken from
  // contexts (labels, values), which could contain "{{...}}" — goes in last, so it is never
  // searched.
  std::string page(web::contexts_html);
  replace(page, "{{STYLE}}", web::contexts_css);
  replace(page, "{{REGISTRY}}", registry_on ? "registry on" : "registry off (--registry off)");
  replace(page, "{{COUNT}}", std::to_string(entries.size()) + " tracked");
  const std::string tree = render_entries_html(entries);
  replace(page, "{{SCRIPT}}", web::contexts_js);
  replace(page, "{{TREE}}", tree);
  return page;
}

}  // namespace tether_demo
