// tether_http_bench — tether::http side of the HTTP family (bench/http/run.sh runs it next
// to go_http_bench.go, Go's net/http, on the same machine).
//
//   tether_http_bench serve --handlers coroutine|blocking [--io N] [--workers N] [--port P]
//       serves GET /hello ("hello", after reading the request context) until stdin closes;
//       prints "listening PORT" once it accepts.
//   tether_http_bench disconnect --handlers coroutine|blocking [--io N] [--workers N]
//                                [--rounds N]
//       in one process, as the Go program does: a client sends GET /wait, waits until the
//       handler runs, stamps the time and closes its socket; the handler, waiting on its
//       request context, stamps the time the context is done. Prints the distribution of
//       that delay ("disconnect_us p50=… p90=… p99=… n=…").
//
// It measures; it asserts nothing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tether/asio/awaitable.hpp"
#include "tether/context.hpp"
#include "tether/http.hpp"

namespace {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;
using tether::http::Request;
using tether::http::Response;

struct Options {
  std::string command;
  bool coroutine = true;
  std::size_t io = 2;
  std::size_t workers = 2;
  std::uint16_t port = 0;
  int rounds = 2000;
};

Options parse(int argc, char** argv) {
  Options o;
  if (argc > 1) o.command = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--handlers") o.coroutine = value == "coroutine";
    if (flag == "--io") o.io = std::stoul(value);
    if (flag == "--workers") o.workers = std::stoul(value);
    if (flag == "--port") o.port = static_cast<std::uint16_t>(std::stoul(value));
    if (flag == "--rounds") o.rounds = std::stoi(value);
  }
  return o;
}

tether::http::ServerOptions server_options(const Options& o) {
  tether::http::ServerOptions s;
  s.port = o.port;
  s.io_threads = o.io;
  s.workers = o.workers;
  s.access_log = [](const tether::http::AccessLogEntry&) {};
  return s;
}

Response hello(const tether::Context& ctx) {
  return Response::text(ctx.err() ? 503 : 200, "hello");
}

int serve(const Options& o) {
  tether::http::Server server(tether::background(), server_options(o));
  if (o.coroutine) {
    server.route("GET", "/hello",
                 [](tether::Context ctx, const Request&) -> net::awaitable<Response> {
                   co_return hello(ctx);
                 });
  } else {
    server.route("GET", "/hello",
                 [](const tether::Context& ctx, const Request&) { return hello(ctx); });
  }
  server.start();
  std::printf("listening %u\n", server.port());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  return 0;
}

// One round's handshake between the client and the handler.
struct Round {
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  std::optional<Clock::time_point> done_at;

  void mark_started() {
    std::lock_guard lock(mu);
    started = true;
    cv.notify_all();
  }
  void mark_done() {
    const auto now = Clock::now();
    std::lock_guard lock(mu);
    done_at = now;
    cv.notify_all();
  }
  template <class Pred>
  void wait(Pred pred) {
    std::unique_lock lock(mu);
    cv.wait(lock, pred);
  }
  void reset() {
    std::lock_guard lock(mu);
    started = false;
    done_at.reset();
  }
};

int connect_and_send(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::exit(1);
  const std::string req = "GET /wait HTTP/1.1\r\nHost: b\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    std::exit(1);
  return fd;
}

double percentile(std::vector<double>& v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

int disconnect(const Options& o) {
  tether::http::Server server(tether::background(), server_options(o));
  Round round;
  if (o.coroutine) {
    server.route("GET", "/wait",
                 [&](tether::Context ctx, const Request&) -> net::awaitable<Response> {
                   round.mark_started();
                   co_await tether::asio::done(ctx);
                   round.mark_done();
                   co_return Response{};
                 });
  } else {
    server.route("GET", "/wait", [&](const tether::Context& ctx, const Request&) {
      round.mark_started();
      ctx.done().wait();
      round.mark_done();
      return Response{};
    });
  }
  server.start();
  std::vector<double> micros;
  for (int i = 0; i < o.rounds; ++i) {
    round.reset();
    const int fd = connect_and_send(server.port());
    round.wait([&] { return round.started; });
    const auto closed_at = Clock::now();
    ::close(fd);
    round.wait([&] { return round.done_at.has_value(); });
    micros.push_back(std::chrono::duration<double, std::micro>(*round.done_at - closed_at).count());
  }
  std::printf("disconnect_us p50=%.1f p90=%.1f p99=%.1f n=%zu\n", percentile(micros, 0.5),
              percentile(micros, 0.9), percentile(micros, 0.99), micros.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.command == "serve") return serve(o);
  if (o.command == "disconnect") return disconnect(o);
  std::fprintf(stderr,
               "usage: tether_http_bench serve|disconnect --handlers coroutine|blocking "
               "[--io N] [--workers N] [--port P] [--rounds N]\n");
  return 2;
}
