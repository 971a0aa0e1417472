// debug_browser_server: the service browser_test.py drives. A tether::http server with
// tether::debug mounted and two routes:
//   GET /slow  derives a group and a context per data source (source=profile, preferences,
//              activity). Preferences has a 1.5 s timeout of its own (it ends
//              deadline_exceeded); profile is cancelled by the handler — its work done —
//              once GET /step is called; activity waits until the request's context is done
//              (its client hangs up) or two minutes pass.
//   GET /step  lets the slow requests finish their profile source.
// Prints "port <n>" once listening; shuts down when its standard input closes.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "tether/debug.hpp"

namespace {

using namespace std::chrono_literals;
const tether::Key<std::string> source_key{"source"};

std::mutex mu;
std::condition_variable changed;
bool stepped = false;

tether::http::Response slow(const tether::Context& ctx, const tether::http::Request& request) {
  auto tracked = tether::debug::track_request(ctx, request);
  auto fan_out = tether::with_cancel(ctx);
  const tether::Context& group = fan_out.ctx;  // named: lambdas below refer to it
  auto profile = tether::with_timeout(tether::with_value(group, source_key, "profile"), 150s);
  auto preferences =
      tether::with_timeout(tether::with_value(group, source_key, "preferences"), 1500ms);
  auto activity = tether::with_timeout(tether::with_value(group, source_key, "activity"), 150s);
  auto query_hook = tether::after_func(activity.ctx, [] {});  // "the query is interrupted"
  auto wake = tether::after_func(group, [] {
    std::lock_guard lock(mu);
    changed.notify_all();
  });
  std::unique_lock lock(mu);
  changed.wait_for(lock, 120s, [&] { return stepped || group.err(); });
  if (stepped) profile.cancel();  // the profile source has its answer
  changed.wait_for(lock, 120s, [&] { return bool(group.err()); });
  return tether::http::Response::text(200, "slow answer\n");
}

tether::http::Response step(const tether::Context& ctx, const tether::http::Request&) {
  if (ctx.err()) return tether::http::Response::text(503, "gone\n");
  std::lock_guard lock(mu);
  stepped = true;
  changed.notify_all();
  return tether::http::Response::text(200, "stepped\n");
}

}  // namespace

int main() {
  tether::http::ServerOptions options;
  options.default_timeout = 180s;
  options.access_log = tether::debug::recording_status({});
  tether::http::Server server(tether::background(), options);
  server.route("GET", "/slow", slow);
  server.route("GET", "/step", step);
  tether::debug::mount(server);
  server.start();
  std::printf("port %u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server.shutdown(tether::with_timeout(tether::background(), 5s).ctx);
  return 0;
}
