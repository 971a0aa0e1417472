// tether-demo-tour — the guided tour of the demo service.
//
// Starts tether-demo as a child process, reads its JSON log, runs its scenarios against it
// (a normal request, a slow non-critical source, a slow critical source, a client that hangs
// up, a caller's timeout header, SIGTERM during load) — and, in a build with tether::grpc,
// a client that hangs up while the activity call goes over gRPC to a process of its own —,
// prints a table of what was expected and what was observed, and exits 0 only if every
// scenario behaved.
//
//   tether-demo-tour [--demo PATH] [--activity PATH] [--data-dir DIR] [--service-log FILE]
//                    [--keep-going]
//
// Exit status: 0 all scenarios behaved; 1 a scenario misbehaved; 2 bad flags; 3 the tour
// itself failed (the service did not start, a socket could not be opened...).
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "demo_service.hpp"
#include "scenarios.hpp"

namespace {

namespace fs = std::filesystem;
using namespace tether::demo_tour;

constexpr const char* kUsage =
    "usage: tether-demo-tour [--demo PATH] [--activity PATH] [--data-dir DIR]\n"
    "                        [--service-log FILE] [--keep-going]\n"
    "  --demo PATH         the tether-demo executable (default: next to this program)\n"
    "  --activity PATH     the tether-demo-activity executable, for the gRPC scenario\n"
    "                      (default: next to this program)\n"
    "  --data-dir DIR      the service's SQLite files, seeded on first use and reused\n"
    "                      (default: demo-data next to this program)\n"
    "  --service-log FILE  where the service's log lines are copied (default: \n"
    "                      tour-service.log next to this program; its stderr: .stderr)\n"
    "  --keep-going        run every scenario even after one misbehaved\n";

constexpr const char* kIntro = R"(tether demo tour
================
tether-demo answers GET /users/{id} from three sources queried in parallel under one
500 ms deadline: the profile (SQLite, critical), the preferences (a second SQLite file,
non-critical) and recent activity (an HTTP call to a separate activity service,
non-critical). Every one of them receives the request's tether::Context. This tour starts
the service, then shows what that buys: a slow non-critical source costs a partial answer
at the deadline, not a hung request; a slow critical source is a 504 at the deadline; a
client that hangs up stops the running SQL query and the downstream HTTP call within
milliseconds (watch the service log and /metrics) — also when the activity service is a
separate process called over gRPC; a caller's grpc-timeout header bounds the whole
request; SIGTERM lets every request in flight finish. Times below are wall-clock
readings on this machine, checked with generous margins. Read docs/demo.md for the service,
its endpoints (/debug/contexts shows the live context tree in a browser) and `make serve`.
)";

std::string self_dir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path().string() : self.parent_path().string();
}

// Splits `text` into lines of at most `width` characters, at spaces where possible.
std::vector<std::string> wrap(const std::string& text, std::size_t width) {
  std::vector<std::string> lines;
  std::istringstream words(text);
  std::string word, line;
  auto display = [](const std::string& s) {  // UTF-8 aware enough for "…" and "±"
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  while (words >> word) {
    while (display(word) > width) {  // a word longer than the column: cut it
      if (!line.empty()) lines.push_back(std::exchange(line, {}));
      lines.push_back(word.substr(0, width));
      word = word.substr(width);
    }
    if (!line.empty() && display(line) + 1 + display(word) > width) {
      lines.push_back(std::exchange(line, {}));
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty() || lines.empty()) lines.push_back(line);
  return lines;
}

void print_table(const std::vector<ScenarioResult>& results) {
  const std::vector<std::size_t> widths{22, 34, 48, 4};
  const std::vector<std::string> heads{"scenario", "expected", "observed", "ok"};
  auto pad = [](const std::string& s, std::size_t w) {
    std::size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return s + std::string(w > n ? w - n : 0, ' ');
  };
  auto rule = [&] {
    std::string r = "+";
    for (auto w : widths) r += std::string(w + 2, '-') + "+";
    std::cout << r << '\n';
  };
  auto row = [&](const std::vector<std::string>& cells) {
    std::vector<std::vector<std::string>> wrapped;
    std::size_t height = 0;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      wrapped.push_back(wrap(cells[i], widths[i]));
      height = std::max(height, wrapped.back().size());
    }
    for (std::size_t l = 0; l < height; ++l) {
      std::cout << "|";
      for (std::size_t i = 0; i < cells.size(); ++i) {
        std::cout << ' ' << pad(l < wrapped[i].size() ? wrapped[i][l] : "", widths[i]) << " |";
      }
      std::cout << '\n';
    }
  };
  rule();
  row(heads);
  rule();
  for (const auto& r : results) {
    row({r.name, r.expected, r.observed, r.skipped ? "skip" : r.ok ? "ok" : "FAIL"});
    rule();
  }
}

// The tour's flags (see kUsage).
struct Flags {
  std::string demo, activity, data_dir, service_log;
  bool keep_going = false;
};

// The value of flag `arg` (argv[i]): after '=' or the next argument; nullopt if missing.
std::optional<std::string> flag_value(const std::string& arg, int& i, int argc, char** argv) {
  const auto eq = arg.find('=');
  if (eq != std::string::npos) return arg.substr(eq + 1);
  if (i + 1 >= argc) {
    std::cerr << "tether-demo-tour: " << arg << " needs a value\n" << kUsage;
    return std::nullopt;
  }
  return std::string(argv[++i]);
}

// Parses argv into `flags`. Returns an exit status when the tour should not run (--help: 0,
// a bad flag: 2), else nullopt.
std::optional<int> parse_flags(int argc, char** argv, Flags& flags) {
  const std::vector<std::pair<std::string, std::string*>> valued{
      {"--demo", &flags.demo},
      {"--activity", &flags.activity},
      {"--data-dir", &flags.data_dir},
      {"--service-log", &flags.service_log}};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--keep-going") {
      flags.keep_going = true;
      continue;
    }
    const std::string name = arg.substr(0, arg.find('='));
    auto it =
        std::find_if(valued.begin(), valued.end(), [&](const auto& v) { return v.first == name; });
    if (it == valued.end()) {
      std::cerr << "tether-demo-tour: unknown argument '" << arg << "'\n" << kUsage;
      return 2;
    }
    auto value = flag_value(arg, i, argc, argv);
    if (!value) return 2;
    *it->second = *value;
  }
  return std::nullopt;
}

// The service every scenario runs against; says what it starts.
DemoServiceOptions service_options(const Flags& flags) {
  std::error_code ec;
  fs::create_directories(flags.data_dir, ec);
  std::cout << "starting " << flags.demo << " --port 0 --data-dir " << flags.data_dir
            << " (the first run seeds the SQLite files: this can take a while)" << std::endl;
  return {
      .program = flags.demo,
      .args = {"--data-dir", flags.data_dir, "--timeout", std::to_string(kRequestDeadline.count()),
               "--workers", std::to_string(kServiceWorkers)},
      .log_path = flags.service_log,
      .stderr_path = flags.service_log + ".stderr"};
}

void announce(DemoService& service, const Flags& flags) {
  std::cout << "tether-demo is listening on http://127.0.0.1:" << service.port()
            << " (activity service on port " << service.activity_port() << ", pid "
            << service.process().pid() << "); its log: " << flags.service_log << "\n"
            << std::endl;
}

using Scenario = std::function<ScenarioResult(DemoService&, const Progress&)>;
using Scenarios = std::vector<std::pair<const char*, Scenario>>;

// The scenarios in the order they run; SIGTERM last, as it stops the service.
Scenarios scenario_list(const Flags& flags) {
  Scenarios scenarios{
      {"normal request", normal_request},
      {"slow non-critical source", slow_non_critical_source},
      {"slow critical source", slow_critical_source},
      {"client disconnects mid-request", client_disconnects},
      {"caller's timeout header", caller_timeout_header},
  };
#ifdef TETHER_DEMO_TOUR_GRPC
  const fs::path log_path(flags.service_log);  // tour-service.log → tour-service-grpc-*.log
  const GrpcTour grpc{flags.demo, flags.activity, flags.data_dir,
                      (log_path.parent_path() / (log_path.stem().string() + "-grpc")).string()};
  scenarios.push_back(
      {"client hangs up, activity over gRPC", [grpc](DemoService&, const Progress& progress) {
         return grpc_client_hangup(grpc, progress);
       }});
#else
  (void)flags;
  std::cout << "(this build has no tether::grpc: the gRPC scenario is left out)\n" << std::endl;
#endif
  scenarios.push_back({"SIGTERM during load", sigterm_during_load});
  return scenarios;
}

// Runs the scenarios in order, appending to `results`; after a failure, without
// --keep-going, the rest are recorded as skipped.
void run_scenarios(DemoService& service, const Scenarios& scenarios, bool keep_going,
                   std::vector<ScenarioResult>& results) {
  bool stop = false;
  for (std::size_t i = 0; i < scenarios.size(); ++i) {
    if (stop) {
      results.push_back({scenarios[i].first, "-",
                         "skipped (an earlier scenario failed; --keep-going runs them all)", false,
                         true});
      continue;
    }
    std::cout << "[" << i + 1 << "/" << scenarios.size() << "] " << scenarios[i].first << std::endl;
    ScenarioResult r = scenarios[i].second(
        service, [&](const std::string& step) { std::cout << "      " << step << std::endl; });
    std::cout << "      -> " << (r.ok ? "ok: " : "FAILED: ") << r.observed << '\n' << std::endl;
    results.push_back(r);
    if (!r.ok && !keep_going) stop = true;
  }
}

// Stops the service if the SIGTERM scenario was skipped: SIGTERM, then SIGKILL after 10 s.
void stop_service(DemoService& service) {
  if (!service.process().running()) return;
  service.process().signal(SIGTERM);
  if (!service.process().wait_exit(std::chrono::seconds(10))) service.process().kill_and_reap();
}

// Prints the table and the verdict; returns the exit status (0 all behaved, else 1).
int summarize(const std::vector<ScenarioResult>& results, const std::string& service_log) {
  print_table(results);
  int failed = 0, skipped = 0;
  for (const auto& r : results) {
    skipped += r.skipped ? 1 : 0;
    failed += r.ok || r.skipped ? 0 : 1;
  }
  if (failed == 0 && skipped == 0) {
    std::cout << "\nAll " << results.size() << " scenarios behaved as expected." << std::endl;
    return 0;
  }
  std::cout << '\n'
            << failed << " of " << results.size() << " scenarios did not behave as expected"
            << (skipped ? " (" + std::to_string(skipped) + " skipped)" : std::string())
            << "; the service log is in " << service_log << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const std::string here = self_dir();
  Flags flags{.demo = here + "/tether-demo",
              .activity = here + "/tether-demo-activity",
              .data_dir = here + "/demo-data",
              .service_log = here + "/tour-service.log"};
  if (auto status = parse_flags(argc, argv, flags)) return *status;

  std::cout << kIntro << std::endl;
  std::vector<ScenarioResult> results;
  try {
    DemoService service(service_options(flags));
    announce(service, flags);
    run_scenarios(service, scenario_list(flags), flags.keep_going, results);
    stop_service(service);
  } catch (const std::exception& e) {
    std::cerr << "\ntether-demo-tour: the tour itself failed: " << e.what() << std::endl;
    if (!results.empty()) print_table(results);
    return 3;
  }
  return summarize(results, flags.service_log);
}
