// task_pool.hpp — a fixed set of threads that run submitted tasks: the executor of the
// per-request tether::Group, so that fanning a request out to three sources starts no
// thread (and a load run shows no thread growth).
//
//   TaskPool pool(48);
//   tether::Group g(ctx, pool.executor());
//   g.go([](const tether::Context& gctx) { ... });
//
// Tasks run in submission order, each on one of the pool's threads; a task that blocks
// occupies its thread (size the pool for the blocking work in flight: three sources per
// request handler). The destructor runs the tasks already submitted, then joins.
//
// Thread safety: submit() and executor() may be called from any thread.
// What blocks: the destructor, until queued and running tasks are done.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tether_demo {

class TaskPool {
 public:
  explicit TaskPool(std::size_t threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void submit(std::function<void()> task);
  /// A tether::Group::Executor that submits here. The pool must outlive its use.
  std::function<void(std::function<void()>)> executor() {
    return [this](std::function<void()> task) { submit(std::move(task)); };
  }
  std::size_t size() const noexcept { return threads_.size(); }

 private:
  void run();

  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;  // under mu_
  bool stopping_ = false;                    // under mu_
  std::vector<std::thread> threads_;
};

}  // namespace tether_demo
