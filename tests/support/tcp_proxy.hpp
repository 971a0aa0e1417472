// A TCP proxy on 127.0.0.1 for tests: every connection accepted is counted and forwarded,
// byte for byte both ways, to 127.0.0.1:upstream; an end of stream is passed on as a
// half-close, a reset as a close. A test can hold a connection before it is forwarded
// (Options::hold: it runs on the connection's own thread, before the upstream connect), to
// play a server that is slow to answer one kind of connection. Real sockets, threads
// joined when the proxy is destroyed.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

namespace tether_test {

class TcpProxy {
 public:
  struct Options {
    /// Called on each connection's thread with its index (0, 1, ...) and its first bytes
    /// (already read from the client; at most 64), before anything is forwarded.
    std::function<void(int index, const std::string& first_bytes)> hold;
  };

  explicit TcpProxy(std::uint16_t upstream, Options options = {})
      : upstream_(upstream), options_(std::move(options)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = loopback(0);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 64) != 0)
      throw std::runtime_error("proxy: listen failed");
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~TcpProxy() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    ::close(listener_);
    std::list<std::thread> pumps;
    {
      std::lock_guard lock(mu_);
      pumps.swap(pumps_);
    }
    for (auto& t : pumps) t.join();
  }
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  std::uint16_t port() const { return port_; }
  /// Connections accepted so far.
  int accepted() const { return accepted_.load(); }

  /// Ends every connection now, both ways (a FIN to each side): as if the server closed
  /// its idle connections.
  void close_all() {
    std::lock_guard lock(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  static sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }

  void accept_loop() {
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;  // shut down
      const int index = accepted_.fetch_add(1);
      std::lock_guard lock(mu_);
      pumps_.emplace_back([this, fd, index] { serve(fd, index); });
    }
  }

  // Reads what the client sent first (waiting at most 100 ms for it: some clients wait
  // for the server to speak first).
  static std::string first_bytes(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) return {};
    char buf[64];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }

  void serve(int client, int index) {
    std::string first = first_bytes(client);
    if (options_.hold) options_.hold(index, first);
    const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = loopback(upstream_);
    if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        (!first.empty() && ::send(server, first.data(), first.size(), MSG_NOSIGNAL) < 0)) {
      ::close(server);
      ::close(client);
      return;
    }
    {
      std::lock_guard lock(mu_);
      open_fds_.insert(client);
      open_fds_.insert(server);
    }
    pump(client, server);
    {
      std::lock_guard lock(mu_);
      open_fds_.erase(client);
      open_fds_.erase(server);
    }
    ::close(server);
    ::close(client);
  }

  // Forwards both ways until both directions have ended (or either side reset, or the
  // proxy is stopping: then it polls every 50 ms to notice).
  void pump(int a, int b) {
    bool open[2] = {true, true};  // a→b, b→a
    const int from[2] = {a, b}, to[2] = {b, a};
    char buf[16384];
    while ((open[0] || open[1]) && !stopping_) {
      pollfd p[2] = {{a, static_cast<short>(open[0] ? POLLIN : 0), 0},
                     {b, static_cast<short>(open[1] ? POLLIN : 0), 0}};
      if (::poll(p, 2, 50) < 0) return;
      for (int i = 0; i < 2; ++i) {
        if (!open[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t n = ::recv(from[i], buf, sizeof buf, 0);
        if (n < 0) return;  // reset: closing both passes it on
        if (n == 0) {
          ::shutdown(to[i], SHUT_WR);
          open[i] = false;
          continue;
        }
        if (::send(to[i], buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) return;
      }
    }
  }

  std::uint16_t upstream_;
  Options options_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::list<std::thread> pumps_;  // under mu_
  std::set<int> open_fds_;        // under mu_: the descriptors pump() is using
  std::thread acceptor_;
};

}  // namespace tether_test
