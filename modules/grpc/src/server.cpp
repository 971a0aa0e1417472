// The server side: each call's context (ServerCall), the reactors that run work off gRPC's
// threads, the Dispatcher and its worker pool, and the status mapping.
#include <grpc/support/time.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "tether/grpc.hpp"
#include "tether/propagation.hpp"
#include "tether/sync/sleep.hpp"

namespace tether::grpc {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tether.grpc"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::client_cancelled:
        return "client cancelled";
      case errc::client_deadline_passed:
        return "client deadline passed";
      case errc::rpc_finished:
        return "rpc finished";
      case errc::server_shutdown:
        return "server shutdown";
      case errc::end_of_stream:
        return "end of stream";
      case errc::stream_broken:
        return "stream broken";
    }
    return "unknown tether.grpc error";
  }
  bool equivalent(int c, const std::error_condition& cond) const noexcept override {
    switch (static_cast<errc>(c)) {
      case errc::client_cancelled:
        return cond == std::errc::operation_canceled;
      case errc::client_deadline_passed:
        return cond == std::errc::timed_out;
      default:
        return default_error_condition(c) == cond;
    }
  }
};

// The time left until a gRPC deadline, measured on gRPC's monotonic clock (never the wall
// clock, which may step); nullopt when the call has no deadline.
std::optional<std::chrono::nanoseconds> time_left(gpr_timespec raw) {
  if (gpr_time_cmp(raw, gpr_inf_future(raw.clock_type)) == 0) return std::nullopt;
  const gpr_timespec mono = gpr_convert_clock_type(raw, GPR_CLOCK_MONOTONIC);
  const gpr_timespec left = gpr_time_sub(mono, gpr_now(GPR_CLOCK_MONOTONIC));
  return std::chrono::seconds(left.tv_sec) + std::chrono::nanoseconds(left.tv_nsec);
}

// The causes a server call ends with, made once: a Cause is shared and immutable, so each
// call copies one (an atomic increment) instead of allocating its own. Never destroyed, so
// a call that ends during static destruction still finds them.
const Cause& finished_cause() {
  static const Cause* c = new Cause(errc::rpc_finished, "rpc finished");
  return *c;
}
const Cause& cancelled_cause() {
  static const Cause* c = new Cause(errc::client_cancelled, "client cancelled");
  return *c;
}
const Cause& deadline_passed_cause() {
  static const Cause* c = new Cause(errc::client_deadline_passed, "client deadline passed");
  return *c;
}

}  // namespace

const std::error_category& category() noexcept {
  static const Category c;
  return c;
}

::grpc::Status status_for(const Context& ctx, const ::grpc::Status& status) {
  const std::error_code err = ctx.err();
  if (!err) return status;
  const auto code = status.error_code();
  if (code != ::grpc::StatusCode::OK && code != ::grpc::StatusCode::CANCELLED &&
      code != ::grpc::StatusCode::DEADLINE_EXCEEDED)
    return status;  // an application error says more than "the context ended"
  const Cause why = cause(ctx);
  const bool deadline = err == tether::errc::deadline_exceeded || why == std::errc::timed_out;
  return {deadline ? ::grpc::StatusCode::DEADLINE_EXCEEDED : ::grpc::StatusCode::CANCELLED,
          why.message()};
}

// ---- ServerCall --------------------------------------------------------------------------

ServerCall::ServerCall(const Context& base, const ::grpc::ServerContextBase& sc,
                       const ServerOptions& options) {
  // tether's clock is read before gRPC's: start + left is then never later than gRPC's
  // own deadline.
  const Clock::time_point start = now();
  std::optional<std::chrono::nanoseconds> budget = time_left(sc.raw_deadline());
  if (budget) {
    budget = std::min(*budget, options.max_timeout);
  } else if (options.default_timeout.count() > 0) {
    budget = options.default_timeout;
  }

  if (budget) {
    deadline_ = start + std::chrono::duration_cast<Clock::duration>(*budget);
    slack_ = std::chrono::duration_cast<std::chrono::nanoseconds>(*budget * options.deadline_slack);
    if (options.deadline_slack > 0) slack_ += std::chrono::milliseconds(2);
  }
  // One node for the deadline and the ends with a cause (client cancel, rpc finished).
  auto [bounded, end] =
      with_deadline_cancel_cause(base, deadline_.value_or(Clock::time_point::max()));
  end_.emplace(std::move(end));

  std::optional<TraceContext> incoming;
  const auto& metadata = sc.client_metadata();
  if (auto it = metadata.find("traceparent"); it != metadata.end())
    incoming = parse_traceparent(std::string_view(it->second.data(), it->second.size()));
  ctx_ = with_value(bounded, trace_key, incoming ? incoming->child() : TraceContext::new_root());
}

void ServerCall::on_cancel() noexcept {
  if (deadline_) {
    const auto left = *deadline_ - now();
    if (left <= Clock::duration::zero()) return;  // the deadline timer reports itself
    if (left <= slack_) {
      (*end_)(deadline_passed_cause());
      return;
    }
  }
  (*end_)(cancelled_cause());
}

void ServerCall::finished() noexcept {
  // Already ended (the second call, from the destructor after OnDone; or cancelled): the
  // cancel would do nothing, so skip copying the cause for it.
  if (!ctx_.err()) (*end_)(finished_cause());
}

// ---- the worker pool ---------------------------------------------------------------------

namespace internal {

// A fixed pool of threads running submitted tasks in order. The destructor runs every task
// still queued (each finishes its call), then joins.
class WorkerPool {
 public:
  explicit WorkerPool(std::size_t n) {
    threads_.reserve(std::max<std::size_t>(n, 1));
    for (std::size_t i = 0; i < std::max<std::size_t>(n, 1); ++i)
      threads_.emplace_back([this] { loop(); });
  }
  ~WorkerPool() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void submit(std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) throw std::runtime_error("tether::grpc: dispatcher is shutting down");
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // stopping, and nothing left to run
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // written under mu_
  bool stopping_ = false;                    // written under mu_
  std::vector<std::thread> threads_;
};

bool PendingOp::wait(const Context& ctx, const std::function<void()>& cancel) {
  std::unique_lock lock(mu_);
  if (tether::wait(ctx, lock, cv_, [this] { return done_; })) {
    // The context ended first: cancel the call, which completes the operation (ok false).
    lock.unlock();
    cancel();
    lock.lock();
    cv_.wait(lock, [this] { return done_; });
  }
  return ok_;
}

std::error_code stream_error(const Context& ctx) {
  if (auto ec = ctx.err()) return ec;
  return make_error_code(errc::stream_broken);
}

::grpc::Status status_from_exception(std::exception_ptr e) {
  try {
    std::rethrow_exception(std::move(e));
  } catch (const std::exception& x) {
    return {::grpc::StatusCode::UNKNOWN, x.what()};
  } catch (...) {
    return {::grpc::StatusCode::UNKNOWN, "unknown exception"};
  }
}

namespace {
class UnaryReactor final : public ::grpc::ServerUnaryReactor {
 public:
  UnaryReactor(const Dispatcher& d, ::grpc::CallbackServerContext* sc, UnaryWork w)
      : call(d.context(), *sc, d.options()), work(std::move(w)) {}
  ::grpc::Status run() { return work(call.context()); }
  void OnCancel() override { call.on_cancel(); }
  void OnDone() override {
    call.finished();
    delete this;
  }
  ServerCall call;
  UnaryWork work;
};
}  // namespace

}  // namespace internal

// ---- Dispatcher --------------------------------------------------------------------------

Dispatcher::Dispatcher(const Context& base, ServerOptions options) : options_(std::move(options)) {
  auto [ctx, cancel] = with_cancel_cause(base);
  base_ = std::move(ctx);
  cancel_base_.emplace(std::move(cancel));
  if (!options_.executor) pool_ = std::make_unique<internal::WorkerPool>(options_.workers);
}

Dispatcher::~Dispatcher() {
  cancel_calls();
  pool_.reset();  // runs what is queued (each task finishes its call), joins
}

void Dispatcher::cancel_calls() noexcept {
  (*cancel_base_)(Cause(errc::server_shutdown, "server shutdown"));
}

void Dispatcher::shutdown(::grpc::Server& server, std::chrono::system_clock::time_point deadline) {
  cancel_calls();
  server.Shutdown(deadline);
}

void Dispatcher::submit(std::function<void()> task) {
  if (options_.executor) {
    options_.executor(std::move(task));
  } else {
    pool_->submit(std::move(task));
  }
}

::grpc::ServerUnaryReactor* Dispatcher::unary(::grpc::CallbackServerContext* sc, UnaryWork work) {
  auto* r = new internal::UnaryReactor(*this, sc, std::move(work));
  internal::start_work(*this, r);
  return r;
}

}  // namespace tether::grpc
