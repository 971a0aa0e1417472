// The request's context tree (fan_out.hpp). The baseline build links
// fan_out_baseline.cpp instead of this file: the same classes, deriving no context.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <optional>
#include <string>

#include "fan_out.hpp"
#include "join.hpp"
#include "tether/sync/group.hpp"

namespace tether_demo {
namespace {

// A coroutine source: its context derived as non_critical's, counted by `join`.
boost::asio::awaitable<void> run_coroutine_source(
    tether::Context named, std::optional<tether::Clock::time_point> deadline, Join* join,
    std::function<boost::asio::awaitable<void>(tether::Context)> task) {
  JoinDone done{join};
  auto [ctx, cancel] =
      deadline ? tether::with_deadline(named, *deadline) : tether::with_cancel(named);
  co_await task(ctx);
}

}  // namespace

bool baseline_build() noexcept { return false; }

RequestScope::RequestScope(const tether::Context& request_ctx, std::string_view method,
                           std::string_view path)
    : ctx_(request_ctx) {
  // Off, this is the one relaxed load; the label is built only when it will be used.
  if (tether::registry::enabled())
    tracked_ = tether::registry::track(ctx_, std::string(method) + " " + std::string(path));
}

struct FanOut::Impl {
  Impl(const tether::Context& ctx, TaskPool& pool) : group(ctx, pool.executor()) {
    if (auto d = ctx.deadline())
      non_critical_deadline = *d - non_critical_reserve(*d - tether::now());
  }
  // Hands a task to the group, counted by `join` until it has returned.
  template <class F>
  void go(F task) {
    join.add();
    try {
      group.go([this, task = std::move(task)](const tether::Context& gctx) {
        JoinDone done{&join};
        return task(gctx);
      });
    } catch (...) {
      join.done();  // the group did not take it
      throw;
    }
  }

  Join join;  // outlives the group's tasks: declared before the group, destroyed after it
  tether::Group group;
  std::optional<tether::Clock::time_point> non_critical_deadline;
};

FanOut::FanOut(const tether::Context& ctx, TaskPool& pool)
    : impl_(std::make_unique<Impl>(ctx, pool)) {}

FanOut::~FanOut() = default;  // ~Group cancels and joins

void FanOut::critical(Source source, std::function<std::error_code(const tether::Context&)> task) {
  impl_->go([source, task = std::move(task)](const tether::Context& gctx) {
    auto [ctx, cancel] = tether::with_cancel(
        tether::with_value(gctx, source_key, std::string_view(to_string(source))));
    return task(ctx);
  });
}

void FanOut::non_critical(Source source, std::function<void(const tether::Context&)> task) {
  impl_->go([source, task = std::move(task),
             deadline = impl_->non_critical_deadline](const tether::Context& gctx) {
    tether::Context named =
        tether::with_value(gctx, source_key, std::string_view(to_string(source)));
    auto [ctx, cancel] =
        deadline ? tether::with_deadline(named, *deadline) : tether::with_cancel(named);
    task(ctx);
  });
}

void FanOut::non_critical_co(Source source, boost::asio::any_io_executor executor,
                             std::function<boost::asio::awaitable<void>(tether::Context)> task) {
  tether::Context named =
      tether::with_value(impl_->group.context(), source_key, std::string_view(to_string(source)));
  impl_->join.add();
  boost::asio::co_spawn(executor,
                        run_coroutine_source(std::move(named), impl_->non_critical_deadline,
                                             &impl_->join, std::move(task)),
                        boost::asio::detached);
}

std::error_code FanOut::wait() { return impl_->group.wait(); }

boost::asio::awaitable<std::error_code> FanOut::co_wait() {
  co_await impl_->join.co_wait();
  // Every task has returned: the group's join has only its own bookkeeping left.
  co_return impl_->group.wait();
}

}  // namespace tether_demo
