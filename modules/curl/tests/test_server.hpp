// A plain HTTP/1.1 test server on 127.0.0.1: one thread, one poll loop, any number of
// connections. It counts connections accepted and closed by the client, so tests can wait
// for "the server saw the connection close" instead of sleeping. Paths:
//   /silent          never answers (keeps reading)
//   /hello           200 "hello", keep-alive
//   /slow?n=N&ms=M   200 with a Content-Length of N*64 bytes, sent as one 64-byte chunk
//                    every M milliseconds (the headers at once)
//   /echo            200 with the request head as the body, keep-alive
// Anything that never completes a request head (a TLS ClientHello) is left unanswered.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace tether_test {

class TestServer {
 public:
  using Clock = std::chrono::steady_clock;

  TestServer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 1024) != 0)
      throw std::runtime_error("test server: bind/listen failed");
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (::pipe2(wake_, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    thread_ = std::thread([this] { loop(); });
  }
  ~TestServer() {
    stop_.store(true);
    char c = 1;
    (void)!::write(wake_[1], &c, 1);
    thread_.join();
    for (auto& c2 : conns_) ::close(c2.fd);
    ::close(listener_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(std::string_view path, std::string_view scheme = "http") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

  int accepted() const {
    std::lock_guard lock(mu_);
    return accepted_;
  }
  int closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }
  /// When the server last saw a client close its connection.
  Clock::time_point last_close() const {
    std::lock_guard lock(mu_);
    return last_close_;
  }
  /// Waits until at least `n` connections were accepted; false on timeout.
  bool wait_accepted(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return accepted_ >= n; });
  }
  /// Waits until at least `n` requests were read; false on timeout.
  bool wait_requests(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return requests_ >= n; });
  }
  /// Waits until clients closed at least `n` connections; false on timeout.
  bool wait_closed(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return closed_ >= n; });
  }
  /// Waits until at least `n` body bytes were sent on /slow responses; false on timeout.
  bool wait_body_bytes(long n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return body_bytes_ >= n; });
  }

 private:
  struct Conn {
    int fd = -1;
    std::string in;
    std::string out;
    int chunks_left = 0;
    std::chrono::milliseconds every{0};
    Clock::time_point next_chunk{};
    bool busy = false;  // a response (or silence) is in progress
  };

  static int query_int(std::string_view target, std::string_view key, int fallback) {
    auto q = target.find('?');
    if (q == std::string_view::npos) return fallback;
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      if (pair.substr(0, key.size()) == key && pair.size() > key.size() &&
          pair[key.size()] == '=') {
        int v = fallback;
        std::from_chars(pair.data() + key.size() + 1, pair.data() + pair.size(), v);
        return v;
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
    return fallback;
  }

  static std::string response(std::string_view body, std::size_t length) {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
           std::to_string(length) + "\r\n\r\n" + std::string(body);
  }

  void handle_request(Conn& c) {
    auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::string head = c.in.substr(0, end + 4);
    c.in.erase(0, end + 4);
    {
      std::lock_guard lock(mu_);
      ++requests_;
    }
    cv_.notify_all();
    auto sp1 = head.find(' ');
    auto sp2 = head.find(' ', sp1 + 1);
    std::string target = head.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string path = target.substr(0, target.find('?'));
    c.busy = true;
    if (path == "/silent") return;
    if (path == "/hello") {
      c.out += response("hello", 5);
      c.busy = false;
    } else if (path == "/echo") {
      c.out += response(head, head.size());
      c.busy = false;
    } else if (path == "/slow") {
      int n = query_int(target, "n", 10);
      c.every = std::chrono::milliseconds(query_int(target, "ms", 50));
      c.chunks_left = n;
      c.next_chunk = Clock::now() + c.every;
      c.out += response("", static_cast<std::size_t>(n) * 64);
    } else {
      c.out += "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
      c.busy = false;
    }
  }

  void flush(Conn& c) {
    while (!c.out.empty()) {
      ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) return;
      c.out.erase(0, static_cast<std::size_t>(n));
    }
  }

  void loop() {
    while (!stop_.load()) {
      std::vector<pollfd> fds{{listener_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      auto timeout = std::chrono::milliseconds(1000);
      const auto now = Clock::now();
      for (auto& c : conns_) {
        fds.push_back({c.fd, static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
        if (c.chunks_left > 0)
          timeout = std::min(
              timeout, std::max(std::chrono::milliseconds(0),
                                std::chrono::ceil<std::chrono::milliseconds>(c.next_chunk - now)));
      }
      ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
      if (fds[0].revents & POLLIN) {
        for (;;) {
          int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          Conn conn;
          conn.fd = fd;
          conns_.push_back(std::move(conn));
          {
            std::lock_guard lock(mu_);
            ++accepted_;
          }
          cv_.notify_all();
        }
      }
      std::size_t i = 2;
      for (auto it = conns_.begin(); it != conns_.end(); ++i) {
        Conn& c = *it;
        short revents = i < fds.size() && fds[i].fd == c.fd ? fds[i].revents : 0;
        bool gone = false;
        if (revents & (POLLIN | POLLHUP | POLLERR)) {
          char buf[4096];
          for (;;) {
            ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
              c.in.append(buf, static_cast<std::size_t>(n));
              continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) gone = true;
            break;
          }
        }
        if (gone) {
          ::close(c.fd);
          it = conns_.erase(it);
          {
            std::lock_guard lock(mu_);
            ++closed_;
            last_close_ = Clock::now();
          }
          cv_.notify_all();
          continue;
        }
        if (!c.busy) handle_request(c);
        const auto t = Clock::now();
        long sent = 0;
        while (c.chunks_left > 0 && c.next_chunk <= t) {
          c.out.append(64, 'x');
          sent += 64;
          c.next_chunk += c.every;
          if (--c.chunks_left == 0) c.busy = false;
        }
        if (sent > 0) {
          std::lock_guard lock(mu_);
          body_bytes_ += sent;
        }
        if (sent > 0) cv_.notify_all();
        flush(c);
        if (!c.busy && c.chunks_left == 0 && !c.in.empty()) handle_request(c);
        flush(c);
        ++it;
      }
    }
  }

  int listener_ = -1;
  int wake_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::list<Conn> conns_;  // server thread only
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int accepted_ = 0;
  int closed_ = 0;
  int requests_ = 0;
  long body_bytes_ = 0;
  Clock::time_point last_close_{};
};

/// The number of open descriptors of this process (entries of /proc/self/fd, minus the
/// one opendir itself uses).
inline int open_descriptors() {
  int n = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (::readdir(dir) != nullptr) ++n;
    ::closedir(dir);
    n -= 3;  // ".", ".." and the directory's own descriptor
  }
  return n;
}

/// "3 -> socket:[123], 4 -> anon_inode:[eventfd], ..." for a failure message.
inline std::string describe_descriptors() {
  std::string out;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(dir)) {
      if (e->d_name[0] == '.') continue;
      char target[256] = {};
      std::string path = std::string("/proc/self/fd/") + e->d_name;
      ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
      out += std::string(e->d_name) + " -> " + (n > 0 ? std::string(target, n) : "?") + "\n";
    }
    ::closedir(dir);
  }
  return out;
}

}  // namespace tether_test
