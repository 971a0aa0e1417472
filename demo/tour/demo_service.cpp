#include "demo_service.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "tether/context.hpp"

namespace tether::demo_tour {

namespace {
std::vector<std::string> with_port_zero(std::vector<std::string> args) {
  args.insert(args.begin(), {"--port", "0"});
  return args;
}
}  // namespace

DemoService::DemoService(DemoServiceOptions options)
    : options_(std::move(options)),
      process_(ChildProcess::spawn(options_.program, with_port_zero(options_.args),
                                   options_.stderr_path)) {
  log_ = std::make_unique<ServiceLog>(process_.take_stdout(), options_.log_path);
  auto first = log_->wait_for([](const LogLine&) { return true; }, options_.start_timeout);
  auto fail = [&](const std::string& why) {
    process_.kill_and_reap();
    std::ostringstream msg;
    msg << "tether-demo (" << options_.program << ") " << why;
    std::string out = log_->tail(10), err = stderr_tail(10);
    if (!out.empty()) msg << "\n stdout:\n" << out;
    if (!err.empty()) msg << "\n stderr (" << options_.stderr_path << "):\n" << err;
    throw std::runtime_error(msg.str());
  };
  if (!first) {
    auto status = process_.wait_exit(std::chrono::milliseconds(0));
    fail(status ? "exited before listening: " + describe_wait_status(*status)
                : "wrote nothing within " + std::to_string(options_.start_timeout.count()) + " ms");
  }
  if (first->msg() != "listening") {
    fail("did not start with a \"listening\" line: " + first->text);
  }
  auto port = first->number_field("port");
  auto activity = first->number_field("activity_port");
  if (!port || *port <= 0 || *port > 65535) fail("\"listening\" has no valid port: " + first->text);
  listening_ = *first;
  port_ = static_cast<std::uint16_t>(*port);
  activity_port_ = activity ? static_cast<std::uint16_t>(*activity) : 0;
}

std::string DemoService::stderr_tail(std::size_t lines) const {
  if (options_.stderr_path.empty()) return {};
  std::ifstream in(options_.stderr_path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::ostringstream out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out << "  " << all[i] << '\n';
  }
  return out.str();
}

Fetched fetch(std::uint16_t port, std::string_view target, std::chrono::milliseconds timeout,
              const std::optional<TraceContext>& trace, http::Headers headers) {
  Context parent = trace ? with_value(background(), trace_key, *trace) : background();
  auto [ctx, cancel] = with_timeout(parent, timeout);
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + std::string(target);
  http::Client client;
  const auto start = std::chrono::steady_clock::now();
  Fetched out{client.get(ctx, url, std::move(headers)), {}};
  out.elapsed = std::chrono::steady_clock::now() - start;
  return out;
}

Fetched fetch_without_deadline(std::uint16_t port, std::string_view target,
                               std::chrono::milliseconds bound, http::Headers headers) {
  // A context with no deadline that is still cancelled after `bound`: the timer lives on a
  // sibling context, and after_func carries its end over.
  auto [ctx, cancel] = with_cancel(background());
  auto [timer, stop_timer] = with_timeout(background(), bound);
  auto cancel_call = cancel.func();
  Registration hook = after_func(timer, [cancel_call] { cancel_call(); });
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + std::string(target);
  http::Client client;
  const auto start = std::chrono::steady_clock::now();
  Fetched out{client.get(ctx, url, std::move(headers)), {}};
  out.elapsed = std::chrono::steady_clock::now() - start;
  hook.stop_and_wait();
  return out;
}

std::string traceparent_of(const TraceContext& trace) { return format_traceparent(trace); }

}  // namespace tether::demo_tour
