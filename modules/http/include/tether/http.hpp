// tether/http.hpp — an HTTP/1.1 server whose request context really cancels, and a client
// that honours its context (on Boost.Beast; Beast stays out of this header).
//
// The promise of Go's net/http, kept: a handler receives a Context that is done when
//   * the client closes the connection or resets it  → cause "client disconnected";
//   * the route's timeout (or the caller's propagated deadline) passes → deadline_exceeded,
//     and the client gets 504 Gateway Timeout;
//   * the server shuts down and its grace period ends  → cause "server shutdown";
//   * the server's base context is cancelled.
// A handler that gives up because its context was cancelled gets nothing written (the
// client is gone, or the server is going): the access log records 499, never 500.
//
//   tether::http::Server server(tether::background(), {.port = 8080});
//   server.route("GET", "/search", [](const tether::Context& ctx, const tether::http::Request& r) {
//     auto results = search(ctx, r.query());        // passes ctx down: it stops when told
//     if (ctx.err()) return tether::http::Response{};  // nothing is written for a cancel
//     return tether::http::Response::text(200, results);
//   }, {.timeout = 2s});
//   server.start();
//   ...
//   auto [grace, stop] = tether::with_timeout(tether::background(), 10s);
//   server.shutdown(grace);
//
//   tether::http::Client client;
//   auto [ctx, cancel] = tether::with_timeout(parent, 500ms);
//   auto r = client.get(ctx, "http://127.0.0.1:8080/search?q=x");  // Result<Response, Error>
//   if (!r && r.error().code == tether::errc::deadline_exceeded) ...
//
// How disconnects are seen: while a handler runs, its connection keeps one read
// outstanding. End of stream or a reset cancels the request context at once (a few
// milliseconds on loopback). Bytes that arrive instead — a pipelined next request — are
// buffered for later and do not cancel (Go issue 23921). A client that half-closes its
// side after sending the request (shutdown(SHUT_WR)) is treated as gone, as in Go.
//
// Cross-process: the server reads `grpc-timeout` (see tether/propagation.hpp), caps it at
// ServerOptions::max_timeout and bounds the request context by it; it reads `traceparent`,
// stores a child span under tether::trace_key (a new trace when the header is missing or
// invalid) and echoes that span's `traceparent` in the response. Invalid headers are
// ignored, never trusted. The client sends the time left minus a margin as `grpc-timeout`
// and a `traceparent` with a new span id, in the caller's trace when ctx carries one.
//
// Coroutine handlers: a route whose handler returns boost::asio::awaitable<Response> runs on
// the I/O threads, holding no thread while it waits — thousands of requests in flight on two
// threads, as goroutines are in Go; its context ends on the same events. It takes its
// Context BY VALUE (see CoroutineHandler) and waits with tether/asio/awaitable.hpp:
//
//   server.route("GET", "/slow", [](tether::Context ctx, const tether::http::Request&)
//                                    -> boost::asio::awaitable<tether::http::Response> {
//     if (auto ec = co_await tether::asio::sleep_for(ctx, 2s)) co_return {};  // cancelled
//     co_return tether::http::Response::text(200, "slept");
//   });
//
// Threads: the server runs its sockets and coroutine handlers on ServerOptions::io_threads
// threads (each connection on one of them) and blocking handlers on a pool of
// ServerOptions::workers threads; a blocking handler occupies a worker until it returns, so
// handlers must honour their context. Configure
// (route) and start() from one thread; then port() and shutdown() may be called from any
// thread (shutdown() once at a time, never from a handler). Client is thread-safe; each call runs
// its own sockets on the calling thread and blocks until it completes or its context is done.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "tether/context.hpp"
#include "tether/result.hpp"

namespace tether::http {

/// Why tether::http ended a request context: the code of its cause, compared with ==,
/// never by message.
///
///   if (tether::cause(ctx) == tether::http::errc::client_disconnected) ...
///   if (entry.cause_code == tether::http::errc::server_shutdown) ...  // in an access log
///
/// Category "tether.http"; the messages are the causes' texts ("client disconnected",
/// "server shutdown"). Both also compare equal to std::errc::operation_canceled.
enum class errc {
  client_disconnected = 1,  ///< the client closed or reset the connection mid-request
  server_shutdown,          ///< Server::shutdown's grace period ended with the request running
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// An ordered list of header fields. Lookups are case-insensitive, as HTTP requires.
class Headers {
 public:
  /// The first value of `name`, or nullptr.
  const std::string* find(std::string_view name) const noexcept;
  /// Replaces every field called `name` by one with `value`.
  void set(std::string_view name, std::string value);
  /// Appends a field (keeps existing ones of the same name).
  void add(std::string name, std::string value);
  const std::vector<std::pair<std::string, std::string>>& fields() const noexcept {
    return fields_;
  }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

/// An incoming request as the handler sees it: fully read (the body is in memory, within
/// ServerOptions::body_limit).
struct Request {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< as sent: "/search?q=x"
  Headers headers;
  std::string body;

  /// The target without its query: "/search".
  std::string_view path() const noexcept;
  /// The query without '?': "q=x" (empty when there is none).
  std::string_view query() const noexcept;
  /// The query's parameters, percent-decoded ('+' is a space), in order: for
  /// "?a=1&b=x%20y&c" {{"a", "1"}, {"b", "x y"}, {"c", ""}}. A malformed parameter (a bad
  /// %-escape) is left out, as Go's url.ParseQuery drops it. Go: r.URL.Query().
  std::vector<std::pair<std::string, std::string>> query_params() const;
  /// The decoded value of the first query parameter called `name` (exact, case-sensitive);
  /// std::nullopt when there is none. Go: r.URL.Query().Get(name), which cannot tell
  /// absent from empty.
  std::optional<std::string> query_value(std::string_view name) const;

  /// The value of wildcard `name` of the matched route pattern, percent-decoded: for route
  /// "/users/{id}" and target "/users/42?x=1", path_value("id") is "42". Empty when the route
  /// has no such wildcard. Go 1.22: `r.PathValue("id")`.
  std::string_view path_value(std::string_view name) const noexcept;

  /// The wildcards of the matched route, in pattern order: {name, decoded value}. Filled by
  /// the server before the handler runs.
  std::vector<std::pair<std::string, std::string>> path_values;
};

/// A response: status, headers and a body. The framing is the server's: it writes
/// Content-Length (the body's size) and Connection (keep-alive or close) itself and drops
/// those fields, and Transfer-Encoding, from `headers`. A 1xx, 204 or 304 response is sent
/// without body or Content-Length (RFC 9110 §6.4.1), a response to HEAD without its body.
struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  /// A text/plain response.
  static Response text(int status, std::string body);
};

/// A blocking request handler. It runs on a worker thread (ServerOptions::workers) and
/// holds it until it returns; `ctx` is the request context (see the header comment). When
/// it returns, the same worker writes the response if the socket takes all of it at once
/// (no hand-off back to an I/O thread); otherwise the connection's I/O thread writes it.
/// Throwing answers 500 with a generic body; the exception's message goes to the access log
/// (AccessLogEntry::error), never to the client.
using Handler = std::function<Response(const Context& ctx, const Request& request)>;
/// The same: the name to use where the choice between blocking and coroutine matters.
using BlockingHandler = Handler;

/// A coroutine request handler (Boost.Asio): it runs on the connection's I/O thread and
/// holds no thread while it is suspended, so thousands of requests can be in flight on a
/// few I/O threads. Its context is done on exactly the events that end a blocking handler's
/// (client disconnect, deadline, shutdown); it sees them through awaitables bound to `ctx`
/// (tether/asio/awaitable.hpp: done, sleep_for, run_blocking; tether::asio::bind_context).
/// It must not block: a blocking call stalls every connection of that I/O thread — run it
/// with tether::asio::run_blocking. Exceptions are treated as a blocking handler's.
///
/// Lifetimes: take the Context BY VALUE — a `const Context&` parameter of a coroutine refers
/// to a temporary that is gone after the first suspension (Server::route refuses such a
/// lambda at compile time). `request` stays valid until the coroutine completes.
///
///   server.route("GET", "/slow",
///       [](tether::Context ctx, const Request& req) -> boost::asio::awaitable<Response> {
///         if (auto ec = co_await tether::asio::sleep_for(ctx, 2s)) co_return Response{};
///         co_return Response::text(200, "slept");
///       });
using CoroutineHandler =
    std::function<boost::asio::awaitable<Response>(Context ctx, const Request& request)>;

namespace internal {
template <class M>
struct FirstParameter {
  using type = void;
};
template <class R, class A, class... Rest>
struct FirstParameter<R (*)(A, Rest...)> {
  using type = A;
};
template <class C, class R, class A, class... Rest>
struct FirstParameter<R (C::*)(A, Rest...)> {
  using type = A;
};
template <class C, class R, class A, class... Rest>
struct FirstParameter<R (C::*)(A, Rest...) const> {
  using type = A;
};
template <class C, class R, class A, class... Rest>
struct FirstParameter<R (C::*)(A, Rest...) noexcept> {
  using type = A;
};
template <class C, class R, class A, class... Rest>
struct FirstParameter<R (C::*)(A, Rest...) const noexcept> {
  using type = A;
};
/// True when F's call operator (or F, a function pointer) visibly takes its first parameter
/// by reference; generic lambdas cannot be inspected and pass.
template <class F>
constexpr bool first_parameter_is_reference() {
  if constexpr (std::is_pointer_v<F>) {
    return std::is_reference_v<typename FirstParameter<F>::type>;
  } else if constexpr (requires { &F::operator(); }) {
    return std::is_reference_v<typename FirstParameter<decltype(&F::operator())>::type>;
  } else {
    return false;
  }
}
}  // namespace internal

/// One access-log record, written when a request is finished.
struct AccessLogEntry {
  std::string method;
  std::string path;
  int status = 0;  ///< 499: cancelled (client gone or shutdown), nothing was written
  std::chrono::microseconds duration{0};
  std::string trace_id;  ///< 32 hex digits
  /// The request context's cause when it had ended before its response was written (499,
  /// 504); empty otherwise, also when the client closed right after reading the response.
  std::string cause;
  /// The cause's code: http::errc::client_disconnected, http::errc::server_shutdown,
  /// tether::errc::deadline_exceeded (504), or whatever a parent context was cancelled with.
  std::error_code cause_code;
  /// A handler's exception message (status 500). The client gets only "Internal Server
  /// Error": the text may hold internals and goes to the log alone.
  std::string error;

  /// "GET /search 200 1.234ms trace=4bf9… cause=\"client disconnected\"".
  std::string format() const;
};

/// Where access-log records go. Called from the server's I/O threads and, for a blocking
/// handler's response that its worker wrote itself, from that worker thread; must be
/// thread-safe and quick.
using AccessLog = std::function<void(const AccessLogEntry&)>;

/// Per-route options.
struct RouteOptions {
  /// Bounds every request's context on this route (deadline_exceeded, 504). Zero: the
  /// server's default_timeout.
  std::chrono::milliseconds timeout{0};
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  ///< 0: any free port (see Server::port())
  std::size_t io_threads = 1;
  std::size_t workers = 4;
  /// Time allowed to receive a whole request, headers and body, once its first byte is
  /// awaited; also the idle time allowed between keep-alive requests. A slow client (a
  /// slowloris) is disconnected when it passes.
  std::chrono::milliseconds read_timeout{10'000};
  /// Time allowed to write a response.
  std::chrono::milliseconds write_timeout{10'000};
  /// The request timeout of routes that set none.
  std::chrono::milliseconds default_timeout{30'000};
  /// The largest `grpc-timeout` a caller may ask for; larger values are capped to it.
  std::chrono::milliseconds max_timeout{60'000};
  /// Request line + headers; beyond it: 431. It also bounds what a chunked body may carry
  /// besides data: chunk extensions (in all, beyond it: 400) and the trailer section
  /// (with at most 16 KiB of read-ahead beyond it: 431), so memory per connection stays
  /// bounded.
  std::size_t header_limit = 8 * 1024;
  std::uint64_t body_limit = 1024 * 1024;  ///< beyond it: 413
  /// Open connections at most (0: no limit). At the limit the server stops accepting — new
  /// clients wait in the kernel's listen backlog — until a connection closes. Independently,
  /// when accept() fails (EMFILE, ENFILE: out of descriptors) the server retries after 5 ms,
  /// doubling up to 1 s, as Go's net/http does, instead of spinning.
  std::size_t max_connections = 10'000;
  /// Defaults to one line per request on stderr.
  AccessLog access_log;
};

/// The HTTP/1.1 server. See the header comment.
class Server {
 public:
  /// Request contexts derive from `base`: cancelling it cancels every request.
  Server(const Context& base, ServerOptions options);
  /// Cancels what is still running with cause "server shutdown" and waits for it.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Adds a route for `method` and a path pattern. A pattern is an exact path ("/healthz")
  /// or has wildcard segments: "/users/{id}" matches "/users/42" (one whole, non-empty
  /// segment; read it with Request::path_value("id")). Exact routes are tried before
  /// patterns, and patterns in the order they were added. Unknown paths answer 404, a
  /// known path with another method 405. Call before start(). Throws std::invalid_argument
  /// for a malformed pattern: not starting with '/', a brace that does not enclose a whole
  /// segment, an empty or repeated wildcard name.
  ///
  /// A `Handler` (returns Response) is blocking and runs on the worker pool; a coroutine
  /// (returns boost::asio::awaitable<Response>, see CoroutineHandler) runs on the I/O
  /// threads. Routes that must answer while every worker is busy — health, metrics, debug
  /// pages — should be coroutines (or at least never block).
  void route(std::string method, std::string path, Handler handler, RouteOptions options = {});
  /// A coroutine route. Refuses, at compile time, a lambda whose Context parameter is a
  /// reference (it would dangle after the first suspension).
  template <class F>
  requires std::is_invocable_r_v<boost::asio::awaitable<Response>, F&, Context, const Request&> void
  route(std::string method, std::string path, F handler, RouteOptions options = {}) {
    static_assert(!internal::first_parameter_is_reference<F>(),
                  "a coroutine handler must take its tether::Context by value: a reference "
                  "parameter dangles after the coroutine's first suspension");
    route_coroutine(std::move(method), std::move(path), CoroutineHandler(std::move(handler)),
                    options);
  }

  /// Binds, listens and starts the threads. Throws std::system_error if it cannot bind.
  void start();
  /// The port actually bound (after start()).
  std::uint16_t port() const noexcept;

  /// Graceful shutdown: stops accepting (new connections are refused), closes idle
  /// connections, lets in-flight requests finish until `ctx` is done, then cancels what
  /// remains with cause "server shutdown" and waits for those handlers to return. Blocks.
  /// Returns {} if everything finished in time, else ctx.err(). Go: Server.Shutdown.
  std::error_code shutdown(const Context& ctx);

  /// Internal: the implementation, in server.cpp.
  struct Impl;

 private:
  void route_coroutine(std::string method, std::string path, CoroutineHandler handler,
                       RouteOptions options);
  std::shared_ptr<Impl> impl_;
};

// ---- the client ------------------------------------------------------------------------
//
// tether::http::Client calls HTTP/1.1 servers under a context: resolving, connecting,
// writing and reading all end when the context does, and the context's deadline and trace
// travel with the call (`grpc-timeout`, `traceparent`).
//
//   tether::http::Client client;                      // one per process is enough: it pools
//   auto [ctx, cancel] = tether::with_timeout(parent, 500ms);
//   auto r = client.get(ctx, "http://127.0.0.1:8080/search?q=x");  // Result<Response, Error>
//   if (!r && r.error().code == tether::errc::deadline_exceeded) ...  // ours, or a 504 for it
//   else if (!r) log(r.error().message);                  // canceled, refused, reset, ...
//   else use(r->status, r->body);                         // any status the server chose
//
// A deadline is a deadline. A 504 Gateway Timeout answer fails the call with
// tether::errc::deadline_exceeded, whoever's deadline it was, as gRPC reports a callee's
// DEADLINE_EXCEEDED: the client sends the time left minus deadline_margin, so a tether
// server (or any that honours grpc-timeout) gives up first and answers 504 while the
// caller still has the margin left — that 504 is the caller's own deadline, and so is the
// 504 of a service further down the chain that passes the 504 of its own call up. The
// 504 stays in the error's `response` (status, headers, body) for logs; a call that got no
// answer at all has none. Every other status is an ordinary answer: the call succeeds.
//
// Connections: one pool per Client (copies share it), keyed by scheme, host and port.
// A call takes the most recently used idle connection to its host, else connects; after a
// complete response that allows keep-alive it puts the connection back. A connection
// whose call failed or was cancelled mid-flight is closed, never reused. At most
// ClientOptions::max_idle_per_host idle connections per host and max_idle in all are
// kept (beyond them the connection being returned, or the oldest idle one, is closed);
// an idle connection is closed after idle_timeout (on tether's clock: ManualClock in
// tests). Calls in flight are not limited. A connection that the server closed while it
// was idle is noticed before reuse; if a reused connection fails before any byte of the
// response arrived, an idempotent request (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) is sent
// once more on a new connection, as Go does.
//
// Names: an IP literal ("127.0.0.1", "[::1]") is used as is. A host name is resolved with
// getaddrinfo on a thread of its own, so the call returns when ctx is done even if the
// resolver hangs; that thread finishes (and its answer is dropped) when libc gives up, as
// /etc/resolv.conf says (5 s per try by default).
//
// URLs: "http://host[:port][/path][?query]", parsed by Boost.URL; the scheme is
// case-insensitive, the host may be an IPv6 literal in brackets, a fragment is not sent.
// Not supported (std::errc::invalid_argument): other schemes (https: no TLS here),
// user information ("http://user@host/").
//
// Threads: Client is thread-safe. The blocking calls run their sockets on the calling
// thread and block it until the call completes or ctx is done. The awaitable calls
// (co_get, co_post, co_request) run on the awaiting coroutine's executor, on a strand of
// their own, and block nothing: use them in coroutine handlers. Destroying a Client closes
// its idle connections; calls in flight keep what they use alive.

struct ClientOptions {
  /// Subtracted from the time left when sending `grpc-timeout`, so that the server gives
  /// up (and answers 504) before the caller does.
  std::chrono::milliseconds deadline_margin{20};
  std::uint64_t body_limit = 8 * 1024 * 1024;
  /// Idle keep-alive connections kept per host (scheme, host, port). 0: no keep-alive, a
  /// connection per call (sent with `Connection: close`). Go: MaxIdleConnsPerHost.
  std::size_t max_idle_per_host = 4;
  /// Idle connections kept in all; beyond it the oldest is closed. Go: MaxIdleConns.
  std::size_t max_idle = 64;
  /// An idle connection is closed after this long unused. Go: IdleConnTimeout.
  std::chrono::milliseconds idle_timeout{90'000};
};

/// Why a client call failed: the error of tether::Result<Response, Error>, the return of
/// every Client call (get, post, request and their co_ forms).
///
///   * `code` says why, compared with ==: the context's error (tether::errc::canceled,
///     deadline_exceeded) if the context ended the call; deadline_exceeded for a 504
///     answer (see "A deadline is a deadline" above); else the network or protocol error
///     (connection refused, reset, a body over ClientOptions::body_limit,
///     std::errc::invalid_argument for a URL the client does not take).
///   * `message` is for logs: the method, the URL and what went wrong, as Go's url.Error
///     (`GET http://127.0.0.1:1/x: Connection refused`). Never match on it.
///   * `response` is the answer the server gave, when there was one: only the 504 that
///     failed the call with deadline_exceeded has it (status, headers, body, for logs).
///
/// A call that got any other answer (200, 404, 500, ...) succeeds: the Result holds the
/// Response and the status is the server's choice.
struct Error {
  std::error_code code;
  std::string message;
  std::optional<Response> response;
};

/// The response that arrived for a call, whatever its verdict: the value of a call that
/// succeeded, the 504 kept in the error of one that failed with it; nullptr when no
/// response arrived. For logs and for callers that treat a 504 as an answer like any other:
///
///   auto r = client.get(ctx, url);
///   if (const tether::http::Response* got = tether::http::response_of(r)) log(got->status);
inline const Response* response_of(const tether::Result<Response, Error>& r) noexcept {
  if (r) return &*r;
  const auto& kept = r.error().response;
  return kept ? &*kept : nullptr;
}

/// An HTTP/1.1 client with a keep-alive connection pool; see the client comment above.
class Client {
 public:
  explicit Client(ClientOptions options = {});

  /// GET `url`. Resolving, connecting, writing and reading all end when `ctx` is done; the
  /// connection is then closed and the context's error returned. Blocks the calling
  /// thread. `traceparent` always comes from `ctx` (a child span of its trace, or a new
  /// trace), and so does `grpc-timeout` when `ctx` has a deadline (its time left minus the
  /// margin): the same headers in `headers` are replaced, so the context stays the one
  /// source of truth — put a trace in the context (tether::trace_key) to call within it.
  tether::Result<Response, Error> get(const Context& ctx, std::string_view url,
                                      Headers headers = {}) const;
  /// POST `body` to `url`; otherwise like get().
  tether::Result<Response, Error> post(const Context& ctx, std::string_view url, std::string body,
                                       std::string content_type = "application/octet-stream",
                                       Headers headers = {}) const;
  /// Any method.
  tether::Result<Response, Error> request(const Context& ctx, std::string method,
                                          std::string_view url, Headers headers,
                                          std::string body) const;

  /// get() for coroutines: the same call, run on the awaiting coroutine's executor without
  /// blocking a thread. Take the Context by value (as here): a reference can dangle across
  /// a suspension.
  ///
  ///   boost::asio::awaitable<void> handler(tether::Context ctx) {
  ///     auto r = co_await client.co_get(ctx, "http://127.0.0.1:8081/x");
  ///     if (!r) co_return;  // r.error().code says why
  ///   }
  boost::asio::awaitable<tether::Result<Response, Error>> co_get(Context ctx, std::string url,
                                                                 Headers headers = {}) const;
  /// post() for coroutines.
  boost::asio::awaitable<tether::Result<Response, Error>> co_post(
      Context ctx, std::string url, std::string body,
      std::string content_type = "application/octet-stream", Headers headers = {}) const;
  /// request() for coroutines.
  boost::asio::awaitable<tether::Result<Response, Error>> co_request(
      Context ctx, std::string method, std::string url, Headers headers, std::string body) const;

  /// Idle connections in the pool now (all hosts). For tests and metrics.
  std::size_t idle_connections() const;

  /// Internal: the connection pool, in client.cpp.
  struct Pool;

 private:
  ClientOptions options_;
  std::shared_ptr<Pool> pool_;
};

}  // namespace tether::http

template <>
struct std::is_error_code_enum<tether::http::errc> : std::true_type {};
