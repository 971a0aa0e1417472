// timeline_svg (tether/debug.hpp): one finished request as bars on a shared time axis.
#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>

#include "tether/debug.hpp"

namespace tether::debug {
namespace {

constexpr double kWidth = 960;
constexpr double kLabelWidth = 300;  // the context names, left of the bars
constexpr double kRight = 20;
constexpr double kRow = 22;
constexpr double kTop = 64;  // title, legend and axis above the first row

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
      default:
        out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string ms(std::chrono::nanoseconds ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(ns.count()) / 1e6);
  return buf;
}

/// "done", "canceled", "deadline_exceeded" or "alive". Done: released, or cancelled without
/// a cause — the owner's own cancel when its work was over (Go's `defer cancel()`).
const char* ending(const registry::FinishedNode& n) {
  if (!n.ended) return "alive";
  if (n.released || n.state == registry::State::active) return "done";
  static const std::string plain = std::error_code(errc::canceled).message();
  if (n.state == registry::State::canceled && n.cause == plain) return "done";
  return registry::to_string(n.state);
}

const char* colour(std::string_view ending) {
  if (ending == "canceled") return "#c0392b";
  if (ending == "deadline_exceeded") return "#d68910";
  if (ending == "alive") return "#3d7be0";
  return "#2e8b57";
}

/// The axis spans the request, every context's end, and deadlines not far beyond them.
std::chrono::nanoseconds axis_end(const registry::Finished& f) {
  std::chrono::nanoseconds end = std::max(f.duration, std::chrono::nanoseconds(1));
  for (const auto& n : f.contexts)
    if (n.ended) end = std::max(end, *n.ended);
  const auto span = end;
  for (const auto& n : f.contexts)
    if (n.deadline && *n.deadline > end && *n.deadline <= 2 * span) end = *n.deadline;
  return end;
}

std::size_t depth_of(const registry::Finished& f, std::size_t i) {
  std::size_t d = 0;
  while (f.contexts[i].parent != registry::FinishedNode::kNoParent && d < 64) {
    i = f.contexts[i].parent;
    ++d;
  }
  return d;
}

std::string name_of(const registry::FinishedNode& n) {
  std::string name = n.kind;
  for (const auto& [key, value] : n.values)
    if (key != "trace") name += " " + key + "=" + value;  // the title has the trace id
  return name.size() > 36 ? name.substr(0, 35) + "…" : name;
}

void legend_and_axis(std::string& out, const registry::Finished& f, std::chrono::nanoseconds end,
                     double height) {
  out += "<text x=\"8\" y=\"16\" class=\"title\">" + esc(f.label) + " · " + esc(ms(f.duration));
  if (!f.result.empty()) out += " · " + esc(f.result);
  if (!f.cause.empty()) out += " · " + esc(f.cause);
  if (!f.trace_id.empty()) out += " · trace " + esc(f.trace_id);
  out += "</text>";
  double x = 8;
  for (std::string_view e : {"done", "canceled", "deadline_exceeded", "alive"}) {
    out += "<rect x=\"" + num(x) + "\" y=\"24\" width=\"10\" height=\"10\" fill=\"" + colour(e) +
           "\"/><text x=\"" + num(x + 14) + "\" y=\"33\" class=\"legend\">" + std::string(e) +
           "</text>";
    x += 34 + 7.5 * static_cast<double>(e.size());
  }
  out += "<line class=\"deadline key\" x1=\"" + num(x + 4) + "\" y1=\"23\" x2=\"" + num(x + 4) +
         "\" y2=\"35\"/><text x=\"" + num(x + 12) + "\" y=\"33\" class=\"legend\">deadline</text>";
  const double span = kWidth - kLabelWidth - kRight;
  for (int i = 0; i <= 4; ++i) {
    const double tx = kLabelWidth + span * i / 4;
    out += "<line x1=\"" + num(tx) + "\" y1=\"" + num(kTop - 6) + "\" x2=\"" + num(tx) +
           "\" y2=\"" + num(height - 4) + "\" class=\"grid\"/>";
    out += "<text x=\"" + num(tx) + "\" y=\"" + num(kTop - 10) + "\" class=\"tick\"" +
           " text-anchor=\"" +
           (i == 0   ? "start"
            : i == 4 ? "end"
                     : "middle") +
           "\">" + esc(ms(end * i / 4)) + "</text>";
  }
}

}  // namespace

std::string timeline_svg(const registry::Finished& f) {
  const std::chrono::nanoseconds end = axis_end(f);
  const double span = kWidth - kLabelWidth - kRight;
  auto x_of = [&](std::chrono::nanoseconds t) {
    const double r = static_cast<double>(t.count()) / static_cast<double>(end.count());
    return kLabelWidth + span * std::clamp(r, 0.0, 1.0);
  };
  const double height = kTop + kRow * static_cast<double>(f.contexts.size()) + 8;
  std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" width=\"" +
                    num(kWidth) + "\" height=\"" + num(height) + "\" viewBox=\"0 0 " + num(kWidth) +
                    " " + num(height) + "\" data-id=\"" + std::to_string(f.id) + "\">";
  out +=
      "<style>text{font:12px ui-monospace,monospace;fill:#1d2330}.title{font-weight:600}"
      ".tick{fill:#6b7385}.grid{stroke:#e3e6ec}"
      ".deadline{stroke:#1d2330;stroke-width:2}.legend{fill:#4a5263}</style>";
  legend_and_axis(out, f, end, height);
  for (std::size_t i = 0; i < f.contexts.size(); ++i) {
    const registry::FinishedNode& n = f.contexts[i];
    const double y = kTop + kRow * static_cast<double>(i);
    const char* e = ending(n);
    out += "<text x=\"" + num(8 + 12 * static_cast<double>(depth_of(f, i))) + "\" y=\"" +
           num(y + 15) + "\">" + esc(name_of(n)) + "</text>";
    const double x0 = x_of(n.created);
    const double x1 = std::max(x0 + 2, x_of(n.ended ? *n.ended : end));
    std::string tip = name_of(n) + ": " + e + " at " + (n.ended ? ms(*n.ended) : "end");
    if (!n.cause.empty()) tip += ", cause: " + n.cause;
    if (n.callbacks != 0) tip += ", after_func: " + std::to_string(n.callbacks);
    out += "<rect class=\"bar " + std::string(e) + "\" data-cause=\"" + esc(n.cause) + "\" x=\"" +
           num(x0) + "\" y=\"" + num(y + 4) + "\" width=\"" + num(x1 - x0) +
           "\" height=\"14\" rx=\"2\" fill=\"" + colour(e) + "\"><title>" + esc(tip) +
           "</title></rect>";
    if (n.deadline && *n.deadline <= end) {
      const double dx = x_of(*n.deadline);
      out += "<line class=\"deadline\" x1=\"" + num(dx) + "\" y1=\"" + num(y + 1) + "\" x2=\"" +
             num(dx) + "\" y2=\"" + num(y + 21) + "\"><title>deadline at " + esc(ms(*n.deadline)) +
             "</title></line>";
    }
  }
  out += "</svg>";
  return out;
}

}  // namespace tether::debug
