// A tether::http::Server with GET /hello ("hello") behind a counting TcpProxy
// (tests/support/tcp_proxy.hpp): the upstream of the client tests, which tells how many
// connections a client really opened. Add routes before start().
//
//   tether_test::ProxiedUpstream up;       // 4 workers, quiet access log
//   up.server.route("GET", "/wait", ...);
//   up.start();
//   client.get(ctx, up.url("/hello"));     // through the proxy
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "tcp_proxy.hpp"
#include "tether/context.hpp"
#include "tether/http.hpp"

namespace tether_test {

struct ProxiedUpstream {
  explicit ProxiedUpstream(std::size_t workers = 4)
      : server(tether::background(), {.workers = workers, .access_log = [](const auto&) {}}) {
    server.route("GET", "/hello", [](const tether::Context&, const tether::http::Request&) {
      return tether::http::Response::text(200, "hello");
    });
  }
  /// Starts the server, then the proxy in front of it.
  void start() {
    server.start();
    proxy.emplace(server.port());
  }
  /// The URL of `path` through the proxy.
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(proxy->port()) + path;
  }
  tether::http::Server server;
  std::optional<TcpProxy> proxy;
};

}  // namespace tether_test
