// debug_browser_server: the service browser_test.py drives. A tether::http server with
// tether::debug mounted and one slow route, GET /slow: it derives a context per data
// source (source=profile, preferences, activity; each with its own deadline) and waits
// until the request's context is done — its client hangs up — or two minutes pass.
// Prints "port <n>" once listening; shuts down when its standard input closes.
#include <array>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "tether/debug.hpp"

namespace {

using namespace std::chrono_literals;
const tether::Key<std::string> source_key{"source"};

tether::http::Response slow(const tether::Context& ctx, const tether::http::Request& request) {
  auto tracked = tether::debug::track_request(ctx, request);
  auto [group, cancel_group] = tether::with_cancel(ctx);
  std::vector<tether::Derived<tether::ScopedCancel>> sources;
  for (const char* source : {"profile", "preferences", "activity"})
    sources.push_back(tether::with_timeout(tether::with_value(group, source_key, source), 150s));
  auto hook = tether::after_func(sources[0].ctx, [] {});  // "the query is interrupted"
  group.done().wait_for(120s);
  return tether::http::Response::text(200, "slow answer\n");
}

}  // namespace

int main() {
  tether::http::ServerOptions options;
  options.default_timeout = 180s;
  options.access_log = tether::debug::recording_status({});
  tether::http::Server server(tether::background(), options);
  server.route("GET", "/slow", slow);
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
