// tether/sync/group.hpp — Group: Go's errgroup.WithContext, with no leaked thread possible.
//
// A Group runs tasks concurrently under one derived context. The first task to fail
// cancels that context (its error becomes the context's cause), so its siblings stop;
// wait() joins them all and returns the first error:
//
//   tether::Group g(ctx);
//   for (auto& url : urls)
//     g.go([&url](const tether::Context& gctx) { return fetch(gctx, url); });
//   if (auto ec = g.wait()) return ec;      // the first failure; the others were cancelled
//
// Tasks: `f(const Context&)` returning std::error_code (an empty one is success) or void.
// A task that throws fails the group too: the first failure's exception is kept, the
// group's context is cancelled with Cause(exception), and wait() rethrows it (like
// std::future::get). A task's context is the group's context: done when a sibling fails,
// when the parent is done, or after wait().
//
// Threads: by default each go() starts a std::thread, joined by wait() or the destructor.
// With an executor (any callable taking a std::function<void()> and running it somewhere,
// e.g. a thread pool's submit), go() hands the task to it instead, and wait() waits for the
// submitted tasks to finish. The executor must run every task it accepts (or throw from the
// submit call without keeping the task, which go() then propagates).
//
// The destructor cancels the group's context and waits for every task (joining its
// threads): a forgotten wait() leaks nothing, and nothing a task references from the
// enclosing scope is destroyed while the task runs. Errors seen only by the destructor are
// dropped. This is the difference from Go, where a forgotten Wait leaks goroutines.
//
// Like Go: wait() cancels the group's context when all tasks are done (with the first
// error as cause, or plain errc::canceled); set_limit(n) bounds the number of active tasks
// (go() then blocks for a free slot; try_go() returns false instead); changing the limit
// while tasks are active throws std::logic_error (Go panics).
//
// Thread safety: go, try_go, wait and context may be called from any thread, including
// from inside the group's own tasks (but a task must not call wait(): it would wait for
// itself). set_limit must not race with go.
//
// What blocks: wait() and the destructor (until every task returned); go() while the
// limit is reached. Nothing else.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "tether/context.hpp"

namespace tether {

class Group {
 public:
  /// Runs a task somewhere (a thread pool's submit, an event loop's post...).
  using Executor = std::function<void(std::function<void()>)>;

  /// A group whose context is derived from `parent`; go() starts one thread per task.
  explicit Group(const Context& parent) : Group(parent, Executor()) {}
  /// A group whose tasks are handed to `executor`.
  Group(const Context& parent, Executor executor) : executor_(std::move(executor)) {
    auto [ctx, cancel] = with_cancel_cause(parent);
    ctx_ = std::move(ctx);
    cancel_ = cancel.release();
  }
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  /// Cancels the group's context and waits for every task; their errors are dropped.
  ~Group() {
    cancel_(Cause());
    wait_for_tasks();
  }

  /// The group's context, passed to every task. Go: the ctx errgroup.WithContext returns.
  const Context& context() const noexcept { return ctx_; }

  /// Runs `f(context())` concurrently. Blocks while set_limit's bound is reached.
  /// Go: g.Go(f).
  template <class F>
  requires std::invocable<F&, const Context&>
  void go(F&& f) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      slot_free_.wait(lock,
                      [&] { return limit_ < 0 || active_ < static_cast<std::size_t>(limit_); });
      ++active_;
    }
    start(std::forward<F>(f));
  }

  /// Runs `f(context())` concurrently if the limit allows; returns false (and does not run
  /// f) otherwise. Go: g.TryGo(f).
  template <class F>
  requires std::invocable<F&, const Context&>
  bool try_go(F&& f) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (limit_ >= 0 && active_ >= static_cast<std::size_t>(limit_)) return false;
      ++active_;
    }
    start(std::forward<F>(f));
    return true;
  }

  /// Bounds the number of active tasks to `n`; a negative n means no limit (the default).
  /// Throws std::logic_error if tasks are active. Go: g.SetLimit(n).
  void set_limit(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    if (active_ != 0) throw std::logic_error("tether::Group::set_limit: tasks are still active");
    limit_ = n;
  }

  /// Waits for every task started so far, cancels the group's context, and returns the
  /// first error (empty if none). If the first failure was an exception, rethrows it.
  /// Go: g.Wait().
  std::error_code wait() {
    wait_for_tasks();
    std::unique_lock<std::mutex> lock(mu_);
    Cause cause = first_cause_;
    std::error_code error = first_error_;
    std::exception_ptr exception = first_exception_;
    lock.unlock();
    cancel_(std::move(cause));  // outside the lock: callbacks may call go()
    if (exception) std::rethrow_exception(exception);
    return error;
  }

 private:
  template <class F>
  void start(F&& f) {
    auto task = [this, fn = std::forward<F>(f)]() mutable {
      {
        auto local = std::move(fn);  // destroyed before finish(): the group may go then
        run(local);
      }
      finish();
    };
    try {
      if (executor_) {
        // std::function needs a copyable callable; share the (possibly move-only) task.
        auto shared = std::make_shared<decltype(task)>(std::move(task));
        executor_([shared] { (*shared)(); });
      } else {
        std::lock_guard<std::mutex> lock(mu_);
        threads_.emplace_back(std::move(task));
      }
    } catch (...) {
      finish();
      throw;
    }
  }

  template <class F>
  void run(F& fn) noexcept {
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<F&, const Context&>>) {
        fn(ctx_);
      } else {
        std::error_code ec = fn(ctx_);
        if (ec) fail(ec, Cause(ec), nullptr);
      }
    } catch (...) {
      auto e = std::current_exception();
      fail({}, Cause(e), e);
    }
  }

  void fail(std::error_code ec, Cause cause, std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (failed_) return;
      failed_ = true;
      first_error_ = ec;
      first_cause_ = cause;
      first_exception_ = e;
    }
    cancel_(std::move(cause));  // outside the lock: it may run callbacks that call go()
  }

  void finish() {
    std::lock_guard<std::mutex> lock(mu_);
    --active_;
    // Wake only whom this can satisfy: wait() needs active_ == 0, a limited go() a free slot
    // (waking wait() for every finished task costs it a futex round trip each time). Notify
    // under the lock: a waiter may destroy the group as soon as active_ hits 0.
    if (active_ == 0 || limit_ >= 0) slot_free_.notify_all();
  }

  void wait_for_tasks() {
    std::unique_lock<std::mutex> lock(mu_);
    slot_free_.wait(lock, [&] { return active_ == 0; });
    std::vector<std::thread> threads = std::move(threads_);
    threads_.clear();
    lock.unlock();
    for (auto& t : threads) t.join();
  }

  Executor executor_;
  Context ctx_;
  CancelCauseFunc cancel_;
  std::mutex mu_;
  std::condition_variable slot_free_;   // active_ decreased; under mu_
  std::size_t active_ = 0;              // under mu_
  int limit_ = -1;                      // under mu_
  bool failed_ = false;                 // under mu_
  std::error_code first_error_;         // under mu_
  Cause first_cause_;                   // under mu_
  std::exception_ptr first_exception_;  // under mu_
  std::vector<std::thread> threads_;    // under mu_
};

}  // namespace tether
