#include "users_endpoint.hpp"

#include <boost/asio/this_coro.hpp>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "error.hpp"
#include "fan_out.hpp"
#include "knobs.hpp"

namespace tether_demo {
namespace {

using Json = nlohmann::ordered_json;
using tether::http::Response;

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
  record(ctx, source, trace, r, std::chrono::steady_clock::now() - start);
  return r;
}

void UsersEndpoint::record(const tether::Context& ctx, Source source, const std::string& trace,
                           const SourceResult& r, std::chrono::steady_clock::duration took) {
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
}

namespace {

// The critical source's outcome as the group sees it: empty when it succeeded, else why
// it stopped the group (the siblings' cause).
std::error_code critical_error(const tether::Context& ctx, Outcome outcome) {
  switch (outcome) {
    case Outcome::ok:
      return {};
    case Outcome::not_found:
      return make_error_code(errc::profile_not_found);
    case Outcome::failed:
      return make_error_code(errc::profile_failed);
    case Outcome::interrupted:
    case Outcome::deadline_exceeded:
      return ctx.err();
  }
  return {};
}

}  // namespace

boost::asio::awaitable<UsersEndpoint::Sources> UsersEndpoint::fetch_all(
    tether::Context request_ctx, const tether::http::Request& req, Call call) {
  auto request_for = [&](Source s) {
    const SourceSetting& setting = call.knobs[static_cast<std::size_t>(s)];
    return SourceRequest{call.id, setting.latency, setting.fail};
  };
  Sources got;
  RequestScope scope(request_ctx, req.method, req.path());
  FanOut fan(scope.context(), p_.pool);
  fan.critical(Source::profile, [&](const tether::Context& ctx) {
    got.profile = observe(ctx, Source::profile, call.trace,
                          [&] { return p_.profile.fetch(ctx, request_for(Source::profile)); });
    return critical_error(ctx, got.profile.outcome);
  });
  fan.non_critical(Source::preferences, [&](const tether::Context& ctx) {
    got.preferences = observe(ctx, Source::preferences, call.trace, [&] {
      return p_.preferences.fetch(ctx, request_for(Source::preferences));
    });
  });
  if (!p_.activity.awaitable()) {  // a blocking call (gRPC): on the pool
    fan.non_critical(Source::activity, [&](const tether::Context& ctx) {
      got.activity = observe(ctx, Source::activity, call.trace,
                             [&] { return p_.activity.fetch(ctx, request_for(Source::activity)); });
    });
  } else {  // the HTTP call, awaited on this coroutine's executor: no thread waits for it
    const auto start = std::chrono::steady_clock::now();
    fan.non_critical_co(Source::activity, co_await boost::asio::this_coro::executor,
                        [&](tether::Context ctx) -> boost::asio::awaitable<void> {
                          try {
                            got.activity =
                                co_await p_.activity.co_fetch(ctx, request_for(Source::activity));
                          } catch (const std::exception& e) {  // not lost with the coroutine
                            got.activity = {Outcome::failed, nullptr, e.what(), false};
                          }
                          record(ctx, Source::activity, call.trace, got.activity,
                                 std::chrono::steady_clock::now() - start);
                        });
  }
  (void)co_await fan.co_wait();  // the outcomes above say everything the error would
  co_return got;
}

Response UsersEndpoint::answer(const Call& call, const Sources& got) const {
  switch (got.profile.outcome) {
    case Outcome::ok:
      break;
    case Outcome::not_found:
      return json_response(404, {{"error", "user not found"}, {"id", call.id}});
    case Outcome::failed:
    case Outcome::interrupted:
    case Outcome::deadline_exceeded:
      return json_response(503, {{"error", "profile unavailable"},
                                 {"detail", got.profile.detail},
                                 {"id", call.id},
                                 {"trace_id", call.trace}});
  }
  Json body = {{"id", call.id}, {"profile", got.profile.data}};
  body["preferences"] =
      got.preferences.outcome == Outcome::ok ? got.preferences.data : Json(nullptr);
  body["activity"] = got.activity.outcome == Outcome::ok ? got.activity.data : Json(nullptr);
  Json degraded_sources = Json::array();
  if (degraded(got.preferences.outcome)) degraded_sources.push_back("preferences");
  if (degraded(got.activity.outcome)) degraded_sources.push_back("activity");
  body["degraded"] = std::move(degraded_sources);
  body["trace_id"] = call.trace;
  body["elapsed_ms"] = to_ms(std::chrono::steady_clock::now() - call.started);
  return json_response(200, body);
}

boost::asio::awaitable<Response> UsersEndpoint::handle(tether::Context request_ctx,
                                                       const tether::http::Request& req) {
  const auto started = std::chrono::steady_clock::now();
  const std::string_view id_text = req.path_value("id");
  const auto id = parse_int(id_text, 1, std::numeric_limits<std::int64_t>::max());
  if (!id) co_return json_response(400, {{"error", "bad user id"}, {"id", std::string(id_text)}});
  Result<RequestKnobs> knobs = resolve_knobs(req.query(), p_.options);
  if (!knobs) co_return json_response(400, {{"error", knobs.error().message}});
  const Call call{*id, *knobs, trace_id(request_ctx), started};

  const Sources got = co_await fetch_all(request_ctx, req, call);

  if (auto deadline = request_ctx.deadline()) p_.metrics.deadline_left(*deadline - tether::now());
  // Deadline passed: the server answers 504 whatever we return. Client gone: nothing is
  // written (499). Either way there is nobody to build an answer for.
  if (request_ctx.err()) co_return Response{};
  co_return answer(call, got);
}

}  // namespace tether_demo
