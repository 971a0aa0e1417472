// The baseline build's FanOut and RequestScope (tether-demo-baseline links this file
// instead of fan_out.cpp): the same work as fan_out.cpp with no contexts — the request
// context replaced by tether::background(), nothing derived, nothing tracked, the sources
// joined with a plain counter — to measure what contexts cost (docs/performance.md).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <functional>
#include <mutex>

#include "fan_out.hpp"
#include "join.hpp"

namespace tether_demo {

bool baseline_build() noexcept { return true; }

namespace {
const tether::Context kBackground = tether::background();
}  // namespace

// tether-vet: ignore[context-ignored] the baseline build does the same work without contexts
RequestScope::RequestScope(const tether::Context&, std::string_view, std::string_view)
    : ctx_(kBackground) {}

struct FanOut::Impl {
  explicit Impl(TaskPool& p) : pool(p) {}
  TaskPool& pool;
  Join join;
  std::mutex mu;
  std::error_code first_error;  // under mu

  void start(std::function<std::error_code()> task) {
    join.add();
    pool.submit([this, task = std::move(task)] {
      std::error_code ec = task();
      {
        std::lock_guard lock(mu);
        if (ec && !first_error) first_error = ec;
      }
      join.done();
    });
  }
  std::error_code first() {
    std::lock_guard lock(mu);
    return first_error;
  }
};

// tether-vet: ignore[context-ignored] the baseline build does the same work without contexts
FanOut::FanOut(const tether::Context&, TaskPool& pool) : impl_(std::make_unique<Impl>(pool)) {}

FanOut::~FanOut() { impl_->join.wait(); }

void FanOut::critical(Source, std::function<std::error_code(const tether::Context&)> task) {
  impl_->start([task = std::move(task)] { return task(tether::background()); });
}

void FanOut::non_critical(Source, std::function<void(const tether::Context&)> task) {
  impl_->start([task = std::move(task)] {
    task(tether::background());
    return std::error_code();
  });
}

namespace {
boost::asio::awaitable<void> run_coroutine_source(
    Join* join, std::function<boost::asio::awaitable<void>(tether::Context)> task) {
  JoinDone done{join};
  co_await task(tether::background());
}
}  // namespace

void FanOut::non_critical_co(Source, boost::asio::any_io_executor executor,
                             std::function<boost::asio::awaitable<void>(tether::Context)> task) {
  impl_->join.add();
  boost::asio::co_spawn(executor, run_coroutine_source(&impl_->join, std::move(task)),
                        boost::asio::detached);
}

std::error_code FanOut::wait() {
  impl_->join.wait();
  return impl_->first();
}

boost::asio::awaitable<std::error_code> FanOut::co_wait() {
  co_await impl_->join.co_wait();
  co_return impl_->first();
}

}  // namespace tether_demo
