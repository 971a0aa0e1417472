#include "tether/harness/raw_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace tether::harness {

namespace {
constexpr const char* kEndOfStream = "end of stream";
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}
std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}
// 1xx, 204 and 304 responses have no body, whatever their headers say.
bool bodiless_status(int status) { return status / 100 == 1 || status == 204 || status == 304; }
}  // namespace

std::optional<std::string> RawResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return std::nullopt;
}

void ResponseParser::parse_head(std::string_view head) {
  auto line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);  // "HTTP/1.1 200 OK"
  auto sp = status_line.find(' ');
  if (sp != std::string_view::npos) {
    response_.status = std::atoi(std::string(status_line.substr(sp + 1, 3)).c_str());
  }
  std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    auto next = head.find("\r\n", pos);
    if (next == std::string_view::npos) next = head.size();
    std::string_view field = head.substr(pos, next - pos);
    auto colon = field.find(':');
    if (colon != std::string_view::npos) {
      response_.headers.emplace_back(trim(field.substr(0, colon)), trim(field.substr(colon + 1)));
    }
    pos = next + 2;
  }
  if (body_ == Body::none || bodiless_status(response_.status)) {
    content_length_ = 0;
  } else if (auto cl = response_.header("Content-Length")) {
    content_length_ = static_cast<std::size_t>(std::strtoull(cl->c_str(), nullptr, 10));
  }
}

void ResponseParser::complete_body() {
  if (!content_length_ || response_.body.size() < *content_length_) return;
  rest_ = response_.body.substr(*content_length_);
  response_.body.resize(*content_length_);
  response_.complete = true;
}

void ResponseParser::feed(std::string_view bytes) {
  if (response_.complete) {
    rest_.append(bytes);
    return;
  }
  buffer_.append(bytes);
  if (!headers_done_) {
    auto end = buffer_.find("\r\n\r\n");
    if (end == std::string::npos) return;
    parse_head(std::string_view(buffer_.data(), end));
    headers_done_ = true;
    buffer_.erase(0, end + 4);
  }
  response_.body.append(buffer_);
  buffer_.clear();
  complete_body();
}

void ResponseParser::finish(const std::string& reason) {
  if (response_.complete) return;
  if (headers_done_ && !content_length_ && reason == kEndOfStream) {
    response_.complete = true;  // a body delimited by the end of the stream
    return;
  }
  if (!headers_done_) {
    response_.error = reason + (buffer_.empty() ? " before any response" : " inside the headers");
  } else {
    response_.error = reason + " after " + std::to_string(response_.body.size()) + " of " +
                      std::to_string(content_length_.value_or(0)) + " body bytes";
  }
}

std::string format_get(std::string_view target,
                       const std::vector<std::pair<std::string, std::string>>& headers,
                       Connection connection) {
  std::string out = "GET ";
  out.append(target);
  out += " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: tether-harness\r\n";
  if (connection == Connection::close) out += "Connection: close\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  return out;
}

RawResponse get_once(std::uint16_t port, std::string_view target,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     std::chrono::milliseconds timeout) {
  RawConnection c = RawConnection::connect(port);
  c.send_all(format_get(target, headers, Connection::keep_alive));
  return c.read_response(timeout);
}

std::optional<RawConnection> RawConnection::try_connect(std::uint16_t port) noexcept {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;  // for connect()'s message
    return std::nullopt;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return RawConnection(fd);
}

RawConnection RawConnection::connect(std::uint16_t port) {
  errno = 0;
  if (auto c = try_connect(port)) return std::move(*c);
  throw std::system_error(errno, std::generic_category(),
                          "connect 127.0.0.1:" + std::to_string(port));
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), input_(std::move(other.input_)) {}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    input_ = std::move(other.input_);
  }
  return *this;
}

void RawConnection::send_all(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "send");
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

int RawConnection::fill(std::chrono::steady_clock::time_point until, std::string& error) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      error = "timed out";
      return -1;
    }
    char buf[1 << 16];  // large reads: responses of megabytes stay quick under sanitizers
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) {
      input_.append(buf, static_cast<std::size_t>(n));
      return 1;
    }
    error = n == 0 ? kEndOfStream : std::string("recv: ") + std::strerror(errno);
    return 0;
  }
}

RawResponse RawConnection::read_response(std::chrono::milliseconds timeout, Body body) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  ResponseParser parser(body);
  parser.feed(input_);  // input_ keeps every byte until the response is complete
  for (;;) {
    if (parser.complete()) {
      input_ = parser.take_rest();
      return parser.response();
    }
    const std::size_t before = input_.size();
    std::string error;
    const int r = fill(until, error);
    if (r == 1) {
      parser.feed(std::string_view(input_).substr(before));
      continue;
    }
    if (r == -1) error += " after " + std::to_string(timeout.count()) + " ms";
    parser.finish(error);
    if (parser.complete()) input_.clear();  // a body that ended with the stream
    return parser.response();
  }
}

bool RawConnection::wait_closed(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  std::string error;
  for (;;) {
    const int r = fill(until, error);
    if (r <= 0) return r == 0;
  }
}

std::string RawConnection::read_until_closed(std::chrono::milliseconds timeout) {
  wait_closed(timeout);
  return std::exchange(input_, {});
}

bool RawConnection::read_available(ResponseParser& parser) {
  parser.feed(std::exchange(input_, {}));
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      parser.feed(std::string_view(buf, static_cast<std::size_t>(n)));
      continue;
    }
    if (n == 0) {
      parser.finish(kEndOfStream);
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    parser.finish(std::string("recv: ") + std::strerror(errno));
    return false;
  }
}

void RawConnection::close() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

void RawConnection::reset() noexcept {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close();
}

}  // namespace tether::harness
