// co_await ctx.done() and resume_on: tether/sync/coro.hpp.
#include "tether/sync/coro.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <coroutine>
#include <exception>
#include <random>
#include <thread>
#include <vector>

#include "concurrency_test_support.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;

// A minimal eager coroutine: runs until its first suspension; the frame stays until ~Task.
struct Task {
  struct promise_type {
    Task get_return_object() {
      return Task{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { std::terminate(); }
  };
  explicit Task(std::coroutine_handle<promise_type> handle) : h(handle) {}
  Task(Task&& o) noexcept : h(std::exchange(o.h, {})) {}
  ~Task() {
    if (h) h.destroy();
  }
  bool done() const { return h.done(); }
  std::coroutine_handle<promise_type> h;
};

Task await_done(tether::Context ctx, std::atomic<int>* resumed, std::thread::id* on = nullptr) {
  co_await ctx.done();
  if (on != nullptr) *on = std::this_thread::get_id();
  resumed->fetch_add(1);
}

TEST(CoAwaitDone, DoesNotSuspendWhenTheContextIsAlreadyDone) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  std::atomic<int> resumed{0};
  Task t = await_done(ctx, &resumed);
  EXPECT_TRUE(t.done());
  EXPECT_EQ(resumed, 1);
}

TEST(CoAwaitDone, SuspendsUntilTheContextIsCancelled) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::atomic<int> resumed{0};
  Task t = await_done(ctx, &resumed);
  EXPECT_FALSE(t.done());
  EXPECT_EQ(resumed, 0);
  cancel();
  EXPECT_TRUE(t.done());
  EXPECT_EQ(resumed, 1);
}

TEST(CoAwaitDone, ResumesInlineOnTheCancellingThread) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::atomic<int> resumed{0};
  std::thread::id on;
  Task t = await_done(ctx, &resumed, &on);
  std::thread::id canceller;
  std::thread([&, f = cancel.func()] {
    canceller = std::this_thread::get_id();
    f();
  }).join();
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(on, canceller);
}

TEST(CoAwaitDone, ResumesWhenTheDeadlinePasses) {
  tether::testing::ManualClock clock;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  std::atomic<int> resumed{0};
  Task t = await_done(ctx, &resumed);
  EXPECT_FALSE(t.done());
  clock.advance(1s);
  EXPECT_TRUE(t.done());
  EXPECT_EQ(ctx.err(), tether::errc::deadline_exceeded);
}

TEST(CoAwaitDone, DestroyingTheSuspendedCoroutineUnregistersItsCallback) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::atomic<int> resumed{0};
  {
    Task t = await_done(ctx, &resumed);
    EXPECT_EQ(tether::testing::registered_children(ctx), 1u);
  }
  EXPECT_EQ(tether::testing::registered_children(ctx), 0u);
  cancel();  // nothing left to resume
  EXPECT_EQ(resumed, 0);
}

TEST(CoAwaitDone, RacingCancelAndSuspensionResumeExactlyOnce) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  for (int i = 0; i < 300; ++i) {
    auto [ctx, cancel] = tether::with_cancel(tether::background());
    std::atomic<int> resumed{0};
    std::atomic<bool> go{false};
    std::thread canceller([&go, f = cancel.func(), spin = rng() % 64] {
      while (!go.load()) {
      }
      for (unsigned s = 0; s < spin; ++s) std::this_thread::yield();
      f();
    });
    go = true;
    Task t = await_done(ctx, &resumed);
    canceller.join();
    ASSERT_TRUE(t.done());
    ASSERT_EQ(resumed, 1);
  }
}

Task await_via(tether::Context ctx, std::vector<std::coroutine_handle<>>* queue,
               std::atomic<int>* resumed) {
  co_await tether::resume_on(ctx.done(),
                             [queue](std::coroutine_handle<> h) { queue->push_back(h); });
  resumed->fetch_add(1);
}

TEST(ResumeOn, HandsTheCoroutineToThePostFunctionInsteadOfResumingInline) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::vector<std::coroutine_handle<>> queue;
  std::atomic<int> resumed{0};
  Task t = await_via(ctx, &queue, &resumed);
  cancel();
  EXPECT_FALSE(t.done());  // not resumed inside cancel()
  ASSERT_EQ(queue.size(), 1u);
  queue.front().resume();  // the "executor" runs it
  EXPECT_TRUE(t.done());
  EXPECT_EQ(resumed, 1);
}

TEST(ResumeOn, DoesNotPostWhenTheContextIsAlreadyDone) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  std::vector<std::coroutine_handle<>> queue;
  std::atomic<int> resumed{0};
  Task t = await_via(ctx, &queue, &resumed);
  EXPECT_TRUE(t.done());
  EXPECT_TRUE(queue.empty());
}

}  // namespace
