#include "activity_service.hpp"

#include <array>
#include <chrono>
#include <string_view>

#include "knobs.hpp"

namespace tether_demo {
namespace {

tether::http::Response json_response(int status, const nlohmann::ordered_json& body) {
  tether::http::Response r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = body.dump();
  return r;
}

}  // namespace

nlohmann::ordered_json activity_events(std::int64_t id) {
  static constexpr std::array<std::string_view, 5> kKinds = {"login", "view", "purchase", "comment",
                                                             "view"};
  nlohmann::ordered_json events = nlohmann::ordered_json::array();
  std::int64_t minutes = 0;
  for (std::int64_t i = 0; i < 5; ++i) {
    minutes += 1 + (id * 31 + i * 17) % 90;
    events.push_back({{"kind", kKinds[static_cast<std::size_t>((id + i) % 5)]},
                      {"item", "item-" + std::to_string((id * 7919 + i * 104729) % 10000)},
                      {"minutes_ago", minutes}});
  }
  return events;
}

ActivityService::ActivityService(Log& log, std::uint16_t port, unsigned workers, std::int64_t users)
    : users_(users),
      server_(tether::background(), tether::http::ServerOptions{
                                        .port = port,
                                        .workers = workers,
                                        .access_log =
                                            [&log](const tether::http::AccessLogEntry& e) {
                                              log.info("activity request",
                                                       {{"method", e.method},
                                                        {"path", e.path},
                                                        {"status", e.status},
                                                        {"duration_ms", to_ms(e.duration)},
                                                        {"trace_id", e.trace_id},
                                                        {"cause", e.cause}});
                                            },
                                    }) {
  server_.route("GET", "/activity/{id}",
                [this](const tether::Context& ctx, const tether::http::Request& req) {
                  return handle(ctx, req);
                });
}

void ActivityService::start() { server_.start(); }

tether::http::Response ActivityService::handle(const tether::Context& ctx,
                                               const tether::http::Request& req) {
  auto id = parse_int(req.path_value("id"), 1, INT64_MAX);
  if (!id) return json_response(400, {{"error", "bad user id"}});
  std::chrono::milliseconds latency{0};
  bool fail = false;
  for (auto [name, value] : split_query(req.query())) {
    if (name == "latency_ms") {
      auto ms = parse_int(value, 0, 3'600'000);
      if (!ms) return json_response(400, {{"error", "bad latency_ms"}});
      latency = std::chrono::milliseconds(*ms);
    } else if (name == "fail") {
      if (value != "0" && value != "1") return json_response(400, {{"error", "bad fail"}});
      fail = value == "1";
    }
  }
  // The artificial latency is a wait on this request's own context: it ends early when the
  // caller hangs up (client disconnected) or its propagated deadline passes.
  if (latency.count() > 0 && ctx.done().wait_for(latency)) return {};  // nothing is written
  if (fail) return json_response(503, {{"error", "injected failure in activity"}});
  if (*id > users_) return json_response(404, {{"error", "user not found"}, {"id", *id}});
  return json_response(200, activity_events(*id));
}

}  // namespace tether_demo
