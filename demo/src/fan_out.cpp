// The seam of the baseline build: with TETHER_DEMO_BASELINE defined, everything below the
// #else derives no context. Only this file differs between tether-demo and
// tether-demo-baseline (see demo/CMakeLists.txt).
#include "fan_out.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>

#ifndef TETHER_DEMO_BASELINE
#include "tether/sync/group.hpp"
#endif

namespace tether_demo {

std::chrono::nanoseconds non_critical_reserve(std::chrono::nanoseconds left) noexcept {
  using namespace std::chrono_literals;
  return std::clamp<std::chrono::nanoseconds>(left / 10, 5ms, 100ms);
}

#ifndef TETHER_DEMO_BASELINE

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
  tether::Group group;
  std::optional<tether::Clock::time_point> non_critical_deadline;
};

FanOut::FanOut(const tether::Context& ctx, TaskPool& pool)
    : impl_(std::make_unique<Impl>(ctx, pool)) {}

FanOut::~FanOut() = default;  // ~Group cancels and joins

void FanOut::critical(Source source, std::function<std::error_code(const tether::Context&)> task) {
  impl_->group.go([source, task = std::move(task)](const tether::Context& gctx) {
    auto [ctx, cancel] = tether::with_cancel(
        tether::with_value(gctx, source_key, std::string_view(to_string(source))));
    return task(ctx);
  });
}

void FanOut::non_critical(Source source, std::function<void(const tether::Context&)> task) {
  impl_->group.go([source, task = std::move(task),
                   deadline = impl_->non_critical_deadline](const tether::Context& gctx) {
    tether::Context named =
        tether::with_value(gctx, source_key, std::string_view(to_string(source)));
    auto [ctx, cancel] =
        deadline ? tether::with_deadline(named, *deadline) : tether::with_cancel(named);
    task(ctx);
  });
}

std::error_code FanOut::wait() { return impl_->group.wait(); }

#else  // TETHER_DEMO_BASELINE: the same work, no contexts.

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
  std::mutex mu;
  std::condition_variable done;
  int running = 0;              // under mu
  std::error_code first_error;  // under mu

  void start(std::function<std::error_code()> task) {
    {
      std::lock_guard lock(mu);
      ++running;
    }
    pool.submit([this, task = std::move(task)] {
      std::error_code ec = task();
      std::lock_guard lock(mu);
      if (ec && !first_error) first_error = ec;
      if (--running == 0) done.notify_all();  // under the lock: wait() may return at once
    });
  }
  void join() {
    std::unique_lock lock(mu);
    done.wait(lock, [&] { return running == 0; });
  }
};

// tether-vet: ignore[context-ignored] the baseline build does the same work without contexts
FanOut::FanOut(const tether::Context&, TaskPool& pool) : impl_(std::make_unique<Impl>(pool)) {}

FanOut::~FanOut() { impl_->join(); }

void FanOut::critical(Source, std::function<std::error_code(const tether::Context&)> task) {
  impl_->start([task = std::move(task)] { return task(tether::background()); });
}

void FanOut::non_critical(Source, std::function<void(const tether::Context&)> task) {
  impl_->start([task = std::move(task)] {
    task(tether::background());
    return std::error_code();
  });
}

std::error_code FanOut::wait() {
  impl_->join();
  std::lock_guard lock(impl_->mu);
  return impl_->first_error;
}

#endif

}  // namespace tether_demo
