// tether::http::Server on Boost.Beast. The one file that knows how a connection lives:
//
//   read_request ──► dispatch ──► handler ──► on_handler_done ──► write_response
//                        │          coroutine: co_spawn'ed on the connection's I/O thread
//                        │          blocking: on a worker (respond_from_worker), which
//                        │            writes the response itself when it can, or posts back
//                        └──► watch: one read outstanding while the handler runs
//                              data  → buffered for the next request, read again
//                              EOF / reset → cancel the request context, "client disconnected"
//
// A blocking request's hand-off (run_on_worker → respond_from_worker → on_watch /
// on_worker_done). When the handler returns with its context alive, on a keep-alive
// connection, the worker serializes the response and send()s it on the non-blocking socket
// itself; if all of it went, it logs the request, cancels its context and counts it done,
// and sets kWorkerWrote in `handoff_` — without waking the I/O thread. That thread learns it
// from the watch read that is still outstanding: its completion is the client's next request
// (or EOF), and it goes on from there (after_handler → read_request). No post back, no watch
// cancel, no second read: on a loaded server the blocking path then costs about what a
// coroutine costs (docs/performance.md). Everything else — a cancelled or late request (499,
// 504), a status outside HTTP (500), Connection: close, shutdown begun, a send() that stopped
// at EAGAIN or failed — is handed back (kHandedBack) with a post, and the I/O thread writes or
// finishes it as it does for a coroutine. When the I/O thread cannot count on a socket event
// (bytes of a pipelined request already buffered, the watch saw data or EOF, no watch pending)
// it sets kIoWaits first, and a worker that sees kIoWaits posts even after writing. The
// socket stays open while the worker may write: nothing closes it before the I/O thread has
// seen kWorkerWrote or kHandedBack (close_if_idle and on_timer check `handoff_`; close_now
// runs once no request is in flight).
//
// Threads: one io_context per I/O thread, each run by that thread alone. A connection lives
// on one of them (round robin at accept), so its handlers never run concurrently without a
// strand, and a completion runs on the thread whose epoll_wait saw it: no hop to another
// thread. (With one io_context shared by every I/O thread and a strand per connection, a
// disconnect's completion was often handed to a sleeping sibling thread: the ~70-85 µs mode
// of disconnect → context done, against ~12 µs without the hop.)
//
// The cheap path of a small request: the request is parsed by feeding the Beast parser what
// one async_read_some brought; the response is serialized into a per-connection string and
// written at once with a non-blocking write_some (async, under write_timeout, only for what
// the socket does not take); read, write and linger timeouts are one per-connection timer,
// re-armed lazily (see expires_after). Instructions per request: docs/performance.md.
//
// Every Connection member is touched only on the connection's I/O thread, except while a
// blocking handler runs: then its worker reads the request's fields (`request_`, `trace_`,
// `version_`, `keep_alive_`, `started_`, `ctx_`) and writes `handler_error_`, `out_`,
// `response_` and the worker_* fields, between the post() that starts it and the moment
// the I/O thread sees its bit in `handoff_` (acquire; the worker's fetch_or releases). Both
// sides may call a cancel function of the request (they are thread-safe); only the I/O
// thread destroys them.
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sys/socket.h>
#include <sys/types.h>

#include "router.hpp"
#include "tether/context.hpp"
#include "tether/http.hpp"
#include "tether/propagation.hpp"

namespace tether::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

using SteadyClock = std::chrono::steady_clock;                // of socket timeouts (Asio's timers)
constexpr auto kLingerTime = std::chrono::milliseconds(500);  // draining before close

struct Route {
  Handler handler;             // a blocking route: runs on the worker pool
  CoroutineHandler coroutine;  // a coroutine route: runs on the connection's I/O thread
  std::chrono::milliseconds timeout;
};

const char* reason_phrase(int status) {
  return bhttp::obsolete_reason(static_cast<bhttp::status>(status)).data();
}

Response status_response(int status) { return Response::text(status, reason_phrase(status)); }

// Room to read beyond the header limit: one read's worth of body or pipelined bytes.
constexpr std::size_t kReadSlack = 16 * 1024;

// True unless Transfer-Encoding is present and its last coding is not "chunked".
bool last_coding_is_chunked_if_any(beast::string_view te) {
  if (te.empty()) return true;
  std::size_t end = te.find_last_not_of(" \t,");
  if (end == beast::string_view::npos) return false;
  std::size_t start = te.find_last_of(" \t,", end);
  start = start == beast::string_view::npos ? 0 : start + 1;
  return beast::iequals(te.substr(start, end + 1 - start), "chunked");
}

// A handler's exception: a generic 500 for the client, the text for the log in `error`.
Response failure_response(std::exception_ptr e, std::string& error) {
  try {
    std::rethrow_exception(std::move(e));
  } catch (const std::exception& ex) {
    error = ex.what();
  } catch (...) {
    error = "an exception not derived from std::exception";
  }
  return status_response(500);  // the text is for the log, never for the client
}

bool no_body_allowed(int status) {  // RFC 9110 §6.4.1: 1xx, 204 and 304 carry no content
  return status < 200 || status == 204 || status == 304;
}

// Writes `r` as an HTTP/1.x response into `out` (reused from request to request, so its
// capacity stays). The handler's fields are written as given, except the framing ones this
// server owns: Content-Length (the body's size), Transfer-Encoding (never: the body is in
// memory) and Connection (`keep_alive`'s). A response to HEAD, or one whose status allows no
// content, carries no body; the latter no Content-Length either.
void serialize_response(std::string& out, unsigned version, const Response& r, bool keep_alive,
                        const TraceContext& trace, bool head) {
  char number[24];
  auto append_number = [&](auto n) {
    out.append(number,
               static_cast<std::size_t>(std::to_chars(number, std::end(number), n).ptr - number));
  };
  out.clear();
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  append_number(r.status);
  out += ' ';
  if (auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
      bhttp::int_to_status(static_cast<unsigned>(r.status)) != bhttp::status::unknown)
    out.append(reason.data(), reason.size());
  out += "\r\n";
  for (const auto& [name, value] : r.headers.fields()) {
    if (beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding") ||
        beast::iequals(name, "connection"))
      continue;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "traceparent: ";
  out += format_traceparent(trace);
  out += "\r\n";
  if (version == 10 && keep_alive) out += "Connection: keep-alive\r\n";
  if (version != 10 && !keep_alive) out += "Connection: close\r\n";
  const bool bodyless = no_body_allowed(r.status);
  if (!bodyless) {
    out += "Content-Length: ";
    append_number(r.body.size());
    out += "\r\n";
  }
  out += "\r\n";
  if (!bodyless && !head) out += r.body;
}

// The status for a request that could not be read; 0 means "just close".
int status_for_read_error(const error_code& ec) {
  if (ec == bhttp::error::header_limit) return 431;
  if (ec == bhttp::error::buffer_overflow) return 431;  // trailers or a chunk line too large
  if (ec == bhttp::error::body_limit) return 413;
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return 0;
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) return 400;
  return 0;  // timeouts, resets, aborts: the client is gone or too slow
}

}  // namespace

class Connection;

// Room for one handler at a time (Asio's handler-allocation pattern), so that a blocking
// request's hand-off to a worker and back allocates nothing. A connection has one per
// direction, and one hand-off in flight: Asio frees an operation's memory before it invokes
// the handler, and the next allocation of the same block follows that free through the
// chain of posts (the worker pool's and the io_context's queues order them).
class HandlerMemory {
 public:
  HandlerMemory() = default;
  HandlerMemory(const HandlerMemory&) = delete;
  HandlerMemory& operator=(const HandlerMemory&) = delete;

  void* allocate(std::size_t size) {
    if (in_use_ || size > sizeof storage_) return ::operator new(size);  // not expected
    in_use_ = true;
    return storage_;
  }
  void deallocate(void* p) noexcept {
    if (p == storage_) {
      in_use_ = false;
    } else {
      ::operator delete(p);
    }
  }

 private:
  alignas(std::max_align_t) unsigned char storage_[256];
  bool in_use_ = false;
};

template <class T>
struct HandlerAllocator {
  using value_type = T;
  explicit HandlerAllocator(HandlerMemory& m) noexcept : memory(&m) {}
  template <class U>
  HandlerAllocator(const HandlerAllocator<U>& other) noexcept : memory(other.memory) {}
  T* allocate(std::size_t n) { return static_cast<T*>(memory->allocate(sizeof(T) * n)); }
  void deallocate(T* p, std::size_t) noexcept { memory->deallocate(p); }
  template <class U>
  bool operator==(const HandlerAllocator<U>& other) const noexcept {
    return memory == other.memory;
  }
  HandlerMemory* memory;
};

// One io_context per I/O thread (at least one); concurrency hint 1: each is run by one thread.
// Each one's reactor (an epoll and an eventfd) is made now, by a timer: made lazily by the
// first connection accepted into it, it could fail for lack of descriptors (EMFILE) there.
std::vector<std::unique_ptr<net::io_context>> make_io_contexts(std::size_t threads) {
  std::vector<std::unique_ptr<net::io_context>> out;
  for (std::size_t i = 0; i < std::max<std::size_t>(1, threads); ++i) {
    out.push_back(std::make_unique<net::io_context>(1));
    net::steady_timer reactor_now(*out.back());
  }
  return out;
}

struct Server::Impl {
  Impl(const Context& base_ctx, ServerOptions opts)
      : options(std::move(opts)),
        life(with_cancel_cause(base_ctx)),
        iocs(make_io_contexts(options.io_threads)),
        acceptor(*iocs.front()),
        workers(std::max<std::size_t>(1, options.workers)) {
    if (!options.access_log) {
      options.access_log = [](const AccessLogEntry& e) {
        std::string line = e.format() + "\n";
        std::fputs(line.c_str(), stderr);
      };
    }
  }

  void accept();
  void accept_later();
  void close_acceptor();
  std::error_code shutdown(const Context& ctx);
  std::vector<std::shared_ptr<Connection>> open_connections();
  void stop_threads();

  // The route for this request (router.hpp), with the request's path values filled in;
  // nullptr with the status to answer (404, 405 or 400) when there is none.
  const Route* find_route(Request& request, int& status) const {
    detail::Router::Found found = router.find(request.method, request.path());
    if (!found.index) {
      status = found.status;
      return nullptr;
    }
    request.path_values = std::move(found.values);
    return &routes[*found.index];
  }

  ServerOptions options;
  detail::Router router;      // fixed once started
  std::vector<Route> routes;  // fixed once started; routes[i] is the router's route i
  // The server's own context: every request context derives from it, and the end of a
  // shutdown grace period cancels it with cause "server shutdown".
  Derived<ScopedCancelCause> life;

  std::mutex mu;
  std::condition_variable cv;
  // The request path reads and counts without `mu` (a lock shared by every I/O thread, four
  // times a request, was measurable). A request counts itself in `in_flight` and then checks
  // `stopping`; shutdown sets `stopping` and then reads `in_flight` (both seq_cst): either
  // the request sees shutdown and backs out, or shutdown sees the request and waits for it.
  std::atomic<std::size_t> in_flight{0};  // requests dispatched and not yet finished
  std::atomic<bool> stopping{false};      // shutdown has begun (set under mu): no new request

  // A request is finished (or backed out): wakes shutdown if it waits for the last one.
  void request_done() {
    if (in_flight.fetch_sub(1) == 1 && stopping.load()) {
      std::lock_guard lock(mu);  // the waiter checks under mu: it cannot miss this
      cv.notify_all();
    }
  }
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections;  // under mu
  bool accept_paused = false;  // under mu: max_connections reached; a closing one resumes

  // Destroyed in reverse order: the worker pool (holding connections) goes before the
  // io_contexts that own their sockets.
  std::vector<std::unique_ptr<net::io_context>> iocs;  // one per I/O thread
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  tcp::acceptor acceptor;                                     // on iocs.front()
  net::steady_timer accept_backoff{acceptor.get_executor()};  // on the acceptor's thread
  std::chrono::milliseconds accept_delay{0};                  // on the acceptor's thread
  std::size_t next_ioc = 0;  // on the acceptor's thread: where the next connection lives
  std::uint16_t bound_port = 0;
  net::thread_pool workers;
  std::vector<std::thread> io_threads;
  bool started = false;  // set by start(), before any other thread exists
  std::once_flag stop_once;
  std::atomic<bool> stopped{false};  // threads joined
};

// One accepted TCP connection: reads requests one at a time and answers them in order.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server::Impl& server, net::io_context& home, tcp::socket socket)
      : server_(server),
        home_(home.get_executor()),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        // Bounded memory: what the parser must hold at once (the header section, a chunk-size
        // line with its extensions, the trailer section) fits in the header limit plus one
        // read; more is refused (431) instead of growing the buffer without end.
        buffer_(server.options.header_limit + kReadSlack) {
    on_chunk_header_ = [this](std::uint64_t, beast::string_view extensions, error_code& ec) {
      chunk_extension_bytes_ += extensions.size();
      if (chunk_extension_bytes_ > server_.options.header_limit)
        ec = bhttp::error::bad_chunk_extension;  // 400: they count against the header limit
    };
  }

  ~Connection() {
    bool resume = false;
    {
      std::lock_guard lock(server_.mu);
      server_.connections.erase(this);
      resume = server_.accept_paused && !server_.stopping;
      server_.accept_paused = false;
    }
    if (resume) {
      net::post(server_.acceptor.get_executor(), [&s = server_] {
        if (s.acceptor.is_open()) s.accept();
      });
    }
  }

  void start() {
    error_code ignored;  // write_now() needs it; FIONBIO on an open socket does not fail
    socket_.non_blocking(true, ignored);
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->read_request(); });
  }

  // Shutdown: a connection waiting for a request is closed; one serving a request
  // finishes it (and then closes, since the server is stopping).
  void close_if_idle() {
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      const bool worker_wrote =
          self->on_worker_ && (self->handoff_.load(std::memory_order_acquire) & kWorkerWrote);
      if (!self->in_request_ || worker_wrote) self->close();
    });
  }

  // End of shutdown: closes the socket whatever it is doing (a keep-alive read that began
  // after close_if_idle, a lingering close) before the I/O threads stop.
  std::future<void> close_now() {
    auto closed = std::make_shared<std::promise<void>>();
    auto future = closed->get_future();
    net::dispatch(socket_.get_executor(), [self = shared_from_this(), closed] {
      self->close();
      closed->set_value();
    });
    return future;
  }

 private:
  void read_request() {
    if (server_.stopping.load()) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(server_.options.header_limit, UINT32_MAX)));
    parser_->body_limit(server_.options.body_limit);
    chunk_extension_bytes_ = 0;
    parser_->on_chunk_header(on_chunk_header_);
    parser_->eager(true);
    expires_after(server_.options.read_timeout);
    if (auto done = parse_buffered()) {  // pipelined: posted, so that requests do not nest
      return net::post(socket_.get_executor(),
                       [self = shared_from_this(), ec = *done] { self->on_read(ec); });
    }
    read_some();
  }

  // Feeds what is buffered to the parser: the request's result (an error, or none for a
  // whole request), or nullopt when the parser needs more bytes. What Beast's
  // http::async_read does, without a composed operation per read.
  std::optional<error_code> parse_buffered() {
    while (buffer_.size() > 0) {
      error_code ec;
      const std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_more) return std::nullopt;
      if (ec || parser_->is_done()) return ec;
      if (used == 0) return std::nullopt;
    }
    return std::nullopt;
  }

  void read_some() {
    const std::size_t room = buffer_.max_size() - buffer_.size();
    if (room == 0) return on_read(bhttp::error::buffer_overflow);  // 431
    const std::size_t size =
        std::min(room, std::max<std::size_t>(512, buffer_.capacity() - buffer_.size()));
    socket_.async_read_some(
        buffer_.prepare(size),
        [self = shared_from_this()](error_code ec, std::size_t n) { self->on_read_some(ec, n); });
  }

  void on_read_some(error_code ec, std::size_t n) {
    buffer_.commit(n);
    if (ec == net::error::eof) {
      if (!parser_->got_some()) return on_read(bhttp::error::end_of_stream);
      ec = {};
      parser_->put_eof(ec);  // a request whose end is the end of the stream, or partial
      return on_read(ec);
    }
    if (ec) return on_read(ec);
    if (auto done = parse_buffered()) return on_read(*done);
    read_some();
  }

  void on_read(const error_code& ec) {
    expires_never();
    if (ec) {
      if (int status = status_for_read_error(ec)) {
        return write_error(status);
      }
      return close();
    }
    dispatch();
  }

  void dispatch() {
    auto& msg = parser_->get();
    if (!last_coding_is_chunked_if_any(msg[bhttp::field::transfer_encoding]))
      return write_error(400);  // RFC 9112 §6.3: the body's length cannot be determined
    started_ = Clock::now();
    request_ = Request{};
    request_.method = std::string(msg.method_string());
    request_.target = std::string(msg.target());
    for (const auto& field : msg) {
      request_.headers.add(std::string(field.name_string()), std::string(field.value()));
    }
    request_.body = std::move(msg.body());
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();

    // The trace: a child span of the caller's, or a new trace if it sent none we trust.
    std::optional<TraceContext> incoming;
    if (const std::string* tp = request_.headers.find("traceparent"))
      incoming = parse_traceparent(*tp);
    trace_ = incoming ? incoming->child() : TraceContext::new_root();

    int status = 0;
    const Route* route = server_.find_route(request_, status);
    server_.in_flight.fetch_add(1);
    if (server_.stopping.load()) {
      server_.request_done();
      return close();
    }
    in_request_ = true;
    if (route == nullptr) {
      response_ = status_response(status);
      return write_response();
    }

    // The deadline: the route's, shortened by the caller's propagated budget (capped).
    std::chrono::nanoseconds timeout =
        route->timeout.count() > 0 ? route->timeout : server_.options.default_timeout;
    if (const std::string* t = request_.headers.find("grpc-timeout")) {
      if (auto asked = parse_grpc_timeout(*t)) {
        auto capped =
            std::min<std::chrono::nanoseconds>(asked->duration(), server_.options.max_timeout);
        timeout = std::min(timeout, capped);
      }
    }
    auto [conn_ctx, cancel_conn] = with_cancel_cause(server_.life.ctx);
    auto [timed_ctx, cancel_timer] = with_timeout(conn_ctx, timeout);
    ctx_ = with_value(timed_ctx, trace_key, trace_);
    cancel_conn_.emplace(std::move(cancel_conn));
    cancel_timer_.emplace(std::move(cancel_timer));

    handler_running_ = true;
    peer_gone_ = false;
    response_.reset();
    watch();
    if (route->coroutine) return spawn_coroutine(*route);
    run_on_worker(*route);
  }

  // A blocking route runs on a worker; its response comes back to this connection's I/O
  // thread. Both posts take their memory from the connection (HandlerMemory), not the heap.
  void run_on_worker(const Route& route) {
    on_worker_ = true;
    // A request already buffered behind this one, or no watch pending: no socket event is
    // sure to wake this thread once the worker has written, so the worker must post.
    handoff_.store(buffer_.size() > 0 || !watching_ ? kIoWaits : 0, std::memory_order_relaxed);
    worker_sent_.reset();
    expires_after(server_.options.read_timeout);  // on_timer knows the worker's part
    auto job = [self = shared_from_this(), route = &route, ctx = ctx_] {
      Response response;
      try {
        response = route->handler(ctx, self->request_);
      } catch (...) {
        response = failure_response(std::current_exception(), self->handler_error_);
      }
      self->respond_from_worker(ctx, std::move(response));
    };
    net::post(server_.workers, net::bind_allocator(HandlerAllocator<void>(to_worker_), job));
  }

  // On the worker, once the handler returned. The common case — no cancel, no deadline, a
  // keep-alive response the socket takes at once — is written, logged and counted here, and
  // the I/O thread is not told: the watch's next completion (the client's next request, or
  // its EOF) finds kWorkerWrote and goes on. Anything else is handed back with a post.
  void respond_from_worker(const Context& ctx, Response response) {
    unsigned done = kHandedBack;
    if (ctx.err() || response.status < 100 || response.status > 999 || !keep_alive_ ||
        server_.stopping.load()) {
      response_ = std::move(response);  // 499, 504, 500 or a closing connection: the I/O path
    } else if (write_from_worker(response)) {
      done = kWorkerWrote;
    }
    const unsigned before = handoff_.fetch_or(done, std::memory_order_acq_rel);
    if (done == kHandedBack || (before & kIoWaits) != 0) {
      net::post(home_,
                net::bind_allocator(HandlerAllocator<void>(to_io_),
                                    [self = shared_from_this()] { self->on_worker_done(); }));
    }
  }

  // Serializes and sends `r` from the worker with a non-blocking send() on the socket's
  // descriptor, which stays open while the handler runs (nothing closes it before the I/O
  // thread learns that the worker is done). All sent: logged and counted, true. Else the
  // I/O thread continues from worker_sent_ (EAGAIN: the rest async; an error: closes).
  bool write_from_worker(const Response& r) {
    // Read before the send: once the response is out, the client may close and the I/O
    // thread's watch cancel the context ("client disconnected") before the log is made.
    const bool ended = static_cast<bool>(ctx_.err());
    serialize_response(out_, version_, r, true, trace_, request_.method == "HEAD");
    std::size_t sent = 0;
    int err = 0;
    while (sent < out_.size()) {
      const ssize_t k = ::send(fd_, out_.data() + sent, out_.size() - sent, MSG_NOSIGNAL);
      if (k >= 0) {
        sent += static_cast<std::size_t>(k);
      } else if (errno != EINTR) {
        err = errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
        break;
      }
    }
    if (sent < out_.size() || err != 0) {
      worker_sent_ = sent;
      worker_status_ = r.status;
      worker_error_ = error_code(err, boost::system::system_category());
      return false;
    }
    log_request(r.status, ended);
    (*cancel_timer_)();  // a finished request's contexts are cancelled, as in Go, and
    (*cancel_conn_)();   // leave the server's context (release_request destroys them later)
    written_at_ = SteadyClock::now();
    server_.request_done();
    return true;
  }

  // On the I/O thread: the worker posted (it handed the response back, or this thread had
  // asked to be told). Stops the watch first, as for a coroutine's completion.
  void on_worker_done() {
    handler_running_ = false;
    if (watching_) {
      watch_cancel_.emit(net::cancellation_type::terminal);  // on_watch continues
      return;
    }
    after_handler();
  }

  // The handler is done and the watch is not pending.
  void after_handler() {
    if (!on_worker_) return write_response();
    on_worker_ = false;
    if ((handoff_.load(std::memory_order_acquire) & kWorkerWrote) != 0) {
      release_request();
      if (peer_gone_ || closing_) return close();
      return read_request();
    }
    if (!worker_sent_) return write_response();
    error_code ec = worker_error_;
    const std::size_t now = ec ? *worker_sent_ : write_now(ec, *worker_sent_);
    finish_write(now, ec, worker_status_, true);
  }

  // A coroutine route runs on this connection's I/O thread: it starts inline, and its
  // completion comes back here (co_spawn posts it at least once).
  void spawn_coroutine(const Route& route) {
    boost::asio::awaitable<Response> coroutine;
    try {
      coroutine = route.coroutine(ctx_, request_);  // a coroutine only creates its frame here
    } catch (...) {  // a plain function returning an awaitable may throw
      Response r = failure_response(std::current_exception(), handler_error_);
      return net::post(socket_.get_executor(), [self = shared_from_this(), r]() mutable {
        self->on_handler_done(std::move(r));
      });
    }
    net::co_spawn(socket_.get_executor(), std::move(coroutine),
                  net::bind_executor(socket_.get_executor(),
                                     [self = shared_from_this()](std::exception_ptr e, Response r) {
                                       if (e) r = failure_response(e, self->handler_error_);
                                       self->on_handler_done(std::move(r));
                                     }));
  }

  // Keeps one read outstanding while the handler runs: the only way to learn that the
  // client went away. Data is kept (a pipelined request); EOF or an error cancels.
  void watch() {
    const std::size_t room = buffer_.max_size() - buffer_.size();
    if (!handler_running_ || peer_gone_ || room == 0) return;
    watching_ = true;
    socket_.async_read_some(
        buffer_.prepare(std::min<std::size_t>(room, 4096)),
        net::bind_cancellation_slot(
            watch_cancel_.slot(),
            [self = shared_from_this()](error_code ec, std::size_t n) { self->on_watch(ec, n); }));
  }

  void on_watch(const error_code& ec, std::size_t n) {
    watching_ = false;
    const bool stopped_by_us = ec == net::error::operation_aborted && !closing_;
    if (!ec) buffer_.commit(n);
    if (ec && !stopped_by_us && !peer_gone_) {
      peer_gone_ = true;
      (*cancel_conn_)(Cause(errc::client_disconnected));
    }
    if (handler_running_ && on_worker_) {
      // The worker's response may be written already (its usual end: this is the client's
      // next request or its EOF). If not, the worker now posts when it is done.
      // If it wrote before this thread asked (no kIoWaits yet), no post comes: go on now.
      const unsigned before = handoff_.fetch_or(kIoWaits, std::memory_order_acq_rel);
      if ((before & (kWorkerWrote | kIoWaits)) == kWorkerWrote) handler_running_ = false;
    }
    if (handler_running_) {
      if (!ec) watch();  // data: kept for the next request; keep watching
      return;
    }
    after_handler();  // the handler finished (we stopped the watch, or the worker wrote)
  }

  void on_handler_done(Response response) {
    handler_running_ = false;
    response_ = std::move(response);
    if (watching_) {
      watch_cancel_.emit(net::cancellation_type::terminal);  // on_watch continues
      return;
    }
    write_response();
  }

  // The handler is done and the watch is not pending: answer, or record the cancel.
  void write_response() {
    const std::error_code err = ctx_.err();
    if (peer_gone_ || err == tether::errc::canceled) {
      finish_request(499);  // nothing is written: the client is gone, or we are stopping
      return close();
    }
    Response& out = *response_;
    if (err == tether::errc::deadline_exceeded) out = status_response(504);
    if (out.status < 100 || out.status > 999) out = status_response(500);  // not HTTP

    const bool keep_alive = keep_alive_ && !server_.stopping.load();
    serialize_response(out_, version_, out, keep_alive, trace_, request_.method == "HEAD");
    const int status = out.status;
    response_.reset();

    // Most responses fit in the socket's send buffer: write at once, without a timer or a
    // trip through the reactor; only what the socket does not take is written async.
    error_code ec;
    finish_write(write_now(ec, 0), ec, status, keep_alive);
  }

  // `now` bytes of out_ are written: writes the rest async, or goes on.
  void finish_write(std::size_t now, const error_code& ec, int status, bool keep_alive) {
    if (ec || now == out_.size()) return on_written(ec, status, keep_alive);
    expires_after(server_.options.write_timeout);
    net::async_write(socket_, net::buffer(out_.data() + now, out_.size() - now),
                     [self = shared_from_this(), status, keep_alive](error_code e, std::size_t) {
                       self->expires_never();
                       self->on_written(e, status, keep_alive);
                     });
  }

  // Writes what the (non-blocking) socket takes now; would_block is not an error.
  std::size_t write_now(error_code& ec, std::size_t done) {
    while (done < out_.size()) {
      done += socket_.write_some(net::buffer(out_.data() + done, out_.size() - done), ec);
      if (ec) break;
    }
    if (ec == net::error::would_block || ec == net::error::try_again) ec = {};
    return done;
  }

  void on_written(const error_code& ec, int status, bool keep_alive) {
    finish_request(status);
    if (ec || !keep_alive) return linger_close();
    read_request();
  }

  // Logs the request and releases its contexts; the request no longer counts as in flight.
  void finish_request(int status) {
    log_request(status, static_cast<bool>(ctx_.err()));
    release_request();
    server_.request_done();
  }

  // On the I/O thread, or on the worker that wrote the response (write_from_worker).
  // `ended`: the request's context had ended when the response was decided or written; its
  // cause is logged then (499, 504), and not for an end that came after the write.
  void log_request(int status, bool ended) {
    AccessLogEntry entry;
    entry.method = request_.method;
    entry.path = std::string(request_.path());
    entry.status = status;
    entry.duration = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_);
    entry.trace_id = trace_.trace_id_hex();
    if (ended) {  // 499 and 504
      const Cause why = cause(ctx_);
      entry.cause = why.message();
      entry.cause_code = why.code();
    }
    entry.error = std::exchange(handler_error_, {});
    server_.options.access_log(entry);
  }

  void release_request() {
    cancel_timer_.reset();  // a finished request's context is cancelled, as in Go
    cancel_conn_.reset();
    ctx_ = Context();
    in_request_ = false;
  }

  // A request that could not be read: answer with `status` and close.
  void write_error(int status) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(status), 11);
    res->set(bhttp::field::content_type, "text/plain");
    res->body() = reason_phrase(status);
    res->keep_alive(false);
    res->prepare_payload();
    expires_after(server_.options.write_timeout);
    bhttp::async_write(socket_, *res, [self = shared_from_this(), res](error_code, std::size_t) {
      self->linger_close();
    });
  }

  // Half-closes and drains what the client still sends for a moment, so that the response
  // is not destroyed by a reset caused by unread input.
  void linger_close() {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    expires_after(kLingerTime);
    drain();
  }

  void drain() {
    socket_.async_read_some(net::buffer(discard_),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (ec) return self->close();
                              self->drain();
                            });
  }

  // Timeouts. Setting a deadline is a store and a clock read; a Beast tcp_stream armed a
  // timer for every read and write instead, a measurable share of a small request's cost.
  // When the deadline passes the socket is closed: the pending operation fails, and its
  // handler closes the connection.
  void expires_after(SteadyClock::duration d) {
    deadline_ = SteadyClock::now() + d;
    if (!timer_armed_ || deadline_ < timer_expiry_) arm_timer();
  }

  void expires_never() { deadline_ = SteadyClock::time_point::max(); }

  void arm_timer() {
    timer_armed_ = true;
    timer_expiry_ = deadline_;
    timer_.expires_at(deadline_);  // cancels an earlier wait: it is stale (generation)
    timer_.async_wait([weak = weak_from_this(), generation = ++timer_generation_](error_code) {
      if (auto self = weak.lock()) self->on_timer(generation);
    });
  }

  void on_timer(std::uint64_t generation) {
    if (generation != timer_generation_) return;  // superseded by a re-arm
    timer_armed_ = false;
    if (closing_ || deadline_ == SteadyClock::time_point::max()) return;
    if (handler_running_ && on_worker_ && SteadyClock::now() >= deadline_) {
      // The idle timeout of a response the worker wrote counts from then; a handler that
      // still runs is looked at again later.
      const bool wrote = (handoff_.load(std::memory_order_acquire) & kWorkerWrote) != 0;
      deadline_ = (wrote ? written_at_ : SteadyClock::now()) + server_.options.read_timeout;
    }
    if (SteadyClock::now() >= deadline_) return close();  // timed out
    arm_timer();
  }

  void close() {
    closing_ = true;
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    timer_.cancel();
  }

  // A blocking request's hand-off between its worker and the I/O thread (run_on_worker).
  static constexpr unsigned kWorkerWrote = 1;  // the worker wrote, logged and counted it
  static constexpr unsigned kHandedBack = 2;   // the worker left the rest to the I/O thread
  static constexpr unsigned kIoWaits = 4;      // the I/O thread wants a post when it is done

  Server::Impl& server_;
  net::io_context::executor_type home_;     // socket_'s, concrete: a post there uses to_io_
  HandlerMemory to_worker_;                 // a blocking handler's post to a worker
  HandlerMemory to_io_;                     // and its response's post back
  tcp::socket socket_;                      // non-blocking (write_now)
  const int fd_ = socket_.native_handle();  // for the worker's send() (write_from_worker)
  // The read/write/linger timeout: `deadline_` is what counts; `timer_` is armed lazily and,
  // when it fires early (the deadline moved on), re-armed for the current one.
  net::steady_timer timer_;
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
  SteadyClock::time_point timer_expiry_;  // while timer_armed_
  std::uint64_t timer_generation_ = 0;    // a re-armed timer's earlier wait is stale
  bool timer_armed_ = false;
  beast::flat_buffer buffer_;  // at most header_limit + kReadSlack bytes
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::function<void(std::uint64_t, beast::string_view, error_code&)> on_chunk_header_;
  std::size_t chunk_extension_bytes_ = 0;  // of the request being read
  std::string handler_error_;  // written by the worker before it posts the response back
  std::array<char, 1024> discard_{};
  std::string out_;  // the serialized response being written

  // The request being served.
  Request request_;  // read by the worker while the handler runs
  TraceContext trace_;
  Context ctx_;
  std::optional<ScopedCancelCause> cancel_conn_;  // "client disconnected"
  std::optional<ScopedCancel> cancel_timer_;
  std::optional<Response> response_;
  Clock::time_point started_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool in_request_ = false;       // dispatched and not finished
  bool handler_running_ = false;  // the handler has not returned
  bool watching_ = false;         // the disconnect watch read is pending
  bool peer_gone_ = false;        // the watch saw EOF or an error
  bool closing_ = false;          // we closed the socket ourselves
  bool on_worker_ = false;        // the request is a blocking route's (run_on_worker)
  // Written by the worker before it sets kWorkerWrote or kHandedBack in handoff_, read by
  // the I/O thread after it saw the bit.
  std::atomic<unsigned> handoff_{0};
  SteadyClock::time_point written_at_;      // kWorkerWrote: when
  std::optional<std::size_t> worker_sent_;  // kHandedBack mid-write: bytes of out_ sent
  int worker_status_ = 0;                   // and the response's status
  error_code worker_error_;                 // and send()'s error, if any
  net::cancellation_signal watch_cancel_;
};

void Server::Impl::accept() {
  net::io_context& home = *iocs[next_ioc++ % iocs.size()];
  acceptor.async_accept(home, [this, &home](error_code ec, tcp::socket socket) {
    if (ec) {
      if (!acceptor.is_open()) return;  // closed by shutdown
      return accept_later();            // EMFILE, ENFILE, ENOBUFS...: do not spin
    }
    accept_delay = {};
    auto conn = std::make_shared<Connection>(*this, home, std::move(socket));
    bool full = false;
    {
      std::lock_guard lock(mu);
      if (stopping) return;  // conn closes its socket on destruction
      connections.emplace(conn.get(), conn);
      full = options.max_connections != 0 && connections.size() >= options.max_connections;
      accept_paused = full;
    }
    conn->start();
    if (!full) accept();  // else the next connection to close resumes accepting
  });
}

// Go's net/http: a failed accept is retried after 5 ms, doubling up to 1 s, so that running
// out of descriptors neither spins the I/O threads nor stops the server for good.
void Server::Impl::accept_later() {
  using namespace std::chrono_literals;
  accept_delay =
      accept_delay == 0ms ? 5ms : std::min<std::chrono::milliseconds>(accept_delay * 2, 1s);
  accept_backoff.expires_after(accept_delay);
  accept_backoff.async_wait([this](error_code ec) {
    if (!ec && acceptor.is_open()) accept();
  });
}

void Server::Impl::close_acceptor() {
  std::promise<void> closed;
  net::dispatch(acceptor.get_executor(), [&] {
    error_code ignored;
    acceptor.close(ignored);
    accept_backoff.cancel();
    closed.set_value();
  });
  closed.get_future().wait();
}

std::vector<std::shared_ptr<Connection>> Server::Impl::open_connections() {
  std::vector<std::shared_ptr<Connection>> open;
  std::lock_guard lock(mu);
  for (auto& [ptr, weak] : connections)
    if (auto c = weak.lock()) open.push_back(std::move(c));
  return open;
}

std::error_code Server::Impl::shutdown(const Context& ctx) {
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  if (started && !stopped) close_acceptor();  // idempotent
  for (auto& c : open_connections()) c->close_if_idle();

  // Wait for the in-flight requests, or for ctx. The callback only wakes us.
  Registration wake = after_func(ctx, [this] {
    { std::lock_guard lock(mu); }
    cv.notify_all();
  });
  std::error_code result;
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return in_flight == 0 || ctx.err(); });
    if (in_flight != 0) {
      result = ctx.err();
      lock.unlock();
      life.cancel(Cause(errc::server_shutdown));
      lock.lock();
      cv.wait(lock, [&] { return in_flight == 0; });
    }
  }
  wake.stop_and_wait();
  if (started && !stopped) {
    // No request is in flight and none can start: close every socket while the I/O
    // threads still run, so that no client waits on a connection nobody serves.
    std::vector<std::future<void>> closed;
    for (auto& c : open_connections()) closed.push_back(c->close_now());
    for (auto& f : closed) f.wait();
  }
  stop_threads();
  return result;
}

void Server::Impl::stop_threads() {
  std::call_once(stop_once, [this] {
    workers.join();
    work.clear();
    for (auto& ioc : iocs) ioc->stop();
    for (auto& t : io_threads) t.join();
    io_threads.clear();
    stopped = true;
  });
}

Server::Server(const Context& base, ServerOptions options)
    : impl_(std::make_shared<Impl>(base, std::move(options))) {}

Server::~Server() {
  if (!impl_->stopped) {
    auto [done, cancel] = with_cancel(background());
    cancel();
    impl_->shutdown(done);
  }
}

void Server::route(std::string method, std::string path, Handler handler, RouteOptions options) {
  impl_->router.add(std::move(method), std::move(path));
  impl_->routes.push_back(Route{std::move(handler), {}, options.timeout});
}

void Server::route_coroutine(std::string method, std::string path, CoroutineHandler handler,
                             RouteOptions options) {
  impl_->router.add(std::move(method), std::move(path));
  impl_->routes.push_back(Route{{}, std::move(handler), options.timeout});
}

void Server::start() {
  Impl& s = *impl_;
  // Asio's throwing overloads throw boost::system::system_error, which is not a
  // std::system_error: use the error_code overloads and throw what the header promises.
  error_code ec;
  auto check = [&](const char* what) {
    if (ec)
      throw std::system_error(static_cast<std::error_code>(ec),
                              std::string("tether::http::Server: ") + what + " " +
                                  s.options.address + ":" + std::to_string(s.options.port));
  };
  const net::ip::address address = net::ip::make_address(s.options.address, ec);
  check("invalid address");
  const tcp::endpoint endpoint(address, s.options.port);
  s.acceptor.open(endpoint.protocol(), ec);
  check("cannot open a socket for");
  s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  check("cannot set SO_REUSEADDR on");
  s.acceptor.bind(endpoint, ec);
  check("cannot bind");
  s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  check("cannot listen on");
  s.bound_port = s.acceptor.local_endpoint(ec).port();
  check("cannot read the port of");
  for (auto& ioc : s.iocs) s.work.emplace_back(ioc->get_executor());
  s.started = true;
  s.accept();
  for (auto& ioc : s.iocs) s.io_threads.emplace_back([io = ioc.get()] { io->run(); });
}

std::uint16_t Server::port() const noexcept { return impl_->bound_port; }

std::error_code Server::shutdown(const Context& ctx) { return impl_->shutdown(ctx); }

}  // namespace tether::http
