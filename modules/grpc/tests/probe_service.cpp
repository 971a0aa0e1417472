#include "probe_service.hpp"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "tether/propagation.hpp"

namespace tether_test {

using tether::test::Reply;
using tether::test::Request;

std::shared_ptr<Seen> Recorder::add(std::shared_ptr<Seen> s) {
  {
    std::lock_guard lock(mu_);
    calls_.push_back(s);
  }
  cv_.notify_all();
  return s;
}

std::shared_ptr<Seen> Recorder::wait_call(std::size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return calls_.size() > n; })) return nullptr;
  return calls_[n];
}

std::size_t Recorder::count() {
  std::lock_guard lock(mu_);
  return calls_.size();
}

std::shared_ptr<Seen> ProbeService::start(const char* method, ::grpc::CallbackServerContext* sc) {
  auto seen = std::make_shared<Seen>();
  seen->method = method;
  seen->handler_thread = std::this_thread::get_id();
  const auto& md = sc->client_metadata();
  if (auto it = md.find("traceparent"); it != md.end())
    seen->traceparent.assign(it->second.data(), it->second.size());
  return seen;
}

void begin_work(const tether::Context& ctx, Recorder& rec, const std::shared_ptr<Seen>& seen) {
  seen->ctx = ctx;
  seen->work_thread = std::this_thread::get_id();
  seen->started = std::chrono::steady_clock::now();
  if (auto d = ctx.deadline()) seen->left = *d - tether::now();
  std::weak_ptr<Seen> weak = seen;
  seen->after = tether::after_func(ctx, [weak] {
    if (auto s = weak.lock()) s->after_func_ran = true;
  });
  rec.add(seen);
}

namespace {
void fill(const tether::Context& ctx, Reply* reply, const Seen& seen) {
  reply->set_traceparent(seen.traceparent);
  reply->set_deadline_left_us(
      seen.left ? std::chrono::duration_cast<std::chrono::microseconds>(*seen.left).count() : -1);
  if (const tether::TraceContext* t = ctx.value(tether::trace_key))
    reply->set_trace_id(t->trace_id_hex());
}
}  // namespace

::grpc::ServerUnaryReactor* ProbeService::Echo(::grpc::CallbackServerContext* sc,
                                               const Request* req, Reply* reply) {
  const bool inline_work = inline_echo.load(std::memory_order_relaxed);
  if (!record_echo.load(std::memory_order_relaxed)) {
    auto echo = [req, reply](const tether::Context&) {
      reply->set_text(req->text());
      return ::grpc::Status::OK;
    };
    return inline_work ? d_.unary_inline(sc, echo) : d_.unary(sc, echo);
  }
  auto seen = start("Echo", sc);
  auto work = [this, seen, req, reply](const tether::Context& ctx) {
    begin_work(ctx, rec_, seen);
    if (req->text() == "throw") throw std::runtime_error("handler threw");
    if (req->text() == "fail") return ::grpc::Status(::grpc::StatusCode::NOT_FOUND, "no such");
    reply->set_text(req->text());
    fill(ctx, reply, *seen);
    return ::grpc::Status::OK;
  };
  return inline_work ? d_.unary_inline(sc, work) : d_.unary(sc, work);
}

::grpc::ServerUnaryReactor* ProbeService::Hold(::grpc::CallbackServerContext* sc,
                                               const Request* req, Reply* reply) {
  auto seen = start("Hold", sc);
  return d_.unary(sc, [this, seen, req, reply](const tether::Context& ctx) {
    begin_work(ctx, rec_, seen);
    fill(ctx, reply, *seen);
    const auto hold = req->hold_ms() > 0 ? std::chrono::milliseconds(req->hold_ms()) : 60s;
    ctx.done().wait_for(hold);
    seen->woken = std::chrono::steady_clock::now().time_since_epoch().count();
    if (ctx.err()) reply->set_text(tether::cause(ctx).message());
    return ::grpc::Status::OK;
  });
}

::grpc::ServerUnaryReactor* ProbeService::Relay(::grpc::CallbackServerContext* sc,
                                                const Request* req, Reply* reply) {
  auto seen = start("Relay", sc);
  return d_.unary(sc, [this, seen, req, reply](const tether::Context& ctx) {
    begin_work(ctx, rec_, seen);
    // Downstream under the handler's own context: its deadline, trace and cancellation.
    return tether::grpc::call(
        ctx, [&](::grpc::ClientContext* cc) { return downstream_->Hold(cc, *req, reply); });
  });
}

::grpc::ServerWriteReactor<Reply>* ProbeService::Count(::grpc::CallbackServerContext* sc,
                                                       const Request* req) {
  auto seen = start("Count", sc);
  return d_.server_stream<Reply>(
      sc, [this, seen, req](const tether::Context& ctx, tether::grpc::Writer<Reply>& out) {
        begin_work(ctx, rec_, seen);
        for (int i = 0; req->count() == 0 || i < req->count(); ++i) {
          Reply r;
          r.set_text(std::to_string(i));
          if (auto ec = out.write(ctx, r)) {
            return ::grpc::Status(::grpc::StatusCode::CANCELLED, ec.message());
          }
          if (req->count() == 0) ctx.done().wait_for(2ms);  // an endless, paced stream
        }
        return ::grpc::Status::OK;
      });
}

::grpc::ServerBidiReactor<Request, Reply>* ProbeService::Chat(::grpc::CallbackServerContext* sc) {
  auto seen = start("Chat", sc);
  return d_.bidi<Request, Reply>(
      sc, [this, seen](const tether::Context& ctx, tether::grpc::Reader<Request>& in,
                       tether::grpc::Writer<Reply>& out) {
        begin_work(ctx, rec_, seen);
        Request req;
        for (;;) {
          if (auto ec = in.read(ctx, req)) {
            if (ec == tether::grpc::errc::end_of_stream) return ::grpc::Status::OK;
            return ::grpc::Status(::grpc::StatusCode::CANCELLED, ec.message());
          }
          Reply r;
          r.set_text(req.text());
          if (auto ec = out.write(ctx, r))
            return ::grpc::Status(::grpc::StatusCode::CANCELLED, ec.message());
        }
      });
}

TestServer::TestServer(tether::grpc::ServerOptions options, const tether::Context& base,
                       std::string host,
                       const std::function<void(::grpc::ServerBuilder&)>& configure)
    : dispatcher(base, std::move(options)), service(dispatcher, rec), host_(std::move(host)) {
  ::grpc::ServerBuilder builder;
  builder.AddListeningPort(host_ + ":0", ::grpc::InsecureServerCredentials(), &port_);
  if (configure) configure(builder);
  builder.RegisterService(&service);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) throw std::runtime_error("test server did not start");
}

TestServer::~TestServer() { shutdown(); }

std::chrono::milliseconds TestServer::shutdown(std::chrono::milliseconds grace) {
  if (shut_) return 0ms;
  shut_ = true;
  const auto t0 = std::chrono::steady_clock::now();
  dispatcher.shutdown(*server_, std::chrono::system_clock::now() + grace);
  server_->Wait();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               t0);
}

std::shared_ptr<::grpc::Channel> TestServer::channel() const {
  return ::grpc::CreateChannel(address(), ::grpc::InsecureChannelCredentials());
}

std::unique_ptr<tether::test::Probe::Stub> TestServer::stub() const {
  return tether::test::Probe::NewStub(channel());
}

}  // namespace tether_test
