// join.hpp — Join: counts running tasks and lets a thread or a coroutine wait for them all,
// the coroutine without holding a thread (FanOut's co_wait, both builds).
//
//   Join join;
//   join.add();                      // before handing a task to a pool
//   pool.submit([&] { work(); join.done(); });
//   co_await join.co_wait();         // in a coroutine: resumes on its own executor
//
// Thread safety: add, done, wait and co_wait from any thread. At most one co_wait at a
// time. What blocks: wait(), until every added task is done; nothing else.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

namespace tether_demo {

class Join {
 public:
  /// One more task to wait for.
  void add() {
    std::lock_guard lock(mu_);
    ++running_;
  }
  /// A task finished: the last one resumes the waiting coroutine (on its executor) and
  /// wakes the waiting threads.
  void done() {
    std::function<void()> resume;
    {
      std::lock_guard lock(mu_);
      if (--running_ == 0) {
        resume.swap(waiter_);
        all_done_.notify_all();  // under the lock: a waiter may destroy *this once woken
      }
    }
    if (resume) resume();  // only posts: it touches nothing of *this
  }
  /// Blocks until every added task is done.
  void wait() {
    std::unique_lock lock(mu_);
    all_done_.wait(lock, [&] { return running_ == 0; });
  }
  /// Completes, on the awaiting coroutine's executor, when every added task is done (at
  /// once if none is running), holding no thread meanwhile.
  boost::asio::awaitable<void> co_wait() {
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>, void()>(
        [this](auto handler) {
          // The pending wait counts as work of the coroutine's executor, as an Asio
          // operation's does: an io_context does not run out of work while it waits.
          auto work = std::make_shared<boost::asio::executor_work_guard<
              boost::asio::associated_executor_t<decltype(handler)>>>(
              boost::asio::get_associated_executor(handler));
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          std::function<void()> resume = [h, work] {
            boost::asio::post(work->get_executor(), [h] { std::move (*h)(); });
            work->reset();
          };
          {
            std::lock_guard lock(mu_);
            if (running_ > 0) {
              waiter_ = std::move(resume);
              return;
            }
          }
          resume();
        },
        boost::asio::use_awaitable);
  }

 private:
  std::mutex mu_;
  std::condition_variable all_done_;
  int running_ = 0;               // under mu_
  std::function<void()> waiter_;  // under mu_: resumes the coroutine in co_wait
};

/// Tells a Join that a task has returned (or thrown) when it goes out of scope: declared
/// first in the task, so that it runs last, after the task's own locals are released.
struct JoinDone {
  Join* join;
  ~JoinDone() { join->done(); }
};

}  // namespace tether_demo
