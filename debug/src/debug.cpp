// The debug routes (tether/debug.hpp): the page, the live and history JSON, the timeline
// and the metrics, each a coroutine route answered at once on the I/O thread.
#include <algorithm>
#include <charconv>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "assets.hpp"
#include "tether/debug.hpp"

namespace tether::debug {
namespace {

boost::asio::awaitable<http::Response> answer(http::Response r) { co_return r; }

http::Response reply(int status, std::string content_type, std::string body) {
  http::Response r;
  r.status = status;
  r.headers.set("Content-Type", std::move(content_type));
  r.headers.set("Cache-Control", "no-store");
  r.body = std::move(body);
  return r;
}

/// The filters of /debug/history.json, read from the query.
struct HistoryQuery {
  std::string trace_id;
  std::string status;
  std::string cause;
  bool slowest = false;
  std::size_t limit = 0;  // 0: all

  static HistoryQuery from(const http::Request& request) {
    HistoryQuery q;
    q.trace_id = request.query_value("trace_id").value_or("");
    q.status = request.query_value("status").value_or("");
    q.cause = request.query_value("cause").value_or("");
    q.slowest = request.query_value("sort").value_or("") == "slowest";
    const std::string limit = request.query_value("limit").value_or("");
    std::from_chars(limit.data(), limit.data() + limit.size(), q.limit);
    return q;
  }

  bool keeps(const registry::Finished& f) const {
    if (!trace_id.empty() && f.trace_id != trace_id) return false;
    if (!status.empty() && f.result != status) return false;
    if (!cause.empty() && f.cause.find(cause) == std::string::npos) return false;
    return true;
  }
};

/// Newest first (or slowest first), filtered and limited.
std::vector<registry::Finished> select(const HistoryQuery& q) {
  std::vector<registry::Finished> all = registry::history();
  std::vector<registry::Finished> out;
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    if (q.keeps(*it)) out.push_back(std::move(*it));
  if (q.slowest)
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.duration > b.duration; });
  if (q.limit != 0 && out.size() > q.limit) out.resize(q.limit);
  return out;
}

/// The finished entry named by ?id= or ?trace_id=.
std::optional<registry::Finished> finished_of(const http::Request& request) {
  if (auto trace = request.query_value("trace_id")) return registry::find_finished(*trace);
  const std::string id_text = request.query_value("id").value_or("");
  std::uint64_t id = 0;
  auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || end != id_text.data() + id_text.size()) return std::nullopt;
  for (registry::Finished& f : registry::history())
    if (f.id == id) return std::move(f);
  return std::nullopt;
}

/// The snapshot's JSON; with tracking off, {"contexts":[],"registry":"off"} (or what is
/// still tracked, and the same marker).
std::string live_json() {
  std::string json = registry::to_json(registry::snapshot());
  if (!registry::enabled()) {
    json.pop_back();  // the closing brace
    json += ",\"registry\":\"off\"}";
  }
  return json;
}

/// A route serving one constant asset.
void asset(http::Server& server, const std::string& path, const char* type, std::string_view body) {
  server.route("GET", path, [type, body](Context, const http::Request&) {
    return answer(reply(200, type, std::string(body)));
  });
}

}  // namespace

void mount(http::Server& server, const Options& options) {
  registry::set_history(options.history);
  if (options.enable_tracking) registry::enable(true);
  const std::string& p = options.prefix;
  asset(server, p + "/contexts", "text/html; charset=utf-8", assets::contexts_html);
  asset(server, p + "/contexts.css", "text/css; charset=utf-8", assets::contexts_css);
  asset(server, p + "/contexts.js", "text/javascript; charset=utf-8", assets::contexts_js);
  server.route("GET", p + "/contexts.json", [](Context, const http::Request&) {
    return answer(reply(200, "application/json", live_json()));
  });
  server.route("GET", p + "/history.json", [](Context, const http::Request& request) {
    return answer(reply(200, "application/json",
                        registry::history_to_json(select(HistoryQuery::from(request)))));
  });
  server.route("GET", p + "/timeline.svg", [](Context, const http::Request& request) {
    std::optional<registry::Finished> f = finished_of(request);
    if (!f) return answer(reply(404, "text/plain; charset=utf-8", "no such finished request\n"));
    return answer(reply(200, "image/svg+xml", timeline_svg(*f)));
  });
  server.route("GET", p + "/metrics", [](Context, const http::Request&) {
    return answer(reply(200, "text/plain; version=0.0.4; charset=utf-8", metrics_text()));
  });
}

registry::Tracked track_request(const Context& ctx, const http::Request& request) {
  if (!registry::enabled()) return {};
  std::string label = request.method;
  label += ' ';
  label += request.path();
  return registry::track(ctx, std::move(label));
}

http::AccessLog recording_status(http::AccessLog next) {
  return [next = std::move(next)](const http::AccessLogEntry& e) {
    if (!e.trace_id.empty() && registry::history_capacity() != 0)
      registry::annotate(e.trace_id, std::to_string(e.status));
    if (next) next(e);
  };
}

namespace {
http::ServerOptions side_port_options(const SidePort::Config& config) {
  http::ServerOptions o;
  o.address = config.address;
  o.port = config.port;
  o.workers = 1;
  o.access_log = [](const http::AccessLogEntry&) {};  // its own requests are not news
  return o;
}
}  // namespace

SidePort::SidePort(const Context& base, Config config) : server_(base, side_port_options(config)) {
  mount(server_, config.debug);
  server_.start();
}

}  // namespace tether::debug
