// tether::http::Server at its connection limits: out of descriptors (EMFILE) and
// ServerOptions::max_connections. Real sockets on 127.0.0.1. Each ctest test runs in a
// process of its own, so lowering this process's descriptor limit touches nothing else.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "raw_socket.hpp"
#include "tether/context.hpp"
#include "tether/http.hpp"

namespace {

using namespace std::chrono_literals;
using tether::http::Request;
using tether::http::Response;
using tether::http::Server;
using tether::http::ServerOptions;
using tether_test::RawSocket;

std::unique_ptr<Server> hello_server(ServerOptions o) {
  o.access_log = [](const tether::http::AccessLogEntry&) {};
  auto server = std::make_unique<Server>(tether::background(), std::move(o));
  server->route("GET", "/hello",
                [](const tether::Context&, const Request&) { return Response::text(200, "hi"); });
  server->start();
  return server;
}

std::chrono::microseconds cpu_time() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto us = [](const timeval& t) {
    return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec);
  };
  return us(u.ru_utime) + us(u.ru_stime);
}

// Holds every free descriptor of the process (under a lowered limit) until released.
class DescriptorHog {
 public:
  DescriptorHog() {
    getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit low = saved_;
    low.rlim_cur = 256;  // small enough to fill quickly, above what the test has open
    setrlimit(RLIMIT_NOFILE, &low);
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fds_.push_back(fd);
  }
  ~DescriptorHog() {
    release(fds_.size());
    setrlimit(RLIMIT_NOFILE, &saved_);
  }
  /// Frees `n` descriptors.
  void release(std::size_t n) {
    for (; n > 0 && !fds_.empty(); --n) {
      ::close(fds_.back());
      fds_.pop_back();
    }
  }
  std::size_t held() const { return fds_.size(); }

 private:
  rlimit saved_{};
  std::vector<int> fds_;
};

TEST(HttpAccept, OutOfDescriptorsTheServerBacksOffInsteadOfSpinningAndRecovers) {
  ServerOptions o;
  o.io_threads = 2;
  auto server = hello_server(o);
  DescriptorHog hog;
  ASSERT_GT(hog.held(), 0u);
  hog.release(1);                    // room for exactly one client socket...
  RawSocket client(server->port());  // ...which the server cannot accept: EMFILE
  ASSERT_TRUE(client.connected());
  client.send(tether_test::get_request("/hello"));

  // Measuring that nothing happens takes an interval: 300 ms of wall time. Retrying accept
  // at once would burn about that much CPU or more; backing off (5 ms doubling) a few ms.
  const auto cpu_before = cpu_time();
  std::this_thread::sleep_for(300ms);
  const auto cpu = cpu_time() - cpu_before;
  std::printf("CPU while out of descriptors: %.1f ms in 300 ms\n", cpu.count() / 1000.0);
  EXPECT_LT(cpu, 100ms);

  hog.release(16);  // descriptors free again: the next retry accepts and serves the client
  auto res = client.read_response(5s);
  ASSERT_TRUE(res) << "the server did not resume accepting";
  EXPECT_EQ(tether_test::status_of(*res), 200);
}

TEST(HttpAccept, AtMaxConnectionsNewClientsWaitUntilOneCloses) {
  ServerOptions o;
  o.max_connections = 2;
  auto server = hello_server(o);
  auto first = std::make_unique<RawSocket>(server->port());
  RawSocket second(server->port());
  for (RawSocket* c : {first.get(), &second}) {  // both accepted and served
    c->send(tether_test::get_request("/hello"));
    ASSERT_TRUE(c->read_response());
  }
  RawSocket third(server->port());  // connects (listen backlog), is not accepted
  third.send(tether_test::get_request("/hello"));
  EXPECT_FALSE(third.read_response(200ms)) << "served beyond max_connections";
  first.reset();  // one closes: the server accepts again
  auto res = third.read_response(5s);
  ASSERT_TRUE(res);
  EXPECT_EQ(tether_test::status_of(*res), 200);
}

}  // namespace
