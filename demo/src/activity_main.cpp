// tether-demo-activity — the demo's activity service over gRPC, as a process of its own
// (grpc_activity.hpp). `tether-demo --activity-grpc 127.0.0.1:PORT` calls it instead of
// its in-process HTTP activity service.
//
//   tether-demo-activity [--port N] [--users N] [--workers N] [--log json|text]
//
// As tether-demo: the first stdout line is "listening" (port, pid, protocol "grpc");
// SIGINT/SIGTERM log "shutting down", let the calls in flight finish (5 s of grace), log
// "stopped" and exit 0. A bad flag: a message on stderr, exit status 2.
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "grpc_activity.hpp"
#include "knobs.hpp"
#include "log.hpp"
#include "tether/sync/signal.hpp"

namespace {

using namespace std::chrono_literals;

constexpr const char* kUsage = R"(usage: tether-demo-activity [flags]

The demo's activity service over gRPC (tether.demo.Activity/Recent), for
tether-demo --activity-grpc 127.0.0.1:PORT. See docs/demo.md.

  --port N         listen port on 127.0.0.1 (default 50051; 0 = any free port)
  --users N        ids 1..N exist, others are NOT_FOUND (default 100000)
  --workers N      threads running the calls (default 16; a waiting call holds one)
  --log json|text  log line format on stdout (default json)
  --help           this text
)";

struct Flags {
  std::uint16_t port = 50051;
  std::int64_t users = 100'000;
  unsigned workers = 16;
  tether_demo::LogFormat log = tether_demo::LogFormat::json;
};

// The flags, or a message for stderr ("" after --help, which prints the usage).
std::optional<Flags> parse(int argc, char** argv, std::string& message) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return std::nullopt;
    }
    std::string_view value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      message = "tether-demo-activity: " + std::string(arg) + " needs a value (see --help)";
      return std::nullopt;
    }
    std::optional<std::int64_t> n;
    if (arg == "--port" && (n = tether_demo::parse_int(value, 0, 65535))) {
      f.port = static_cast<std::uint16_t>(*n);
    } else if (arg == "--users" && (n = tether_demo::parse_int(value, 1, 100'000'000))) {
      f.users = *n;
    } else if (arg == "--workers" && (n = tether_demo::parse_int(value, 1, 1024))) {
      f.workers = static_cast<unsigned>(*n);
    } else if (arg == "--log" && (value == "json" || value == "text")) {
      f.log = value == "json" ? tether_demo::LogFormat::json : tether_demo::LogFormat::text;
    } else {
      message =
          "tether-demo-activity: bad flag or value '" + std::string(argv[i]) + "' (see --help)";
      return std::nullopt;
    }
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::string message;
  const std::optional<Flags> flags = parse(argc, argv, message);
  if (!flags) {
    if (message.empty()) return 0;  // --help
    std::cerr << message << "\n";
    return 2;
  }
  tether_demo::Log log(flags->log);
  auto [ctx, stop_signals] = tether::signal_context(tether::background(), {SIGINT, SIGTERM});
  tether_demo::GrpcActivityServer server(log, flags->users, flags->workers);
  try {
    server.start(flags->port);
  } catch (const std::exception& e) {
    std::cerr << "tether-demo-activity: " << e.what() << "\n";
    return 1;
  }
  log.info("listening", {{"port", server.port()},
                         {"pid", static_cast<long>(::getpid())},
                         {"protocol", "grpc"},
                         {"users", flags->users},
                         {"workers", flags->workers}});

  // Until SIGINT or SIGTERM; poll(2) rather than done().wait(), as tether-demo's main().
  pollfd done{ctx.done().fd(), POLLIN, 0};
  while (!ctx.done().ready()) (void)::poll(&done, 1, -1);  // EINTR: look again
  const tether::Cause why = tether::cause(ctx);
  stop_signals();
  log.info("shutting down", {{"signal", why.code().message()}, {"grace_ms", 5000}});
  auto [grace, cancel_grace] = tether::with_timeout(tether::background(), 5s);
  server.shutdown(grace);
  log.info("stopped", {{"graceful", !grace.err()}});
  return 0;
}
