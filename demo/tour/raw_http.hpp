// raw_http.hpp — HTTP/1.1 over a plain socket, for what a well-behaved client cannot do.
//
// tether::http::Client does the ordinary calls of the tour. A RawConnection is for the
// others: a client that sends a request and hangs up halfway (the disconnect scenario), many
// requests written before a signal and read after it (the SIGTERM scenario), a request whose
// headers the tour chooses exactly (grpc-timeout, traceparent).
//
//   RawConnection c = RawConnection::connect(port);
//   c.send_all(format_get("/users/42?profile_latency=3000", {{"traceparent", tp}}));
//   std::this_thread::sleep_for(150ms);
//   c.close();                                  // the server sees the hang-up
//
// Requests are sent with "Connection: close", so a response ends at the end of the stream
// and ResponseParser can tell a complete response (Content-Length bytes of body) from a cut
// one. Thread safety: a RawConnection belongs to one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tether::demo_tour {

/// An HTTP response as read from a socket.
struct RawResponse {
  int status = 0;         ///< 0 until the status line was read
  bool complete = false;  ///< headers and the whole body arrived (see ResponseParser)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string error;  ///< why it is not complete, when it is not

  /// The first value of a header (case-insensitive name), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
};

/// Incremental parser of one response: status line, headers, then a body of Content-Length
/// bytes, or — without Content-Length — everything until the end of the stream (requests go
/// out with "Connection: close"). Chunked bodies are not supported: tether::http::Server
/// always sends Content-Length.
class ResponseParser {
 public:
  /// Adds bytes read from the socket.
  void feed(std::string_view bytes);
  /// True once the whole response (with its body) has arrived.
  bool complete() const noexcept { return response_.complete; }
  /// What was parsed so far; call finish() first at the end of the stream.
  const RawResponse& response() const noexcept { return response_; }
  /// The stream ended: records why the response is incomplete, if it is.
  void finish(const std::string& reason);

 private:
  std::string buffer_;
  bool headers_done_ = false;
  std::optional<std::size_t> content_length_;  // nullopt: the body ends with the stream
  RawResponse response_;
};

/// "GET <target> HTTP/1.1" with Host, Connection: close and `headers`.
std::string format_get(std::string_view target,
                       const std::vector<std::pair<std::string, std::string>>& headers = {});

/// A TCP connection to 127.0.0.1.
class RawConnection {
 public:
  /// Connects (blocking, bounded by the kernel's connect on loopback). Throws
  /// std::system_error on failure.
  static RawConnection connect(std::uint16_t port);
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection() { close(); }

  /// Writes every byte. Throws std::system_error on failure.
  void send_all(std::string_view bytes);
  /// Reads until the response is complete, the stream ends or `timeout` passes.
  RawResponse read_response(std::chrono::milliseconds timeout);
  /// Reads what is available now (non-blocking) into `parser`; returns false at the end of
  /// the stream or on an error (after calling parser.finish()).
  bool read_available(ResponseParser& parser);
  /// Closes the socket (a FIN to the server). Idempotent.
  void close() noexcept;
  int fd() const noexcept { return fd_; }

 private:
  explicit RawConnection(int fd) noexcept : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace tether::demo_tour
