#include "activity_service.hpp"

#include <array>
#include <chrono>
#include <string_view>

#include "knobs.hpp"
#include "tether/asio/awaitable.hpp"

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
                [this](tether::Context ctx, const tether::http::Request& req) {
                  return handle(std::move(ctx), req);
                });
}

void ActivityService::start() { server_.start(); }

Result<ActivityQuery> parse_activity_query(std::string_view query) {
  ActivityQuery q;
  for (auto [name, value] : split_query(query)) {
    if (name == "latency_ms") {
      auto ms = parse_int(value, 0, 3'600'000);
      if (!ms) return Error{make_error_code(errc::bad_query), "bad latency_ms"};
      q.latency = std::chrono::milliseconds(*ms);
    } else if (name == "fail") {
      if (value != "0" && value != "1") return Error{make_error_code(errc::bad_query), "bad fail"};
      q.fail = value == "1";
    }
  }
  return q;
}

boost::asio::awaitable<tether::http::Response> ActivityService::handle(
    tether::Context ctx, const tether::http::Request& req) {
  auto id = parse_int(req.path_value("id"), 1, INT64_MAX);
  if (!id) co_return json_response(400, {{"error", "bad user id"}});
  const Result<ActivityQuery> q = parse_activity_query(req.query());
  if (!q) co_return json_response(400, {{"error", q.error().message}});
  // The artificial latency is a wait on this request's own context, holding no thread: it
  // ends early when the caller hangs up (client disconnected) or its propagated deadline
  // passes, and then nothing is written.
  if (q->latency.count() > 0 && co_await tether::asio::sleep_for(ctx, q->latency))
    co_return tether::http::Response{};
  if (q->fail) co_return json_response(503, {{"error", "injected failure in activity"}});
  if (*id > users_) co_return json_response(404, {{"error", "user not found"}, {"id", *id}});
  co_return json_response(200, activity_events(*id));
}

}  // namespace tether_demo
