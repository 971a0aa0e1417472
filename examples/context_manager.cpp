// context_manager.cpp — ContextManager::execute_with_context and its abandoned threads.
#include "context_manager.hpp"

#include <memory>

namespace tether {
namespace {

// What the task thread reports back; shared because the caller may return first.
struct TaskOutcome {
  std::mutex mu;
  std::condition_variable_any finished_cv;
  bool finished = false;         // under mu
  std::error_code result;        // under mu
  std::exception_ptr exception;  // under mu
};

}  // namespace

ContextManager::~ContextManager() { join_abandoned_tasks(); }

std::error_code ContextManager::execute_with_context(const Context& ctx,
                                                     std::function<std::error_code()> task) {
  return execute_with_context(ctx, [t = std::move(task)](const Context&) mutable { return t(); });
}

std::error_code ContextManager::execute_with_context(
    const Context& ctx, std::function<std::error_code(const Context&)> task) {
  if (auto ec = ctx.err()) return ec;  // never start work for a context that already ended
  auto [task_ctx, cancel] = with_cancel(ctx);
  auto outcome = std::make_shared<TaskOutcome>();
  std::thread thread([outcome, t = std::move(task), tctx = task_ctx]() mutable {
    std::error_code result;
    std::exception_ptr exception;
    try {
      result = t(tctx);
    } catch (...) {
      exception = std::current_exception();
    }
    t = nullptr;  // release what the task captured before reporting
    std::lock_guard<std::mutex> lock(outcome->mu);
    outcome->finished = true;
    outcome->result = result;
    outcome->exception = exception;
    outcome->finished_cv.notify_all();
  });

  std::unique_lock<std::mutex> lock(outcome->mu);
  std::error_code ended = wait(ctx, lock, outcome->finished_cv, [&] { return outcome->finished; });
  lock.unlock();
  if (!ended) {  // the task finished first: join it and report its result
    thread.join();
    if (outcome->exception) std::rethrow_exception(outcome->exception);
    return outcome->result;
  }
  // The context ended first: tell the task (if it listens), keep its thread to join later.
  cancel();
  std::lock_guard<std::mutex> guard(mu_);
  abandoned_.push_back(std::move(thread));
  return ended;
}

std::size_t ContextManager::abandoned_tasks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return abandoned_.size();
}

void ContextManager::join_abandoned_tasks() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(abandoned_);
  }
  for (auto& t : threads) t.join();
}

}  // namespace tether
