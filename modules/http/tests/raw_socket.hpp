// A blocking TCP client on 127.0.0.1 for the HTTP tests: sends raw bytes, reads raw
// responses, closes or resets. Every read is bounded by a timeout.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace tether_test {

class RawSocket {
 public:
  /// Connects to 127.0.0.1:port; connected() is false if the connection was refused.
  explicit RawSocket(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawSocket() { close(); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return fd_ >= 0; }

  void send(const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      sent += static_cast<std::size_t>(n);
    }
  }

  /// Reads until the buffered input holds one complete response (headers and a
  /// Content-Length body) and returns it; std::nullopt on EOF, error or timeout.
  std::optional<std::string> read_response(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto r = take_response()) return r;
      if (!fill(deadline)) return std::nullopt;
    }
  }

  /// Waits until the server closes the connection (EOF or reset); false on timeout.
  /// Data that arrives meanwhile is kept for read_response.
  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int r = fill_once(deadline);
      if (r <= 0) return r == 0;
    }
  }

  /// Everything received until the server closed the connection (or `timeout` passed),
  /// including what read_response left unread.
  std::string read_until_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    wait_closed(timeout);
    return std::exchange(input_, {});
  }

  /// Closes normally (FIN).
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  /// Closes with a reset (RST), as a crashed client would.
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }

 private:
  // 1: read data; 0: EOF or error; -1: timeout.
  int fill_once(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return -1;
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready == 0) return -1;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return 0;
    input_.append(buf, static_cast<std::size_t>(n));
    return 1;
  }
  bool fill(std::chrono::steady_clock::time_point deadline) { return fill_once(deadline) == 1; }

  std::optional<std::string> take_response() {
    auto end = input_.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    std::size_t body = 0;
    auto cl = input_.find("Content-Length: ");
    if (cl == std::string::npos) cl = input_.find("content-length: ");
    if (cl != std::string::npos && cl < end) body = std::stoul(input_.substr(cl + 16));
    if (input_.size() < end + 4 + body) return std::nullopt;
    std::string r = input_.substr(0, end + 4 + body);
    input_.erase(0, end + 4 + body);
    return r;
  }

  int fd_ = -1;
  std::string input_;
};

/// "GET <target> HTTP/1.1" with a Host header and `extra` header lines (each "\r\n"-ended).
inline std::string get_request(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + "\r\n";
}

/// The status code of a raw response ("HTTP/1.1 200 OK..." → 200); 0 if unparsable.
inline int status_of(const std::string& response) {
  if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0) return 0;
  return std::stoi(response.substr(9, 3));
}

/// The value of header `name` (exact case as the server writes it) in a raw response.
inline std::string header_of(const std::string& response, const std::string& name) {
  auto at = response.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  at += name.size() + 4;
  return response.substr(at, response.find("\r\n", at) - at);
}

/// The body of a raw response.
inline std::string body_of(const std::string& response) {
  auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

}  // namespace tether_test
