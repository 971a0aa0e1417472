#include "scenarios.hpp"

#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "metrics_text.hpp"
#include "tether/harness/raw_http.hpp"

namespace tether::demo_tour {

namespace {

using namespace std::chrono_literals;
using namespace tether::harness;  // raw HTTP (harness/, shared with the tests)
using Json = nlohmann::json;
using Millis = std::chrono::duration<double, std::milli>;

// Calls the tour makes for itself (metrics, snapshots) get this long.
constexpr auto kCallBound = 5s;
// How long the tour waits for a log line that should already be on its way.
constexpr auto kLogBound = 3s;

std::string format_ms(double ms) {
  char buf[32];
  if (ms < 10) {
    std::snprintf(buf, sizeof buf, "%.1f ms", ms);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f ms", ms);
  }
  return buf;
}

std::string short_trace(const std::string& hex) { return hex.substr(0, 8) + "…"; }

std::string list_of(const Json& array) {
  if (!array.is_array()) return array.is_null() ? "null" : array.dump();
  std::string out = "[";
  for (std::size_t i = 0; i < array.size(); ++i) {
    if (i) out += ", ";
    out += array[i].is_string() ? array[i].get<std::string>() : array[i].dump();
  }
  return out + "]";
}

// Gathers what a scenario saw: the observed text, and the problems that make it fail.
class Observation {
 public:
  void note(const std::string& text) { parts_.push_back(text); }
  void fail(const std::string& problem) { problems_.push_back(problem); }
  void check(bool condition, const std::string& problem) {
    if (!condition) fail(problem);
  }
  ScenarioResult result(std::string name, std::string expected) const {
    ScenarioResult r{std::move(name), std::move(expected), {}, problems_.empty()};
    std::string text;
    for (const auto& p : parts_) text += (text.empty() ? "" : "; ") + p;
    for (const auto& p : problems_) text += (text.empty() ? "" : "; ") + std::string("FAIL: ") + p;
    r.observed = text;
    return r;
  }

 private:
  std::vector<std::string> parts_;
  std::vector<std::string> problems_;
};

// True when the call got no answer. tether::http's client reports a 504 as
// deadline_exceeded and keeps the response: for the tour a 504 is an answer like any other.
bool no_answer(const Fetched& f) { return f.response() == nullptr; }

// The response's JSON body (null when it is not JSON), with the call's error noted.
Json body_of(const Fetched& f, Observation& obs) {
  if (no_answer(f)) {
    obs.fail("call failed: " + f.why() + " after " + format_ms(f.elapsed.count()));
    return nullptr;
  }
  Json body = Json::parse(f.body(), nullptr, false);
  if (body.is_discarded()) {
    obs.fail("status " + std::to_string(f.status()) + ", body not JSON: " + f.body().substr(0, 60));
    return nullptr;
  }
  return body;
}

bool is_request_line(const LogLine& l, const std::string& trace) {
  return l.msg() == "request" && l.string_field("trace_id") == trace;
}

bool is_source_line(const LogLine& l, const std::string& trace, const char* source) {
  return l.msg() == "source" && l.string_field("trace_id") == trace &&
         l.string_field("source") == source;
}

std::vector<Sample> scrape_metrics(std::uint16_t port, Observation& obs) {
  Fetched f = fetch(port, "/metrics", kCallBound);
  if (!f.result || f.status() != 200) {
    obs.fail("/metrics unavailable: " + (!f.result ? f.why() : std::to_string(f.status())));
    return {};
  }
  return parse_metrics(f.body());
}

// The trace ids of the /users requests /debug/contexts.json lists right now.
std::set<std::string> tracked_trace_ids(std::uint16_t port) {
  std::set<std::string> ids;
  Fetched f = fetch(port, "/debug/contexts.json", kCallBound);
  if (!f.result || f.status() != 200) return ids;
  Json j = Json::parse(f.body(), nullptr, false);
  if (!j.is_object() || !j.contains("contexts") || !j["contexts"].is_array()) return ids;
  for (const auto& e : j["contexts"]) {
    if (e.contains("context") && e["context"].is_object() && e["context"].contains("trace_id") &&
        e["context"]["trace_id"].is_string()) {
      ids.insert(e["context"]["trace_id"].get<std::string>());
    }
  }
  return ids;
}

// When the service logged `line`, relative to `then`, from its "ts" field (millisecond
// resolution); falls back on when the tour received the line.
double ms_after(const LogLine& line, std::chrono::system_clock::time_point then_wall,
                std::chrono::steady_clock::time_point then_steady, bool& from_ts) {
  if (auto ts = parse_rfc3339(line.string_field("ts"))) {
    from_ts = true;
    // ts is truncated to the millisecond: compare with the hang-up truncated likewise.
    auto then_ms = std::chrono::floor<std::chrono::milliseconds>(then_wall);
    return std::max(0.0, Millis(*ts - then_ms).count());
  }
  from_ts = false;
  return Millis(line.received - then_steady).count();
}

}  // namespace

// (a) ----------------------------------------------------------------------------------
ScenarioResult normal_request(DemoService& service, const Progress& progress) {
  Observation obs;
  const TraceContext trace = TraceContext::new_root();
  const std::string trace_hex = trace.trace_id_hex();
  const std::size_t mark = service.log().size();
  progress("GET /users/42 (traceparent trace " + short_trace(trace_hex) + ")");
  Fetched f = fetch(service.port(), "/users/42", kCallBound, trace);
  Json body = body_of(f, obs);
  if (body.is_object()) {
    const int status = f.status();
    obs.note(std::to_string(status) + " in " + format_ms(f.elapsed.count()));
    obs.check(status == 200, "status " + std::to_string(status) + ", not 200");
    obs.check(body.value("id", Json()) == 42, "id is not 42");
    const bool profile = body.contains("profile") && body["profile"].is_object();
    const bool preferences = body.contains("preferences") && body["preferences"].is_object();
    const bool activity = body.contains("activity") && body["activity"].is_array();
    obs.check(profile, "no profile object");
    obs.check(preferences, "no preferences object");
    obs.check(activity, "no activity array");
    if (profile && preferences && activity) {
      obs.note("profile + preferences + " + std::to_string(body["activity"].size()) +
               " activity items");
    }
    const Json degraded = body.value("degraded", Json());
    obs.note("degraded " + list_of(degraded));
    obs.check(degraded.is_array() && degraded.empty(), "degraded is not []");
    obs.check(body.value("trace_id", std::string()) == trace_hex,
              "trace_id is not the caller's trace");
  }
  auto logged = service.log().wait_for(
      [&](const LogLine& l) { return is_request_line(l, trace_hex); }, kLogBound, mark);
  if (logged) {
    obs.note("log: \"request\" status " +
             std::to_string(static_cast<int>(logged->number_field("status").value_or(0))) +
             " trace " + short_trace(trace_hex));
  } else {
    obs.fail("no \"request\" log line with the trace id within 3 s");
  }
  return obs.result("normal request",
                    "200, full JSON (profile, preferences, activity), degraded [], the caller's "
                    "trace id in body and log");
}

// (b) ----------------------------------------------------------------------------------
ScenarioResult slow_non_critical_source(DemoService& service, const Progress& progress) {
  Observation obs;
  const TraceContext trace = TraceContext::new_root();
  const std::string trace_hex = trace.trace_id_hex();
  const std::size_t mark = service.log().size();
  progress("GET /users/43?activity_latency=2000 (deadline " +
           std::to_string(kRequestDeadline.count()) + " ms)");
  Fetched f = fetch(service.port(), "/users/43?activity_latency=2000", kCallBound, trace);
  Json body = body_of(f, obs);
  const double ms = f.elapsed.count();
  if (body.is_object()) {
    const int status = f.status();
    const Json degraded = body.value("degraded", Json());
    obs.note(std::to_string(status) + " partial in " + format_ms(ms) + ", degraded " +
             list_of(degraded));
    obs.check(status == 200, "status " + std::to_string(status) + ", not 200");
    obs.check(degraded == Json::array({"activity"}), "degraded is not [activity]");
    obs.check(body.value("activity", Json(0)).is_null(), "activity is not null");
    obs.check(body.contains("profile") && body["profile"].is_object(), "no profile object");
    obs.check(ms >= static_cast<double>(kNearDeadlineLow.count()) &&
                  ms <= static_cast<double>(kNearDeadlineHigh.count()),
              "elapsed " + format_ms(ms) + " is not near the deadline");
  }
  if (auto src = service.log().wait_for(
          [&](const LogLine& l) { return is_source_line(l, trace_hex, "activity"); }, kLogBound,
          mark)) {
    obs.note("log: activity " + src->string_field("outcome") +
             (src->flag("call_interrupted") ? ", call interrupted" : ""));
  }
  return obs.result("slow non-critical source (activity 2 s)",
                    "200 partial, degraded [activity], near the 500 ms deadline (300-1000 ms), "
                    "not after 2 s");
}

// (c) ----------------------------------------------------------------------------------
ScenarioResult slow_critical_source(DemoService& service, const Progress& progress) {
  Observation obs;
  const TraceContext trace = TraceContext::new_root();
  const std::string trace_hex = trace.trace_id_hex();
  const std::size_t mark = service.log().size();
  progress("GET /users/44?profile_latency=2000");
  Fetched f = fetch(service.port(), "/users/44?profile_latency=2000", kCallBound, trace);
  const double ms = f.elapsed.count();
  if (no_answer(f)) {
    obs.fail("call failed: " + f.why() + " after " + format_ms(ms));
  } else {
    const int status = f.status();
    obs.note(std::to_string(status) + " in " + format_ms(ms));
    obs.check(status == 504, "status " + std::to_string(status) + ", not 504");
    obs.check(ms >= static_cast<double>(kNearDeadlineLow.count()) &&
                  ms <= static_cast<double>(kNearDeadlineHigh.count()),
              "elapsed " + format_ms(ms) + " is not near the deadline");
  }
  if (auto src = service.log().wait_for(
          [&](const LogLine& l) { return is_source_line(l, trace_hex, "profile"); }, kLogBound,
          mark)) {
    obs.note("log: profile " + src->string_field("outcome") +
             (src->flag("query_interrupted") ? ", SQL query interrupted" : ""));
  }
  return obs.result("slow critical source (profile 2 s)",
                    "504 near the 500 ms deadline (300-1000 ms), not after 2 s");
}

// (d) ----------------------------------------------------------------------------------
namespace {

// The moment a scenario's client hung up, and the checks of the log lines that must follow
// it within kInterruptBound.
class HangUp {
 public:
  explicit HangUp(Observation& obs)
      : obs_(obs),
        wall_(std::chrono::system_clock::now()),
        steady_(std::chrono::steady_clock::now()) {}

  // One expected log line: `seen` says what it showed, `as_expected` whether that is what
  // the scenario expects; either way it must be logged promptly after the hang-up.
  void expect(const char* what, const std::optional<LogLine>& line,
              const std::function<std::string(const LogLine&)>& seen, bool as_expected) {
    if (!line) return obs_.fail(std::string("no log line for ") + what + " within 3 s");
    bool from_ts = false;
    const double after = ms_after(*line, wall_, steady_, from_ts);
    all_from_ts_ = all_from_ts_ && from_ts;
    // Log timestamps have a 1 ms resolution: 0 means the same millisecond as the hang-up.
    char when[32];
    std::snprintf(when, sizeof when, after < 1 ? " within 1 ms" : " +%.0f ms", after);
    obs_.note(seen(*line) + when);
    obs_.check(as_expected, std::string(what) + " not as expected: " + line->text);
    obs_.check(after <= static_cast<double>(kInterruptBound.count()),
               std::string(what) + " logged " + format_ms(after) + " after the hang-up");
  }
  // Notes when some times could not be read from the lines' "ts".
  void note_clock() const {
    if (!all_from_ts_) obs_.note("(some times measured on arrival: no parsable \"ts\")");
  }

 private:
  Observation& obs_;
  std::chrono::system_clock::time_point wall_;
  std::chrono::steady_clock::time_point steady_;
  bool all_from_ts_ = true;
};

std::string quoted_cause(const LogLine& l) {
  const std::string cause = l.string_field("cause");
  return cause.empty() ? std::string("no cause") : "\"" + cause + "\"";
}

// The demo's counters of statements and calls its contexts interrupted.
struct InterruptCounters {
  double queries = 0;  // tether_demo_queries_interrupted_total{source="profile"}
  double calls = 0;    // tether_demo_calls_interrupted_total{source="activity"}
};

InterruptCounters read_interrupts(std::uint16_t port, Observation& obs) {
  const auto samples = scrape_metrics(port, obs);
  return {metric_sum(samples, "tether_demo_queries_interrupted_total", {{"source", "profile"}}),
          metric_sum(samples, "tether_demo_calls_interrupted_total", {{"source", "activity"}})};
}

// The counters once both grew past `before`, or as they are after 2 s. They are updated
// when the sources return, which the log lines follow; this polls briefly all the same in
// case the service updates them after logging.
InterruptCounters wait_for_interrupts(std::uint16_t port, const InterruptCounters& before) {
  const auto until = std::chrono::steady_clock::now() + 2s;
  for (;;) {
    Observation scratch;
    const InterruptCounters now = read_interrupts(port, scratch);
    if ((now.queries > before.queries && now.calls > before.calls) ||
        std::chrono::steady_clock::now() >= until)
      return now;
    std::this_thread::sleep_for(20ms);
  }
}

// Checks the log lines of one hung-up request: the edge's 499, the profile's interrupted
// query, the activity's interrupted call, and the activity service's own request.
void expect_disconnect_lines(DemoService& service, HangUp& hangup, const std::string& trace_hex,
                             std::size_t mark) {
  auto next = [&](const ServiceLog::Predicate& match) {
    return service.log().wait_for(match, kLogBound, mark);
  };
  auto request = next([&](const LogLine& l) { return is_request_line(l, trace_hex); });
  hangup.expect(
      "the request", request,
      [](const LogLine& l) {
        return "request " + std::to_string(static_cast<int>(l.number_field("status").value_or(0))) +
               " " + quoted_cause(l);
      },
      request && request->number_field("status") == 499.0 &&
          request->string_field("cause") == "client disconnected");
  auto query = next([&](const LogLine& l) { return is_source_line(l, trace_hex, "profile"); });
  hangup.expect(
      "the profile source", query,
      [](const LogLine& l) {
        return "profile " + l.string_field("outcome") +
               (l.flag("query_interrupted") ? ", SQL query stopped" : ", query ran on");
      },
      query && query->flag("query_interrupted"));
  auto call = next([&](const LogLine& l) { return is_source_line(l, trace_hex, "activity"); });
  hangup.expect(
      "the activity source", call,
      [](const LogLine& l) {
        return "activity " + l.string_field("outcome") +
               (l.flag("call_interrupted") ? ", HTTP call cut off" : ", call ran on");
      },
      call && call->flag("call_interrupted"));
  auto served = next([&](const LogLine& l) {
    return l.msg() == "activity request" && l.string_field("trace_id") == trace_hex;
  });
  hangup.expect(
      "the activity service's request", served,
      [](const LogLine& l) { return "activity service: " + quoted_cause(l); },
      served && served->string_field("cause") == "client disconnected");
}

}  // namespace

ScenarioResult client_disconnects(DemoService& service, const Progress& progress) {
  Observation obs;
  const InterruptCounters before = read_interrupts(service.port(), obs);
  const TraceContext trace = TraceContext::new_root();
  const std::size_t mark = service.log().size();
  const std::string target =
      "/users/46?profile_latency=3000&preferences_latency=3000&activity_latency=3000";
  progress("GET " + target + ", then hang up after 150 ms");
  std::optional<HangUp> hangup;
  {
    RawConnection c = RawConnection::connect(service.port());
    c.send_all(format_get(target, {{"traceparent", traceparent_of(trace)}}));
    // The scenario itself: a client that gives up after 150 ms.
    std::this_thread::sleep_for(150ms);
    hangup.emplace(obs);
    c.close();
  }
  expect_disconnect_lines(service, *hangup, trace.trace_id_hex(), mark);
  hangup->note_clock();
  // After the fact, the history view shows this request: its status, its cause and the
  // cascade of its contexts on a timeline.
  const std::string history = "/debug/history.json?trace_id=" + trace.trace_id_hex();
  const Fetched seen = fetch(service.port(), history, kCallBound);
  obs.check(seen.result.ok() && seen.result->body.find("\"result\":\"499\"") != std::string::npos,
            "the request is not in " + history + " with status 499");
  obs.note("see it in the history view: http://127.0.0.1:" + std::to_string(service.port()) +
           "/debug/contexts?trace_id=" + trace.trace_id_hex());

  const InterruptCounters after = wait_for_interrupts(service.port(), before);
  char counters[160];
  std::snprintf(counters, sizeof counters,
                "metrics: queries_interrupted %+.0f, calls_interrupted %+.0f",
                after.queries - before.queries, after.calls - before.calls);
  obs.note(counters);
  obs.check(after.queries > before.queries,
            "tether_demo_queries_interrupted_total{source=\"profile\"} did not grow");
  obs.check(after.calls > before.calls,
            "tether_demo_calls_interrupted_total{source=\"activity\"} did not grow");
  return obs.result("client disconnects mid-request",
                    "499 \"client disconnected\", SQL query and activity call interrupted, "
                    "each logged < 100 ms after the hang-up; interrupt counters grow");
}

// (e) ----------------------------------------------------------------------------------
ScenarioResult caller_timeout_header(DemoService& service, const Progress& progress) {
  Observation obs;
  const std::string target = "/users/47?preferences_latency=2000&activity_latency=2000";
  progress("GET " + target + " with grpc-timeout: 100m");
  http::Headers headers;
  headers.set("grpc-timeout", std::to_string(kCallerBudget.count()) + "m");
  Fetched f = fetch_without_deadline(service.port(), target, kCallBound, headers);
  const double ms = f.elapsed.count();
  if (no_answer(f)) {
    obs.fail("call failed: " + f.why() + " after " + format_ms(ms));
  } else {
    const int status = f.status();
    bool partial = false;
    std::string what = std::to_string(status);
    if (status == 200) {
      Json body = Json::parse(f.body(), nullptr, false);
      const Json degraded = body.is_object() ? body.value("degraded", Json()) : Json();
      partial = degraded.is_array() && !degraded.empty();
      what += partial ? " partial, degraded " + list_of(degraded) : " complete (not partial)";
    }
    obs.note(what + " in " + format_ms(ms));
    obs.check(status == 504 || partial, "neither 504 nor a partial 200");
    obs.check(ms <= static_cast<double>(kCallerBudgetBound.count()),
              "answered after " + format_ms(ms) + ", not within the caller's budget");
  }
  return obs.result("caller's timeout header (grpc-timeout: 100m)",
                    "504 or partial 200 within ~100 ms (< 300 ms), not at the 500 ms default");
}

// (f) ----------------------------------------------------------------------------------
namespace {

// One of the concurrent clients of the SIGTERM scenario.
struct LoadClient {
  TraceContext trace;
  std::optional<RawConnection> conn;
  ResponseParser parser;
  bool open = true;
};

// Connects kSigtermClients clients, each sending one slow /users request in its own trace.
std::vector<LoadClient> start_load(const DemoService& service, std::set<std::string>& traces) {
  std::vector<LoadClient> clients(kSigtermClients);
  for (int i = 0; i < kSigtermClients; ++i) {
    LoadClient& c = clients[static_cast<std::size_t>(i)];
    c.trace = TraceContext::new_root();
    traces.insert(c.trace.trace_id_hex());
    c.conn = RawConnection::connect(service.port());
    c.conn->send_all(format_get("/users/" + std::to_string(100 + i) +
                                    "?activity_latency=" + std::to_string(kSigtermLatency.count()),
                                {{"traceparent", traceparent_of(c.trace)}}));
  }
  return clients;
}

// How many of `traces` the service shows in flight (/debug/contexts.json lists the tracked
// request contexts), polled until all are or half the requests' latency has passed, so
// that they are still running when the scenario sends SIGTERM.
std::size_t wait_until_in_flight(const DemoService& service, const std::set<std::string>& traces) {
  std::size_t in_flight = 0;
  const auto until = std::chrono::steady_clock::now() + kSigtermLatency / 2;
  while (std::chrono::steady_clock::now() < until) {
    std::size_t seen = 0;
    for (const auto& id : tracked_trace_ids(service.port())) seen += traces.count(id);
    in_flight = std::max(in_flight, seen);
    if (seen == traces.size()) break;
    std::this_thread::sleep_for(5ms);
  }
  return in_flight;
}

// The clients whose answer has started to arrive already (none, normally).
std::size_t count_answered(std::vector<LoadClient>& clients) {
  std::vector<pollfd> fds;
  for (auto& c : clients) fds.push_back({c.conn->fd(), POLLIN, 0});
  ::poll(fds.data(), fds.size(), 0);
  std::size_t answered = 0;
  for (const auto& p : fds) answered += p.revents != 0 ? 1 : 0;
  return answered;
}

// Reads every client's response until each is complete or closed, for at most `bound`.
void read_responses(std::vector<LoadClient>& clients, std::chrono::seconds bound) {
  const auto until = std::chrono::steady_clock::now() + bound;
  std::size_t open = clients.size();
  while (open > 0 && std::chrono::steady_clock::now() < until) {
    std::vector<pollfd> fds;
    std::vector<LoadClient*> owners;
    for (auto& c : clients) {
      if (c.open) {
        fds.push_back({c.conn->fd(), POLLIN, 0});
        owners.push_back(&c);
      }
    }
    ::poll(fds.data(), fds.size(), 100);
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      LoadClient& c = *owners[k];
      const bool more = c.conn->read_available(c.parser);
      if (!more || c.parser.complete()) {
        c.open = false;
        --open;
      }
    }
  }
  for (auto& c : clients)
    if (c.open) c.parser.finish("no answer within 10 s of SIGTERM");
}

// What the clients got: complete 200s with a profile (and how many partial), the rest.
struct LoadTally {
  int ok200 = 0, degraded = 0, incomplete = 0;
  std::string first_problem;
};

LoadTally tally(const std::vector<LoadClient>& clients) {
  LoadTally t;
  for (const auto& c : clients) {
    const RawResponse& r = c.parser.response();
    bool good = r.complete && r.status == 200;
    if (good) {
      Json body = Json::parse(r.body, nullptr, false);
      good = body.is_object() && body.contains("profile") && body["profile"].is_object();
      if (good && body.value("degraded", Json::array()).size() > 0) ++t.degraded;
    }
    if (good) {
      ++t.ok200;
      continue;
    }
    ++t.incomplete;
    if (t.first_problem.empty())
      t.first_problem = r.complete ? "status " + std::to_string(r.status) : r.error;
  }
  return t;
}

// The service's own account of its shutdown: "shutting down", then "stopped" with
// dropped 0, then exit status 0 (killed if it has not exited within 10 s).
void check_clean_stop(DemoService& service, Observation& obs, std::size_t mark,
                      std::chrono::steady_clock::time_point sigterm_at) {
  auto stopping = service.log().wait_for(
      [](const LogLine& l) { return l.msg() == "shutting down"; }, 10s, mark);
  obs.check(stopping.has_value(), "no \"shutting down\" log line");
  auto stopped =
      service.log().wait_for([](const LogLine& l) { return l.msg() == "stopped"; }, 10s, mark);
  if (stopped) {
    const auto dropped = stopped->number_field("dropped");
    const auto completed = stopped->number_field("in_flight_completed");
    obs.note("stopped: in_flight_completed " +
             (completed ? std::to_string(static_cast<long>(*completed)) : std::string("?")) +
             ", dropped " + (dropped ? std::to_string(static_cast<long>(*dropped)) : "?"));
    obs.check(dropped && *dropped == 0, "\"stopped\" does not say dropped 0");
  } else {
    obs.fail("no \"stopped\" log line within 10 s");
  }
  auto status = service.process().wait_exit(10s);
  if (!status) {
    obs.fail("the service had not exited 10 s after SIGTERM (killed)");
    service.process().kill_and_reap();
    return;
  }
  obs.note(describe_wait_status(*status) + " " +
           format_ms(Millis(std::chrono::steady_clock::now() - sigterm_at).count()) +
           " after SIGTERM");
  obs.check(exited_cleanly(*status), "the service did not exit 0");
}

}  // namespace

ScenarioResult sigterm_during_load(DemoService& service, const Progress& progress) {
  Observation obs;
  std::set<std::string> traces;
  const std::size_t mark = service.log().size();
  progress("sending " + std::to_string(kSigtermClients) +
           " concurrent requests (activity_latency=" + std::to_string(kSigtermLatency.count()) +
           ")");
  std::vector<LoadClient> clients = start_load(service, traces);
  const std::size_t in_flight = wait_until_in_flight(service, traces);
  const std::size_t answered_before = count_answered(clients);
  progress(std::to_string(in_flight) + " of " + std::to_string(kSigtermClients) +
           " seen in flight (/debug/contexts.json), " + std::to_string(answered_before) +
           " answered; sending SIGTERM");
  const auto sigterm_at = std::chrono::steady_clock::now();
  obs.check(service.process().signal(SIGTERM), "could not send SIGTERM");
  read_responses(clients, 10s);  // bounded: the service's grace period is 5 s

  const LoadTally t = tally(clients);
  const std::size_t pending = clients.size() - answered_before;
  obs.note(std::to_string(pending) + "/" + std::to_string(kSigtermClients) +
           " unanswered at SIGTERM");
  obs.note(std::to_string(t.ok200) + "x 200 complete (" + std::to_string(t.degraded) + " partial)");
  obs.check(t.incomplete == 0, std::to_string(t.incomplete) +
                                   " requests lost or failed (first: " + t.first_problem + ")");
  obs.check(pending > 0, "SIGTERM did not arrive during the load (all answered before)");
  check_clean_stop(service, obs, mark, sigterm_at);
  return obs.result("SIGTERM during load (" + std::to_string(kSigtermClients) + " in flight)",
                    "every request in flight gets a complete 200; \"stopped\" says dropped 0; "
                    "exit 0");
}

// (g) ----------------------------------------------------------------------------------
namespace {

// Stops a service the scenario started (SIGTERM, bounded); its exit status, described.
std::string stop_service(DemoService& service, Observation& obs, const char* what) {
  service.process().signal(SIGTERM);
  auto status = service.process().wait_exit(10s);
  if (!status) {
    service.process().kill_and_reap();
    obs.fail(std::string(what) + " had not exited 10 s after SIGTERM (killed)");
    return "killed";
  }
  obs.check(exited_cleanly(*status), std::string(what) + " did not exit 0 after SIGTERM");
  return describe_wait_status(*status);
}

// Waits for the activity process's "activity call started" of the trace and notes how much
// of the edge's deadline arrived over gRPC (it must have travelled, and not grown).
void note_grpc_deadline(DemoService& activity, const std::string& trace_hex, Observation& obs) {
  auto started = activity.log().wait_for(
      [&](const LogLine& l) {
        return l.msg() == "activity call started" && l.string_field("trace_id") == trace_hex;
      },
      kLogBound);
  if (!started)
    return obs.fail(
        "the activity service logged no \"activity call started\" for the trace in 3 s");
  const double left = started->number_field("deadline_left_ms").value_or(-1);
  char note[120];
  std::snprintf(note, sizeof note, "deadline arrived over gRPC: %.0f of the edge's %lld ms", left,
                static_cast<long long>(kGrpcEdgeDeadline.count()));
  obs.note(note);
  obs.check(left > 0 && left < static_cast<double>(kGrpcEdgeDeadline.count()),
            "the deadline did not travel (or grew)");
}

// The lines both processes must log promptly after the hang-up: the edge's 499 and its
// cancelled gRPC call, and the activity handler's context cancelled ("client cancelled").
void expect_grpc_hangup_lines(DemoService& edge, DemoService& activity, HangUp& hangup,
                              const std::string& trace_hex) {
  auto request = edge.log().wait_for(
      [&](const LogLine& l) { return is_request_line(l, trace_hex); }, kLogBound);
  hangup.expect(
      "the edge's request", request,
      [](const LogLine& l) {
        return "edge: request " +
               std::to_string(static_cast<int>(l.number_field("status").value_or(0))) + " " +
               quoted_cause(l);
      },
      request && request->number_field("status") == 499.0 &&
          request->string_field("cause") == "client disconnected");
  auto call = edge.log().wait_for(
      [&](const LogLine& l) { return is_source_line(l, trace_hex, "activity"); }, kLogBound);
  hangup.expect(
      "the edge's activity source", call,
      [](const LogLine& l) {
        return "edge: activity " + l.string_field("outcome") +
               (l.flag("call_interrupted") ? ", gRPC call cancelled" : ", call ran on");
      },
      call && call->flag("call_interrupted"));
  auto handler = activity.log().wait_for(
      [&](const LogLine& l) {
        return l.msg() == "activity request" && l.string_field("trace_id") == trace_hex;
      },
      kLogBound);
  hangup.expect(
      "the gRPC activity handler", handler,
      [](const LogLine& l) {
        return "activity process: handler's context " + quoted_cause(l) + ", " +
               l.string_field("status");
      },
      handler && handler->string_field("status") == "CANCELLED" &&
          handler->string_field("cause") == "client cancelled");
}

}  // namespace

ScenarioResult grpc_client_hangup(const GrpcTour& tour, const Progress& progress) {
  Observation obs;
  const char* name = "client hangs up, activity over gRPC";
  const char* expected =
      "the hang-up cancels the gRPC call and the activity handler's context (\"client "
      "cancelled\"), each logged < 100 ms after it; one trace id in both processes' logs";
  std::optional<DemoService> activity, edge;
  try {
    progress("starting tether-demo-activity (the activity service over gRPC, its own process)");
    activity.emplace(DemoServiceOptions{.program = tour.activity,
                                        .args = {},
                                        .log_path = tour.log_prefix + "-activity.log",
                                        .stderr_path = tour.log_prefix + "-activity.log.stderr"});
    const std::string address = "127.0.0.1:" + std::to_string(activity->port());
    progress("starting tether-demo --activity-grpc " + address + " --timeout " +
             std::to_string(kGrpcEdgeDeadline.count()));
    edge.emplace(DemoServiceOptions{
        .program = tour.demo,
        .args = {"--data-dir", tour.data_dir, "--timeout",
                 std::to_string(kGrpcEdgeDeadline.count()), "--activity-grpc", address},
        .log_path = tour.log_prefix + "-edge.log",
        .stderr_path = tour.log_prefix + "-edge.log.stderr"});
  } catch (const std::exception& e) {
    obs.fail(e.what());
    return obs.result(name, expected);
  }

  const TraceContext trace = TraceContext::new_root();
  const std::string trace_hex = trace.trace_id_hex();
  const std::string target = "/users/48?activity_latency=60000";
  progress("GET " + target + " (trace " + short_trace(trace_hex) +
           "); hang up once the activity handler is waiting");
  std::optional<HangUp> hangup;
  {
    RawConnection c = RawConnection::connect(edge->port());
    c.send_all(format_get(target, {{"traceparent", traceparent_of(trace)}}));
    note_grpc_deadline(*activity, trace_hex, obs);
    hangup.emplace(obs);
    c.close();  // the scenario itself: the client gives up
  }
  expect_grpc_hangup_lines(*edge, *activity, *hangup, trace_hex);
  hangup->note_clock();
  obs.note("trace " + short_trace(trace_hex) + " in both logs");
  obs.note("SIGTERM: edge " + stop_service(*edge, obs, "the edge") + ", activity " +
           stop_service(*activity, obs, "the activity service"));
  return obs.result(name, expected);
}

}  // namespace tether::demo_tour
