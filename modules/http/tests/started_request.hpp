// A server (its access log in `log`) whose GET /wait is `handler`, and a raw client whose
// request has started that handler: the setup of the tests that end a request in flight
// (hang-up, reset, shutdown, a cancelled base context) for blocking and coroutine routes.
//
//   StartedRequest<BlockingHandler> r;    // Handler: a route with a std::promise<void>
//   ASSERT_TRUE(r.start());               // `started` it sets once running
//   r.client->close();                    // then: how did the handler's context end?
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <utility>

#include "access_log_sink.hpp"
#include "tether/harness/raw_http.hpp"
#include "tether/http.hpp"

namespace tether_test {

template <class Handler>
struct StartedRequest {
  explicit StartedRequest(tether::Context base = tether::background())
      : server(std::move(base), options_with(log)) {
    server.route("GET", "/wait", std::ref(handler));
    server.start();
  }
  /// Sends GET /wait on a new connection; true once the handler has started (within 10 s).
  bool start() {
    client = tether::harness::RawConnection::connect(server.port());
    client->send_all(
        tether::harness::format_get("/wait", {}, tether::harness::Connection::keep_alive));
    return handler.started.get_future().wait_for(std::chrono::seconds(10)) ==
           std::future_status::ready;
  }
  // Declared so that the server goes first: the handler outlives the requests it serves.
  AccessLogSink log;
  Handler handler;
  tether::http::Server server;
  std::optional<tether::harness::RawConnection> client;
};

}  // namespace tether_test
