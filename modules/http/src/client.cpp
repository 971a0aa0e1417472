// tether::http::Client: one connection per call, run on the calling thread. Connect, write
// and read are each bound to the context with tether::asio::bind_context, so the context
// ending cancels whichever is pending; the socket is then closed and ctx.err() returned.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>

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

struct Url {
  std::string host;
  std::string port;
  std::string target;
};

// "http://host[:port][/path?query]"; std::nullopt for anything else.
std::optional<Url> parse_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) return std::nullopt;
  url.remove_prefix(scheme.size());
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  Url out;
  out.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos) {
    out.host = std::string(authority);
    out.port = "80";
  } else {
    out.host = std::string(authority.substr(0, colon));
    out.port = std::string(authority.substr(colon + 1));
    unsigned port = 0;
    auto [end, ec] = std::from_chars(out.port.data(), out.port.data() + out.port.size(), port);
    if (ec != std::errc() || end != out.port.data() + out.port.size() || port > 65535)
      return std::nullopt;
  }
  if (out.host.empty()) return std::nullopt;
  return out;
}

}  // namespace

Client::Client(ClientOptions options) : options_(options) {}

Result Client::get(const Context& ctx, std::string_view url, Headers headers) const {
  return request(ctx, "GET", url, std::move(headers), {});
}

Result Client::post(const Context& ctx, std::string_view url, std::string body,
                    std::string content_type, Headers headers) const {
  headers.set("Content-Type", std::move(content_type));
  return request(ctx, "POST", url, std::move(headers), std::move(body));
}

Result Client::request(const Context& ctx, std::string method, std::string_view url,
                       Headers headers, std::string body) const {
  if (auto err = ctx.err()) return {err, {}};
  auto parsed = parse_url(url);
  if (!parsed) return {std::make_error_code(std::errc::invalid_argument), {}};

  net::io_context ioc;  // run by this thread only: the executor serialises everything
  const auto ex = ioc.get_executor();
  tcp::resolver resolver(ioc);
  error_code ec;
  auto endpoints = resolver.resolve(parsed->host, parsed->port, ec);
  if (ec) return {ec, {}};

  bhttp::request<bhttp::string_body> req;
  req.method_string(method);
  req.target(parsed->target);
  req.version(11);
  req.set(bhttp::field::host, parsed->host + ":" + parsed->port);
  req.set(bhttp::field::user_agent, "tether-http");
  for (const auto& [name, value] : headers.fields()) req.insert(name, value);
  if (auto timeout = outgoing_grpc_timeout(ctx, options_.deadline_margin))
    req.set("grpc-timeout", *timeout);
  req.set("traceparent", format_traceparent(outgoing_trace(ctx)));
  req.body() = std::move(body);
  req.keep_alive(false);
  req.prepare_payload();

  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(options_.body_limit);
  error_code failure;

  // connect → write → read; each step is cancelled by ctx.
  stream.async_connect(
      endpoints, asio::bind_context(ctx, ex, [&](error_code connect_ec, const tcp::endpoint&) {
        if (connect_ec) {
          failure = connect_ec;
          return;
        }
        bhttp::async_write(
            stream, req, asio::bind_context(ctx, ex, [&](error_code write_ec, std::size_t) {
              if (write_ec) {
                failure = write_ec;
                return;
              }
              bhttp::async_read(stream, buffer, parser,
                                asio::bind_context(ctx, ex, [&](error_code read_ec, std::size_t) {
                                  failure = read_ec;
                                }));
            }));
      }));
  ioc.run();

  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.close();
  if (failure) {
    if (auto err = ctx.err()) return {err, {}};
    return {std::error_code(failure), {}};
  }
  auto& res = parser.get();
  Result result;
  result.response.status = static_cast<int>(res.result_int());
  for (const auto& field : res)
    result.response.headers.add(std::string(field.name_string()), std::string(field.value()));
  result.response.body = std::move(res.body());
  return result;
}

}  // namespace tether::http
