// tether-demo — the tutorials' service: three data sources merged under one deadline, a
// client that may give up halfway, and everything that stops when it does.
//
// main() is the service's lifecycle, as Go's signal.NotifyContext + Server.Shutdown:
//   1. parse the flags (bad flag or value: message on stderr, exit 2);
//   2. start the service under a context that SIGINT/SIGTERM cancel (seeding included);
//   3. log "listening" — always the first line on stdout;
//   4. wait for a signal; log "shutting down";
//   5. shut down gracefully (5 s of grace for the requests in flight); log "stopped" with
//      what happened to them; exit 0.
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

#include "fan_out.hpp"
#include "log.hpp"
#include "options.hpp"
#include "service.hpp"
#include "tether/context.hpp"
#include "tether/sync/signal.hpp"

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  tether_demo::ParseResult parsed =
      tether_demo::parse(argc, argv, std::getenv("TETHER_DEMO_POSTGRES"));
  if (std::holds_alternative<tether_demo::HelpRequested>(parsed)) {
    std::cout << tether_demo::usage();
    return 0;
  }
  if (auto* bad = std::get_if<tether_demo::BadCommandLine>(&parsed)) {
    std::cerr << bad->message << "\n";
    return 2;
  }
  const tether_demo::Options options = std::get<tether_demo::Options>(parsed);

  tether_demo::Log log(options.log);
  auto [ctx, stop_signals] = tether::signal_context(tether::background(), {SIGINT, SIGTERM});
  tether_demo::Service service(options, log);
  try {
    service.start(ctx);
  } catch (const std::exception& e) {
    std::cerr << "tether-demo: " << e.what() << "\n";
    return 1;
  }

  log.info("listening",
           {{"port", service.port()},
            {"activity_port", service.activity_port()},
            {"activity", options.activity_grpc.empty() ? "http" : "grpc"},
            {"activity_address", options.activity_grpc.empty()
                                     ? "127.0.0.1:" + std::to_string(service.activity_port())
                                     : options.activity_grpc},
            {"pid", static_cast<long>(::getpid())},
            {"registry", options.registry ? "on" : "off"},
            {"baseline", tether_demo::baseline_build()},
            {"timeout_ms", options.timeout.count()},
            {"preferences", options.postgres ? "postgres" : "sqlite"}});
  for (const tether_demo::Fields& note : service.start_notes()) log.info("data ready", note);

  // Until SIGINT or SIGTERM. TRICKY: this waits in poll(2) on the done descriptor rather
  // than ctx.done().wait(): under ThreadSanitizer a signal that lands on a thread parked in
  // a raw futex wait is deferred until that thread next makes a call TSan intercepts —
  // here, never. poll() is such a call, and costs nothing otherwise.
  pollfd done{ctx.done().fd(), POLLIN, 0};
  while (!ctx.done().ready()) (void)::poll(&done, 1, -1);  // EINTR: look again
  const tether::Cause why = tether::cause(ctx);
  stop_signals();  // from here a second Ctrl-C has its default effect: it kills
  log.info("shutting down", {{"signal", why.code().message()},
                             {"in_flight", service.metrics().in_flight()},
                             {"grace_ms", 5000}});

  auto [grace, cancel_grace] = tether::with_timeout(tether::background(), 5s);
  const tether_demo::Service::StopReport report = service.shutdown(grace);
  log.info("stopped", {{"in_flight_completed", report.in_flight_completed},
                       {"dropped", report.dropped},
                       {"client_left", report.client_left},
                       {"graceful", !report.error}});
  return 0;
}
