// examples/context_manager.hpp — ContextManager, the tutorials' facade, ported name for name.
//
// The Go tutorial "Mastering Context in Go" wraps the context package in a small
// ContextManager interface. This class is that facade, so code and tests written against it
// port line by line (CreateCancellableContext → create_cancellable_context, ...):
//
//   tether::ContextManager cm;
//   auto [ctx, cancel] = cm.create_timeout_context(tether::background(), 50ms);
//   std::error_code err = cm.execute_with_context(ctx, [] { return slow_call(); });
//   if (err == tether::errc::deadline_exceeded) { ... }
//
// New code can call the free functions directly (with_cancel, with_timeout, with_value,
// sleep_for); the facade adds one thing of its own — execute_with_context's ownership of
// the task thread.
//
// execute_with_context(ctx, task): runs `task` on a new thread and returns whichever comes
// first — the task's result, or ctx.err() when the context ends (Go's select between the
// task's result channel and ctx.Done()). The task may take the context
// (`task(const Context&)`): it then sees a context that is cancelled as soon as
// execute_with_context returns, so a cooperative task stops right away.
//
// A task that ignores its context (Go's version leaks its goroutine) is never left running
// unobserved: when execute_with_context returns early, its thread is handed to the
// ContextManager, which keeps it, discards its result, and JOINS it in its destructor.
// abandoned_tasks() counts such tasks, and join_abandoned_tasks() joins them earlier. So no thread
// outlives the ContextManager, and a task that finished before the context ended has been
// joined before execute_with_context returns. (Pick the ContextManager's scope
// accordingly: its destructor blocks until abandoned tasks finish.)
//
// Differences from the Go interface: keys are typed (tether::Key<T>) instead of
// interface{}; get_value returns a pointer (nullptr when absent) instead of (value, ok);
// tasks return std::error_code (a throwing task is caught: execute_with_context rethrows
// its exception if the task finished first; the exception of an abandoned task is dropped).
//
// Thread safety: all members may be called concurrently from any threads.
//
// What blocks: execute_with_context (until the task finishes or ctx ends),
// wait_for_completion (until the duration passes or ctx ends), join_abandoned_tasks and the
// destructor (until every abandoned task finished). Nothing else.
#pragma once

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "tether/context.hpp"
#include "tether/sync/sleep.hpp"

namespace tether {

class ContextManager {
 public:
  ContextManager() = default;
  ContextManager(const ContextManager&) = delete;
  ContextManager& operator=(const ContextManager&) = delete;
  /// Joins every task abandoned by execute_with_context (blocks until they finish).
  ~ContextManager();

  /// Go: CreateCancellableContext(parent) → with_cancel(parent).
  [[nodiscard]] Derived<ScopedCancel> create_cancellable_context(const Context& parent) const {
    return with_cancel(parent);
  }
  /// Go: CreateTimeoutContext(parent, timeout) → with_timeout(parent, timeout).
  template <class Rep, class Period>
  [[nodiscard]] Derived<ScopedCancel> create_timeout_context(
      const Context& parent, std::chrono::duration<Rep, Period> timeout) const {
    return with_timeout(parent, timeout);
  }
  /// Go: AddValue(parent, key, value) → with_value(parent, key, value).
  template <class T, class U = T>
  requires std::constructible_from<T, U&&>
  [[nodiscard]] Context add_value(const Context& parent, const Key<T>& key, U&& value) const {
    return with_value(parent, key, std::forward<U>(value));
  }
  /// Go: GetValue(ctx, key) → the value, or nullptr when absent (Go's ok == false).
  template <class T>
  const T* get_value(const Context& ctx, const Key<T>& key) const noexcept {
    return ctx.value(key);
  }

  /// Runs `task` on a new thread; returns its result, or ctx.err() if `ctx` ends first
  /// (see the header comment for what happens to the task then). `task` is
  /// `std::error_code()` or `std::error_code(const Context&)`.
  /// Go: ExecuteWithContext(ctx, task).
  std::error_code execute_with_context(const Context& ctx, std::function<std::error_code()> task);
  std::error_code execute_with_context(const Context& ctx,
                                       std::function<std::error_code(const Context&)> task);

  /// Waits `duration` of tether's clock; returns {} if it elapsed, ctx.err() if `ctx` ended
  /// first. Go: WaitForCompletion(ctx, duration).
  template <class Rep, class Period>
  std::error_code wait_for_completion(const Context& ctx,
                                      std::chrono::duration<Rep, Period> duration) const {
    return sleep_for(ctx, duration);
  }

  /// The number of tasks abandoned by execute_with_context (their context ended first)
  /// that have not been joined yet, finished or not.
  std::size_t abandoned_tasks() const;
  /// Joins every abandoned task (blocks until they finish).
  void join_abandoned_tasks();

 private:
  mutable std::mutex mu_;
  std::vector<std::thread> abandoned_;  // under mu_
};

}  // namespace tether
