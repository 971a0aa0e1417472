// fan_out.hpp — the request's context tree: the one place where the demo derives contexts
// on the request path (and the seam that the baseline build replaces: a file of its own).
//
// A GET /users/{id} request builds this tree, which /debug/contexts shows live:
//
//   request context  (the server's: deadline, trace id)   tracked as "GET /users/42"
//   └─ group         (tether::Group: the first critical failure cancels the siblings)
//      ├─ profile      WithCancel,   value source=profile
//      ├─ preferences  WithDeadline, value source=preferences (request deadline − reserve)
//      └─ activity     WithDeadline, value source=activity    (request deadline − reserve)
//
// RequestScope tracks the request context in tether's registry (when the registry is on:
// with --registry off, the only cost left is the one relaxed load of enabled()). FanOut
// runs the sources in parallel on the TaskPool, each under its own derived context carrying
// its name, and joins them. A critical source's error cancels the group, so the others stop
// at once; a non-critical source gets the request deadline minus a reserve, so that when it
// is slow the partial answer can still be written before the request deadline.
//
// The baseline build (tether-demo-baseline) links fan_out_baseline.cpp instead of
// fan_out.cpp: the same classes, which replace the request context by tether::background(),
// derive nothing, track nothing, and join the sources with a plain counter: the same work
// without contexts, to measure what contexts cost (docs/performance.md). Which one a binary
// has is chosen when it is linked, not by a switch on the request path.
//
// Thread safety: a RequestScope and a FanOut belong to the request's handler (a coroutine
// on an I/O thread, or a thread); the tasks run on pool threads.
#pragma once

#include <algorithm>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <system_error>

#include "outcome.hpp"
#include "task_pool.hpp"
#include "tether/context.hpp"
#include "tether/registry.hpp"

namespace tether_demo {

/// The key under which each source's context carries the source's name.
inline const tether::Key<std::string_view> source_key{"source"};

/// How much of the request's remaining time a non-critical source leaves unused: 10% of
/// what is left when the sources start, at least 5 ms and at most 100 ms (50 ms of the
/// default 500): enough to stop a query, merge and write the answer on a busy machine.
inline std::chrono::nanoseconds non_critical_reserve(std::chrono::nanoseconds left) noexcept {
  using namespace std::chrono_literals;
  return std::clamp<std::chrono::nanoseconds>(left / 10, 5ms, 100ms);
}

/// True in the baseline build.
bool baseline_build() noexcept;

/// The request's root context, tracked in the registry while the scope lives. Refers to
/// `request_ctx`, which must outlive the scope.
class RequestScope {
 public:
  /// `method` and `path` make the registry label ("GET /users/42"); built only when tracked.
  RequestScope(const tether::Context& request_ctx, std::string_view method, std::string_view path);
  const tether::Context& context() const noexcept { return ctx_; }

 private:
  const tether::Context& ctx_;  // the request's (or, in the baseline, a static background())
  tether::registry::Tracked tracked_;
};

/// Runs the sources of one request in parallel and joins them.
class FanOut {
 public:
  FanOut(const tether::Context& ctx, TaskPool& pool);
  ~FanOut();  // joins (cancelling first, if wait() was not called)
  FanOut(const FanOut&) = delete;
  FanOut& operator=(const FanOut&) = delete;

  /// A source without which there is no answer: a non-empty error cancels the siblings.
  void critical(Source source, std::function<std::error_code(const tether::Context&)> task);
  /// A source the answer can do without: its context ends at the request deadline minus
  /// non_critical_reserve(); it cannot cancel the others.
  void non_critical(Source source, std::function<void(const tether::Context&)> task);
  /// A non-critical source that is a coroutine (an awaitable call): it runs on `executor`
  /// (the handler's) under the context non_critical() would give it, holding no thread
  /// while it waits; co_wait() waits for it too (wait() does not: a coroutine handler's
  /// source). Call it last, right before co_wait(): the FanOut must not be destroyed while
  /// it runs.
  void non_critical_co(Source source, boost::asio::any_io_executor executor,
                       std::function<boost::asio::awaitable<void>(tether::Context)> task);
  /// Waits for every source; returns the first critical error (empty if none).
  std::error_code wait();
  /// wait() for a coroutine handler: suspends until every source has returned, holding no
  /// thread (the sources run on the TaskPool), then returns the first critical error. One
  /// of wait() and co_wait() is called once; the destructor then has nothing left to join.
  boost::asio::awaitable<std::error_code> co_wait();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tether_demo
