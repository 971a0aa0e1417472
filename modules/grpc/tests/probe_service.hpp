// A real gRPC server on 127.0.0.1 running the Probe service through tether::grpc, and what
// its handlers saw — the fixture of every test here (no mocks).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "probe.grpc.pb.h"
#include "tether/context.hpp"
#include "tether/grpc.hpp"

namespace tether_test {

using namespace std::chrono_literals;

/// What one handler call saw.
struct Seen {
  std::string method;
  tether::Context ctx;  // kept: it must end when the RPC finishes
  std::thread::id handler_thread;
  std::thread::id work_thread;
  std::optional<std::chrono::nanoseconds> left;  // time left at the start of the work
  std::string traceparent;                       // the metadata as received
  std::chrono::steady_clock::time_point started;
  std::atomic<bool> after_func_ran{false};
  /// Hold: when the work waiting on ctx saw it done (steady_clock ticks; 0 until then).
  std::atomic<std::chrono::steady_clock::rep> woken{0};
  tether::Registration after;  // after_func on ctx, set when the work starts
};

/// The calls handlers have started, in order.
class Recorder {
 public:
  std::shared_ptr<Seen> add(std::shared_ptr<Seen> s);
  /// Blocks (up to `timeout`) until call number `n` (0-based) has started; nullptr if not.
  std::shared_ptr<Seen> wait_call(std::size_t n, std::chrono::milliseconds timeout = 10s);
  std::size_t count();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Seen>> calls_;
};

class ProbeService final : public tether::test::Probe::CallbackService {
 public:
  ProbeService(tether::grpc::Dispatcher& d, Recorder& rec) : d_(d), rec_(rec) {}
  /// Echo records what it saw (off only for the benchmark).
  std::atomic<bool> record_echo{true};
  /// Echo runs its work with Dispatcher::unary_inline instead of unary.
  std::atomic<bool> inline_echo{false};
  void set_downstream(std::shared_ptr<::grpc::Channel> ch) {
    downstream_ = tether::test::Probe::NewStub(std::move(ch));
  }

  ::grpc::ServerUnaryReactor* Echo(::grpc::CallbackServerContext* sc,
                                   const tether::test::Request* req,
                                   tether::test::Reply* reply) override;
  ::grpc::ServerUnaryReactor* Hold(::grpc::CallbackServerContext* sc,
                                   const tether::test::Request* req,
                                   tether::test::Reply* reply) override;
  ::grpc::ServerUnaryReactor* Relay(::grpc::CallbackServerContext* sc,
                                    const tether::test::Request* req,
                                    tether::test::Reply* reply) override;
  ::grpc::ServerWriteReactor<tether::test::Reply>* Count(::grpc::CallbackServerContext* sc,
                                                         const tether::test::Request* req) override;
  ::grpc::ServerBidiReactor<tether::test::Request, tether::test::Reply>* Chat(
      ::grpc::CallbackServerContext* sc) override;

 private:
  std::shared_ptr<Seen> start(const char* method, ::grpc::CallbackServerContext* sc);
  tether::grpc::Dispatcher& d_;
  Recorder& rec_;
  std::unique_ptr<tether::test::Probe::Stub> downstream_;
};

/// Fills what the work saw at its start (thread, time left, after_func) and records it.
void begin_work(const tether::Context& ctx, Recorder& rec, const std::shared_ptr<Seen>& seen);

/// The Probe service on 127.0.0.1 (a free port), shut down through the Dispatcher.
class TestServer {
 public:
  // tether-vet: ignore[context-first] an optional base context, defaulted after the options
  explicit TestServer(tether::grpc::ServerOptions options = {},
                      const tether::Context& base = tether::background(),
                      std::string host = "127.0.0.1",
                      const std::function<void(::grpc::ServerBuilder&)>& configure = {});
  ~TestServer();
  int port() const { return port_; }
  std::string address() const { return host_ + ":" + std::to_string(port_); }
  std::unique_ptr<tether::test::Probe::Stub> stub() const;
  std::shared_ptr<::grpc::Channel> channel() const;
  /// Dispatcher::shutdown with a deadline `grace` from now; returns how long it took.
  std::chrono::milliseconds shutdown(std::chrono::milliseconds grace = 5000ms);

  Recorder rec;
  tether::grpc::Dispatcher dispatcher;
  ProbeService service;

 private:
  std::unique_ptr<::grpc::Server> server_;
  std::string host_;
  int port_ = 0;
  bool shut_ = false;
};

/// Milliseconds as a double, for printing measured latencies.
inline double ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace tether_test
