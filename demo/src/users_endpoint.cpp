#include "users_endpoint.hpp"

#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "fan_out.hpp"
#include "knobs.hpp"

namespace tether_demo {
namespace {

using Json = nlohmann::ordered_json;
using tether::http::Response;

// Why the critical source stopped the group; the siblings' contexts carry it as their cause.
enum class ProfileError { not_found = 1, failed };

class ProfileErrorCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tether-demo.profile"; }
  std::string message(int v) const override {
    return v == static_cast<int>(ProfileError::not_found) ? "profile: user not found"
                                                          : "profile: source failed";
  }
};

std::error_code make_error_code(ProfileError e) {
  static const ProfileErrorCategory category;
  return {static_cast<int>(e), category};
}

Response json_response(int status, const Json& body) {
  Response r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

bool degraded(Outcome o) {
  return o == Outcome::failed || o == Outcome::interrupted || o == Outcome::deadline_exceeded;
}

}  // namespace

template <class Fetch>
SourceResult UsersEndpoint::observe(const tether::Context& ctx, Source source,
                                    const std::string& trace, Fetch&& fetch) {
  const auto start = std::chrono::steady_clock::now();
  SourceResult r = fetch();
  const auto took = std::chrono::steady_clock::now() - start;

  Fields fields = {{"source", to_string(source)},
                   {"outcome", to_string(r.outcome)},
                   {"duration_ms", to_ms(took)},
                   {"trace_id", trace},
                   {"cause", ctx.err() ? tether::cause(ctx).message() : std::string()}};
  if (r.outcome == Outcome::failed) fields["error"] = r.detail;
  if (r.outcome == Outcome::deadline_exceeded && !ctx.err()) fields["cause"] = r.detail;
  if (r.stopped_mid_run) {
    if (source == Source::activity) {
      fields["call_interrupted"] = true;
      p_.metrics.call_interrupted(source);
    } else {
      fields["query_interrupted"] = true;
      p_.metrics.query_interrupted(source);
    }
  }
  p_.metrics.source_outcome(source, r.outcome);
  if (ctx.err()) p_.metrics.cancellation(tether::cause(ctx).message());
  p_.log.write(r.outcome == Outcome::failed ? Level::warn : Level::info, "source", fields);
  return r;
}

Response UsersEndpoint::handle(const tether::Context& request_ctx,
                               const tether::http::Request& req) {
  const auto started = std::chrono::steady_clock::now();
  const std::string_view id_text = req.path_value("id");
  const auto id = parse_int(id_text, 1, std::numeric_limits<std::int64_t>::max());
  if (!id) return json_response(400, {{"error", "bad user id"}, {"id", std::string(id_text)}});
  auto knobs = resolve_knobs(req.query(), p_.options);
  if (auto* message = std::get_if<std::string>(&knobs))
    return json_response(400, {{"error", *message}});
  const RequestKnobs& k = std::get<RequestKnobs>(knobs);
  auto request_for = [&](Source s) {
    const SourceSetting& setting = k[static_cast<std::size_t>(s)];
    return SourceRequest{*id, setting.latency, setting.fail};
  };
  const std::string trace = trace_id(request_ctx);

  SourceResult profile, preferences, activity;
  {
    RequestScope scope(request_ctx, req.method, req.path());
    FanOut fan(scope.context(), p_.pool);
    fan.critical(Source::profile, [&](const tether::Context& ctx) -> std::error_code {
      profile = observe(ctx, Source::profile, trace,
                        [&] { return p_.profile.fetch(ctx, request_for(Source::profile)); });
      switch (profile.outcome) {
        case Outcome::ok:
          return {};
        case Outcome::not_found:
          return make_error_code(ProfileError::not_found);
        case Outcome::failed:
          return make_error_code(ProfileError::failed);
        case Outcome::interrupted:
        case Outcome::deadline_exceeded:
          return ctx.err();
      }
      return {};
    });
    fan.non_critical(Source::preferences, [&](const tether::Context& ctx) {
      preferences = observe(ctx, Source::preferences, trace, [&] {
        return p_.preferences.fetch(ctx, request_for(Source::preferences));
      });
    });
    fan.non_critical(Source::activity, [&](const tether::Context& ctx) {
      activity = observe(ctx, Source::activity, trace,
                         [&] { return p_.activity.fetch(ctx, request_for(Source::activity)); });
    });
    (void)fan.wait();  // the outcomes above say everything the error would
  }

  if (auto deadline = request_ctx.deadline()) p_.metrics.deadline_left(*deadline - tether::now());
  // Deadline passed: the server answers 504 whatever we return. Client gone: nothing is
  // written (499). Either way there is nobody to build an answer for.
  if (request_ctx.err()) return {};

  switch (profile.outcome) {
    case Outcome::ok:
      break;
    case Outcome::not_found:
      return json_response(404, {{"error", "user not found"}, {"id", *id}});
    case Outcome::failed:
    case Outcome::interrupted:
    case Outcome::deadline_exceeded:
      return json_response(503, {{"error", "profile unavailable"},
                                 {"detail", profile.detail},
                                 {"id", *id},
                                 {"trace_id", trace}});
  }

  Json body = {{"id", *id}, {"profile", profile.data}};
  body["preferences"] = preferences.outcome == Outcome::ok ? preferences.data : Json(nullptr);
  body["activity"] = activity.outcome == Outcome::ok ? activity.data : Json(nullptr);
  Json degraded_sources = Json::array();
  if (degraded(preferences.outcome)) degraded_sources.push_back("preferences");
  if (degraded(activity.outcome)) degraded_sources.push_back("activity");
  body["degraded"] = std::move(degraded_sources);
  body["trace_id"] = trace;
  body["elapsed_ms"] = to_ms(std::chrono::steady_clock::now() - started);
  return json_response(200, body);
}

}  // namespace tether_demo
