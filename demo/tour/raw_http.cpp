#include "raw_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <strings.h>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace tether::demo_tour {

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
}  // namespace

std::optional<std::string> RawResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return std::nullopt;
}

void ResponseParser::feed(std::string_view bytes) {
  if (response_.complete) return;
  buffer_.append(bytes);
  if (!headers_done_) {
    auto end = buffer_.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::string_view head(buffer_.data(), end);
    auto line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    // "HTTP/1.1 200 OK"
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
    if (auto cl = response_.header("Content-Length")) {
      content_length_ = static_cast<std::size_t>(std::strtoull(cl->c_str(), nullptr, 10));
    }
    headers_done_ = true;
    buffer_.erase(0, end + 4);
  }
  response_.body.append(buffer_);
  buffer_.clear();
  if (content_length_ && response_.body.size() >= *content_length_) {
    response_.body.resize(*content_length_);
    response_.complete = true;
  }
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
                       const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string out = "GET ";
  out.append(target);
  out += " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: tether-demo-tour\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  return out;
}

RawConnection RawConnection::connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(),
                            "connect 127.0.0.1:" + std::to_string(port));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return RawConnection(fd);
}

RawConnection::RawConnection(RawConnection&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
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

bool RawConnection::read_available(ResponseParser& parser) {
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

RawResponse RawConnection::read_response(std::chrono::milliseconds timeout) {
  ResponseParser parser;
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (!read_available(parser) || parser.complete()) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      parser.finish("timed out after " + std::to_string(timeout.count()) + " ms");
      break;
    }
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  return parser.response();
}

void RawConnection::close() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

}  // namespace tether::demo_tour
