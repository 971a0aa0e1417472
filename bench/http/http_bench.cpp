// tether_http_bench — tether::http side of the HTTP family (bench/http/run.sh runs it next
// to go_http_bench.go, Go's net/http, on the same machine).
//
//   tether_http_bench serve --handlers coroutine|blocking [--io N] [--workers N] [--port P]
//       serves until stdin closes; prints "listening PORT" once it accepts:
//         GET /hello              "hello", after reading the request context;
//         GET /wait?notify=U      sends a UDP datagram "s" to 127.0.0.1:U when the handler
//                                 starts, then waits for its request context and sends "d".
//   tether_http_bench disconnect-client --port P [--rounds N]
//       the client of /wait, for any server (Go's too): waits for "s", closes its socket,
//       and times close() → "d", the server's request context done. Prints
//       "disconnect_us p50=… p90=… p99=… n=…". The UDP hop is in every figure, on both sides.
//
// It measures; it asserts nothing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
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

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// Sends the one-byte datagram `what` to 127.0.0.1:port (from the request's ?notify=port).
void notify(const Request& r, char what) {
  static const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
  const std::string_view q = r.query();
  if (q.substr(0, 7) != "notify=") return;
  sockaddr_in to = loopback(static_cast<std::uint16_t>(std::stoul(std::string(q.substr(7)))));
  ::sendto(udp, &what, 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
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
    server.route("GET", "/wait",
                 [](tether::Context ctx, const Request& r) -> net::awaitable<Response> {
                   notify(r, 's');
                   co_await tether::asio::done(ctx);
                   notify(r, 'd');
                   co_return Response{};
                 });
  } else {
    server.route("GET", "/hello",
                 [](const tether::Context& ctx, const Request&) { return hello(ctx); });
    server.route("GET", "/wait", [](const tether::Context& ctx, const Request& r) {
      notify(r, 's');
      ctx.done().wait();
      notify(r, 'd');
      return Response{};
    });
  }
  server.start();
  std::printf("listening %u\n", server.port());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  return 0;
}

// A UDP socket bound to 127.0.0.1 (port 0: any); its port is what the server is told.
int udp_socket(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) std::exit(1);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

int connect_and_send(std::uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::exit(1);
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size()))
    std::exit(1);
  return fd;
}

void expect_datagram(int udp, char what) {
  char c = 0;
  while (::recv(udp, &c, 1, 0) == 1 && c != what) {
  }
}

double percentile(std::vector<double>& v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

int disconnect_client(const Options& o) {
  std::uint16_t notify_port = 0;
  const int udp = udp_socket(notify_port);
  const std::string request =
      "GET /wait?notify=" + std::to_string(notify_port) + " HTTP/1.1\r\nHost: b\r\n\r\n";
  std::vector<double> micros;
  for (int i = 0; i < o.rounds; ++i) {
    const int fd = connect_and_send(o.port, request);
    expect_datagram(udp, 's');
    const auto closed_at = Clock::now();
    ::close(fd);
    expect_datagram(udp, 'd');
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - closed_at).count());
  }
  std::printf("disconnect_us p50=%.1f p90=%.1f p99=%.1f n=%zu\n", percentile(micros, 0.5),
              percentile(micros, 0.9), percentile(micros, 0.99), micros.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.command == "serve") return serve(o);
  if (o.command == "disconnect-client") return disconnect_client(o);
  std::fprintf(stderr,
               "usage: tether_http_bench serve|disconnect --handlers coroutine|blocking "
               "[--io N] [--workers N] [--port P] [--rounds N]\n");
  return 2;
}
