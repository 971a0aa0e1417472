// <tether/harness/raw_http.hpp> — HTTP/1.1 over a plain socket, for what a well-behaved
// client cannot do.
//
// tether::http::Client does the ordinary calls. A RawConnection is for the others: a client
// that sends a request and hangs up halfway or resets (the http tests, the tour's disconnect
// scenario), malformed or oversized requests (the http tests' bad input), pipelined
// requests on one keep-alive connection, many requests written before a signal and read
// after it (the tour's SIGTERM scenario), a request whose headers are chosen exactly
// (grpc-timeout, traceparent).
//
//   RawConnection c = RawConnection::connect(port);
//   c.send_all(format_get("/users/42?profile_latency=3000", {{"traceparent", tp}}));
//   RawResponse r = c.read_response(5s);        // r.complete, r.status, r.header(..), r.body
//   c.reset();                                  // or close(): the server sees the hang-up
//   RawResponse h = get_once(port, "/healthz"); // connect, GET, read, close
//
// A response is complete when its headers and Content-Length bytes of body have arrived;
// one without Content-Length ends with the stream (format_get sends "Connection: close"
// unless asked not to), and a response to HEAD, a 1xx, 204 or 304 has no body. Bytes past
// one response stay for the next read_response (pipelining). Chunked bodies are not
// supported: tether::http::Server always sends Content-Length.
//
// Thread safety: a RawConnection (and a ResponseParser) belongs to one thread at a time.
// What blocks: connect() (loopback: at once), send_all(), and the reads up to their timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tether::harness {

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

/// Whether a response carries a body: framed (by Content-Length, or by the end of the
/// stream without one) or none (the response to a HEAD request).
enum class Body { framed, none };

/// Incremental parser of one response: status line, headers, then a body of Content-Length
/// bytes, or — without Content-Length — everything until the end of the stream. Bytes fed
/// past the end of the response are kept (take_rest()).
class ResponseParser {
 public:
  explicit ResponseParser(Body body = Body::framed) : body_(body) {}
  /// Adds bytes read from the socket.
  void feed(std::string_view bytes);
  /// True once the whole response (with its body) has arrived.
  bool complete() const noexcept { return response_.complete; }
  /// What was parsed so far; call finish() first at the end of the stream.
  const RawResponse& response() const noexcept { return response_; }
  /// The stream ended (reason "end of stream") or the reader gave up (any other reason):
  /// completes a response whose body ends with the stream, else records why it is not.
  void finish(const std::string& reason);
  /// The bytes fed after the end of a complete response (the next pipelined response).
  std::string take_rest() { return std::exchange(rest_, {}); }

 private:
  void parse_head(std::string_view head);
  void complete_body();
  Body body_;
  std::string buffer_;
  std::string rest_;
  bool headers_done_ = false;
  std::optional<std::size_t> content_length_;  // nullopt: the body ends with the stream
  RawResponse response_;
};

/// How format_get ends the request's headers: "Connection: close" or nothing (keep-alive).
enum class Connection { close, keep_alive };

/// "GET <target> HTTP/1.1" with Host, User-Agent, `headers` and, by default,
/// "Connection: close".
std::string format_get(std::string_view target,
                       const std::vector<std::pair<std::string, std::string>>& headers = {},
                       Connection connection = Connection::close);

/// One GET of `target` on a new keep-alive connection to 127.0.0.1:`port` (so the server
/// does not close first), closed once the response is read: complete, or with its error.
/// Throws std::system_error if the connection cannot be made.
RawResponse get_once(std::uint16_t port, std::string_view target,
                     const std::vector<std::pair<std::string, std::string>>& headers = {},
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// A TCP connection to 127.0.0.1.
class RawConnection {
 public:
  /// Connects (blocking, bounded by the kernel's connect on loopback). Throws
  /// std::system_error on failure.
  static RawConnection connect(std::uint16_t port);
  /// As connect(), but nullopt when the connection is refused or fails.
  static std::optional<RawConnection> try_connect(std::uint16_t port) noexcept;
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection() { close(); }

  /// Writes every byte. Throws std::system_error on failure.
  void send_all(std::string_view bytes);
  /// Reads until one response is complete, the stream ends or `timeout` passes; what is
  /// read but not yet a complete response stays for the next call (nothing is lost when a
  /// read times out).
  RawResponse read_response(std::chrono::milliseconds timeout = std::chrono::seconds(10),
                            Body body = Body::framed);
  /// Waits until the server closes the connection (end of stream or reset); false if
  /// `timeout` passes first. Data that arrives meanwhile is kept for read_response.
  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Everything received until the server closed the connection (or `timeout` passed),
  /// including what read_response left unread.
  std::string read_until_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Reads what is available now (non-blocking) into `parser`, after what read_response
  /// left unread; returns false at the end of the stream or on an error (after calling
  /// parser.finish()). For many connections polled at once (fd()).
  bool read_available(ResponseParser& parser);
  /// Closes the socket (a FIN to the server). Idempotent.
  void close() noexcept;
  /// Closes with a reset (RST), as a crashed client would.
  void reset() noexcept;
  int fd() const noexcept { return fd_; }

 private:
  explicit RawConnection(int fd) noexcept : fd_(fd) {}
  // Reads once (waiting up to `until`) into input_: 1 data, 0 end of stream or error,
  // -1 timeout; `error` says which.
  int fill(std::chrono::steady_clock::time_point until, std::string& error);
  int fd_ = -1;
  std::string input_;  // received, not yet handed out as a response
};

}  // namespace tether::harness
