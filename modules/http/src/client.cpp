// tether::http::Client: each call is one coroutine (take or open a connection → write →
// read → give the connection back or close it) on a strand of its own, so that the
// context's cancellation, emitted on that strand by tether::asio::bind_context, is
// serialised with every step. The blocking calls run that coroutine on an io_context of
// their own, on the calling thread; the awaitable calls on the awaiting coroutine's
// executor. Idle connections live in the Pool as plain descriptors, so a connection opened
// by a blocking call can serve an awaitable one and back.
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tether/asio.hpp"
#include "tether/http.hpp"
#include "tether/propagation.hpp"

namespace tether::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

// Every step of a call completes with a tuple (error first) instead of throwing.
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

// What a call needs from its URL.
struct Target {
  std::string host;       // to resolve or parse as an address: "example.com", "::1"
  std::string port;       // digits
  std::string authority;  // the Host header, as in the URL: "[::1]:8080"
  std::string target;     // the request target: "/path?query"
  std::string key;        // the pool's key: "http://example.com:80" (host lowercased)
};

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "http://host[:port][/path][?query][#fragment]", scheme in any case; std::nullopt else.
std::optional<Target> parse_target(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return std::nullopt;
  const boost::urls::url_view& u = *parsed;
  if (lowercase(u.scheme()) != "http" || !u.has_authority() || u.has_userinfo())
    return std::nullopt;
  Target t;
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
    case boost::urls::host_type::name:
      t.host = u.host_address();
      break;
    default:  // none, or an IPvFuture literal
      return std::nullopt;
  }
  if (t.host.empty()) return std::nullopt;
  t.port = u.has_port() && !u.port().empty() ? std::string(u.port()) : "80";
  unsigned port = 0;
  auto [end, ec] = std::from_chars(t.port.data(), t.port.data() + t.port.size(), port);
  if (ec != std::errc() || end != t.port.data() + t.port.size() || port == 0 || port > 65535)
    return std::nullopt;
  t.authority = std::string(u.encoded_host()) + (u.has_port() ? ":" + t.port : "");
  t.target = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
  if (u.has_query()) t.target += "?" + std::string(u.encoded_query());
  t.key = "http://" + lowercase(t.host) + ":" + t.port;
  return t;
}

bool idempotent(std::string_view method) {
  for (std::string_view m : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
    if (method == m) return true;
  return false;
}

// True while `fd` is an open connection with nothing to read: the server has neither
// closed it nor sent anything unasked (either would make it unusable).
bool quiet_and_open(int fd) {
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

// ---- the pool --------------------------------------------------------------------------

// Idle connections, oldest first. Each has an expiry registration: an after_func on a
// context that times out after idle_timeout (tether's clock), which closes it unless a
// call took it first. The callbacks hold the pool weakly.
struct Client::Pool : std::enable_shared_from_this<Client::Pool> {
  struct Idle {
    std::uint64_t id = 0;
    std::string key;
    int fd = -1;
    bool v6 = false;
    Registration expiry;  // set after insertion (see put)
  };

  explicit Pool(const ClientOptions& o) : options(o) {}
  ~Pool() {
    for (Idle& i : idle) {
      i.expiry.stop();  // the callback, if running, finds no pool
      ::close(i.fd);
    }
  }

  // The most recently returned open connection to `key`, if any; stale ones are closed.
  std::optional<Idle> take(const std::string& key) {
    for (;;) {
      std::optional<Idle> got;
      {
        std::lock_guard lock(mu);
        for (auto it = idle.rbegin(); it != idle.rend(); ++it) {
          if (it->key != key) continue;
          got = std::move(*it);
          idle.erase(std::next(it).base());
          break;
        }
      }
      if (!got) return std::nullopt;
      got->expiry.stop();
      if (quiet_and_open(got->fd)) return got;
      ::close(got->fd);
    }
  }

  // Keeps `fd` for reuse within the bounds, closing what does not fit.
  void put(const std::string& key, int fd, bool v6) {
    std::vector<Idle> evicted;
    std::uint64_t id = 0;
    {
      std::lock_guard lock(mu);
      std::size_t same = 0;
      for (const Idle& i : idle) same += i.key == key;
      if (same >= options.max_idle_per_host || options.max_idle == 0) {
        evicted.push_back(Idle{0, key, fd, v6, {}});
      } else {
        if (idle.size() >= options.max_idle) {
          evicted.push_back(std::move(idle.front()));
          idle.pop_front();
        }
        id = ++next_id;
        idle.push_back(Idle{id, key, fd, v6, {}});
      }
    }
    for (Idle& i : evicted) {
      i.expiry.stop();
      ::close(i.fd);
    }
    if (id == 0) return;
    // Outside the lock: with an expired timeout the callback runs here, at once.
    auto [timeout, cancel] = with_timeout(background(), options.idle_timeout);
    // Disarmed (its destructor would cancel): the registration keeps the context alive
    // until it runs or is stopped.
    const CancelFunc disarmed = cancel.release();
    Registration expiry = after_func(timeout, [weak = weak_from_this(), id] {
      if (auto pool = weak.lock()) pool->expire(id);
    });
    std::lock_guard lock(mu);
    for (Idle& i : idle)
      if (i.id == id) return void(i.expiry = std::move(expiry));
    expiry.stop();  // taken (or expired) meanwhile
  }

  // Closes idle connection `id` if it is still idle.
  void expire(std::uint64_t id) {
    int fd = -1;
    {
      std::lock_guard lock(mu);
      for (auto it = idle.begin(); it != idle.end(); ++it) {
        if (it->id != id) continue;
        fd = it->fd;
        idle.erase(it);
        break;
      }
    }
    if (fd >= 0) ::close(fd);
  }

  std::size_t size() const {
    std::lock_guard lock(mu);
    return idle.size();
  }

  const ClientOptions options;
  mutable std::mutex mu;
  std::list<Idle> idle;       // guarded by mu; oldest first
  std::uint64_t next_id = 0;  // guarded by mu
};

namespace {

// ---- name resolution -------------------------------------------------------------------

// One getaddrinfo on a thread of its own, which the call may stop waiting for.
struct Lookup {
  std::mutex mu;
  bool finished = false;                 // under mu: the answer is in
  error_code ec;                         // under mu, once finished
  std::vector<tcp::endpoint> endpoints;  // under mu, once finished
  std::function<void()> wake;            // under mu; empty once the call no longer waits
};

error_code netdb_error(int rc) {
  switch (rc) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
      return net::error::host_not_found;
    case EAI_AGAIN:
      return net::error::host_not_found_try_again;
    case EAI_SERVICE:
      return net::error::service_not_found;
    case EAI_MEMORY:
      return make_error_code(boost::system::errc::not_enough_memory);
    case EAI_SYSTEM:
      return {errno, boost::system::system_category()};
    default:
      return net::error::no_recovery;
  }
}

void run_lookup(const std::shared_ptr<Lookup>& lookup, const std::string& host,
                const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  std::vector<tcp::endpoint> endpoints;
  for (addrinfo* a = found; a; a = a->ai_next) {
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    tcp::endpoint e;
    std::memcpy(e.data(), a->ai_addr, a->ai_addrlen);
    e.resize(a->ai_addrlen);
    endpoints.push_back(e);
  }
  if (found) ::freeaddrinfo(found);
  std::lock_guard lock(lookup->mu);
  lookup->finished = true;
  lookup->ec = rc != 0 ? netdb_error(rc) : error_code();
  if (!lookup->ec && endpoints.empty()) lookup->ec = net::error::host_not_found;
  lookup->endpoints = std::move(endpoints);
  if (lookup->wake) lookup->wake();  // posts: never runs the call's code here
}

// The endpoints of t.host: an IP literal at once, a name through getaddrinfo on its own
// thread, abandoned (left to finish alone) when ctx is done.
net::awaitable<error_code> resolve(Context ctx, const Target& t, std::vector<tcp::endpoint>& out) {
  error_code ec;
  const auto address = net::ip::make_address(t.host, ec);
  const auto port = static_cast<unsigned short>(std::stoul(t.port));
  if (!ec) {
    out.assign(1, tcp::endpoint(address, port));
    co_return error_code();
  }
  auto ex = co_await net::this_coro::executor;
  auto lookup = std::make_shared<Lookup>();
  auto timer = std::make_shared<net::steady_timer>(ex, net::steady_timer::time_point::max());
  lookup->wake = [ex, timer] { net::post(ex, [timer] { timer->cancel(); }); };
  // Whatever ends this frame (return, or an io_context destroyed meanwhile) detaches the
  // thread from it: the thread never touches the executor or the timer again.
  struct Abandon {
    std::shared_ptr<Lookup> lookup;
    ~Abandon() {
      std::function<void()> drop;
      std::lock_guard lock(lookup->mu);
      drop.swap(lookup->wake);
    }
  } abandon{lookup};
  try {
    std::thread([lookup, host = t.host, service = t.port] {
      run_lookup(lookup, host, service);
    }).detach();
  } catch (const std::system_error& e) {
    co_return error_code(e.code().value(), boost::system::generic_category());
  }
  // Woken by the answer (timer cancelled) or by ctx (the wait cancelled); the thread's post
  // runs on this strand, hence never before this wait is registered.
  co_await timer->async_wait(asio::bind_context(ctx, ex, kTuple));
  std::lock_guard lock(lookup->mu);
  if (!lookup->finished) co_return net::error::operation_aborted;  // by ctx (or the caller)
  out = lookup->endpoints;
  co_return lookup->ec;
}

// ---- one exchange on one connection ---------------------------------------------------

struct Exchange {
  error_code ec;
  bool reused = false;        // the connection came from the pool
  bool got_response = false;  // some of the response arrived
  std::optional<bhttp::response<bhttp::string_body>> response;
};

net::awaitable<Exchange> exchange(Context ctx, std::shared_ptr<Client::Pool> pool, Target t,
                                  bhttp::request<bhttp::string_body>& req, bool allow_reuse) {
  auto ex = co_await net::this_coro::executor;
  tcp::socket sock(ex);
  Exchange x;
  bool v6 = false;
  if (allow_reuse && req.keep_alive()) {
    if (auto idle = pool->take(t.key)) {
      sock.assign(idle->v6 ? tcp::v6() : tcp::v4(), idle->fd, x.ec);
      if (x.ec) {
        ::close(idle->fd);
        co_return x;
      }
      x.reused = true;
      v6 = idle->v6;
    }
  }
  if (!x.reused) {
    std::vector<tcp::endpoint> endpoints;
    if ((x.ec = co_await resolve(ctx, t, endpoints))) co_return x;
    auto [ec, endpoint] =
        co_await net::async_connect(sock, endpoints, asio::bind_context(ctx, ex, kTuple));
    if ((x.ec = ec)) co_return x;
    v6 = endpoint.address().is_v6();
  }
  auto [write_ec, written] =
      co_await bhttp::async_write(sock, req, asio::bind_context(ctx, ex, kTuple));
  if ((x.ec = write_ec)) co_return x;  // the socket closes with this frame
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(pool->options.body_limit);
  if (req.method() == bhttp::verb::head) parser.skip(true);
  auto [read_ec, read] =
      co_await bhttp::async_read(sock, buffer, parser, asio::bind_context(ctx, ex, kTuple));
  x.got_response = parser.got_some();
  if ((x.ec = read_ec)) co_return x;
  // Reusable only when the exchange ended cleanly on both sides and nothing more came.
  const bool reusable = req.keep_alive() && parser.keep_alive() && buffer.size() == 0;
  x.response = parser.release();
  if (reusable) {
    error_code ec;
    const int fd = sock.release(ec);
    if (!ec) pool->put(t.key, fd, v6);
  }
  co_return x;
}

bhttp::request<bhttp::string_body> make_request(const Context& ctx, const ClientOptions& options,
                                                const std::string& method, const Target& t,
                                                const Headers& headers, const std::string& body) {
  bhttp::request<bhttp::string_body> req;
  req.method_string(method);
  req.target(t.target);
  req.version(11);
  req.set(bhttp::field::host, t.authority);
  req.set(bhttp::field::user_agent, "tether-http");
  for (const auto& [name, value] : headers.fields()) req.insert(name, value);
  if (auto timeout = outgoing_grpc_timeout(ctx, options.deadline_margin))
    req.set("grpc-timeout", *timeout);
  req.set("traceparent", format_traceparent(outgoing_trace(ctx)));
  req.body() = body;
  req.keep_alive(options.max_idle_per_host > 0 && options.max_idle > 0);
  req.prepare_payload();
  return req;
}

using CallResult = tether::Result<Response, Error>;
// co_spawn hands its completion a default-constructed value when the coroutine throws, so
// the coroutines below return this (Result has no empty state) and the callers unwrap it.
using SpawnedResult = std::optional<CallResult>;

// What failed, for Error::message: the method and URL first, as Go's url.Error.
std::string describe(std::string_view method, std::string_view url, std::string_view what) {
  std::string text;
  text.reserve(method.size() + url.size() + what.size() + 3);
  text.append(method).append(" ").append(url).append(": ").append(what);
  return text;
}

CallResult failed(std::string_view method, std::string_view url, std::error_code error) {
  return Error{error, describe(method, url, error.message()), std::nullopt};
}

Response response_of(bhttp::response<bhttp::string_body>& res) {
  Response response;
  response.status = static_cast<int>(res.result_int());
  for (const auto& field : res)
    response.headers.add(std::string(field.name_string()), std::string(field.value()));
  response.body = std::move(res.body());
  return response;
}

// The result of a finished exchange, with the rule "a deadline is a deadline" applied.
CallResult to_result(const Context& ctx, std::string_view method, std::string_view url,
                     Exchange& x) {
  if (x.ec) {
    if (auto err = ctx.err()) return failed(method, url, err);
    return failed(method, url, std::error_code(x.ec));
  }
  Response response = response_of(*x.response);
  if (response.status != 504) return response;
  // See "A deadline is a deadline" in http.hpp: the 504 stays in the error, for logs.
  return Error{make_error_code(tether::errc::deadline_exceeded),
               describe(method, url, "504 Gateway Timeout"), std::move(response)};
}

// One call, on the strand it runs on: at most two exchanges (a reused connection that
// failed before any response byte is retried once, fresh, for an idempotent request).
net::awaitable<SpawnedResult> run_call(Context ctx, std::shared_ptr<Client::Pool> pool,
                                       std::string method, std::string url, Headers headers,
                                       std::string body) {
  if (auto err = ctx.err()) co_return failed(method, url, err);
  auto target = parse_target(url);
  if (!target) co_return failed(method, url, std::make_error_code(std::errc::invalid_argument));
  for (bool first = true;; first = false) {
    auto req = make_request(ctx, pool->options, method, *target, headers, body);
    Exchange x = co_await exchange(ctx, pool, *target, req, first);
    const bool stale = x.ec && x.reused && !x.got_response && !ctx.err() &&
                       x.ec != net::error::operation_aborted && idempotent(method);
    if (stale && first) continue;
    co_return to_result(ctx, method, url, x);
  }
}

}  // namespace

Client::Client(ClientOptions options) : options_(options), pool_(std::make_shared<Pool>(options)) {}

CallResult Client::get(const Context& ctx, std::string_view url, Headers headers) const {
  return request(ctx, "GET", url, std::move(headers), {});
}

CallResult Client::post(const Context& ctx, std::string_view url, std::string body,
                        std::string content_type, Headers headers) const {
  headers.set("Content-Type", std::move(content_type));
  return request(ctx, "POST", url, std::move(headers), std::move(body));
}

CallResult Client::request(const Context& ctx, std::string method, std::string_view url,
                           Headers headers, std::string body) const {
  if (auto err = ctx.err()) return failed(method, url, err);
  net::io_context ioc(1);  // run by this thread only: it serialises the whole call
  SpawnedResult result;
  std::exception_ptr error;
  net::co_spawn(ioc,
                run_call(ctx, pool_, std::move(method), std::string(url), std::move(headers),
                         std::move(body)),
                [&](std::exception_ptr e, SpawnedResult r) {
                  error = e;
                  result = std::move(r);
                });
  ioc.run();
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

net::awaitable<CallResult> Client::co_get(Context ctx, std::string url, Headers headers) const {
  return co_request(std::move(ctx), "GET", std::move(url), std::move(headers), {});
}

net::awaitable<CallResult> Client::co_post(Context ctx, std::string url, std::string body,
                                           std::string content_type, Headers headers) const {
  headers.set("Content-Type", std::move(content_type));
  return co_request(std::move(ctx), "POST", std::move(url), std::move(headers), std::move(body));
}

net::awaitable<CallResult> Client::co_request(Context ctx, std::string method, std::string url,
                                              Headers headers, std::string body) const {
  // A strand of its own: the caller's executor may run on several threads.
  auto strand = net::make_strand(co_await net::this_coro::executor);
  SpawnedResult result =
      co_await net::co_spawn(strand,
                             run_call(std::move(ctx), pool_, std::move(method), std::move(url),
                                      std::move(headers), std::move(body)),
                             net::use_awaitable);
  co_return std::move(*result);
}

std::size_t Client::idle_connections() const { return pool_->size(); }

}  // namespace tether::http
