// ContextManager, the tutorials' facade: examples/context_manager.hpp.
// The first three tests are the tutorial's own tests, ported (cancellation, timeout, values),
// with ManualClock and latches in place of its sleeps.
#include "context_manager.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <stdexcept>
#include <string>

#include "concurrency_test_support.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using concurrency_test::BoundedThread;

inline const tether::Key<std::string> user{"user"};
inline const tether::Key<std::string> request_id{"requestID"};
inline const tether::Key<std::string> nonexistent{"nonexistent"};

// Go: TestExecuteWithContext_Cancellation.
TEST(ContextManagerTutorial, ExecuteWithContextReturnsCanceledWhenCancelledDuringTheTask) {
  tether::ContextManager cm;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::latch task_started(1), release_task(1);
  auto task = [&]() -> std::error_code {  // a long task that ignores the context
    task_started.count_down();
    release_task.wait();
    return {};
  };
  BoundedThread canceller([&, f = cancel.func()] {
    task_started.wait();
    f();
  });
  std::error_code err = cm.execute_with_context(ctx, task);
  EXPECT_EQ(err, tether::errc::canceled);
  release_task.count_down();
  cm.join_abandoned_tasks();  // before the latches it uses go out of scope
}

// Go: TestCreateTimeoutContext.
TEST(ContextManagerTutorial, CreateTimeoutContextTimesOutAfterTheTimeout) {
  tether::testing::ManualClock clock;
  tether::ContextManager cm;
  auto [ctx, cancel] = cm.create_timeout_context(tether::background(), 50ms);
  clock.advance(50ms);
  ASSERT_TRUE(ctx.done().wait_for(concurrency_test::kBound));
  EXPECT_EQ(ctx.err(), tether::errc::deadline_exceeded);
}

// Go: TestAddAndGetValue.
TEST(ContextManagerTutorial, AddedValuesAreFoundAndMissingOnesAreNot) {
  tether::ContextManager cm;
  tether::Context ctx = tether::background();
  ctx = cm.add_value(ctx, user, "alice");
  ctx = cm.add_value(ctx, request_id, "12345");
  const std::string* value = cm.get_value(ctx, user);
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(*value, "alice");
  EXPECT_EQ(*cm.get_value(ctx, request_id), "12345");
  EXPECT_EQ(cm.get_value(ctx, nonexistent), nullptr);
}

TEST(ContextManager, CreateCancellableContextIsCancelledByItsCanceller) {
  tether::ContextManager cm;
  auto [ctx, cancel] = cm.create_cancellable_context(tether::background());
  EXPECT_FALSE(ctx.err());
  cancel();
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
}

TEST(ContextManager, ExecuteWithContextReturnsTheTaskResultWhenItFinishesFirst) {
  tether::ContextManager cm;
  EXPECT_EQ(cm.execute_with_context(tether::background(),
                                    [] { return std::make_error_code(std::errc::io_error); }),
            std::errc::io_error);
  EXPECT_FALSE(cm.execute_with_context(tether::background(), [] { return std::error_code(); }));
  EXPECT_EQ(cm.abandoned_tasks(), 0u);
}

TEST(ContextManager, ExecuteWithContextJoinsATaskThatFinishedBeforeReturning) {
  const std::size_t before = concurrency_test::thread_baseline();
  tether::ContextManager cm;
  EXPECT_FALSE(cm.execute_with_context(tether::background(), [] { return std::error_code(); }));
  EXPECT_TRUE(concurrency_test::threads_settle_to(before));
}

TEST(ContextManager, ExecuteWithContextDoesNotStartATaskForAContextAlreadyDone) {
  tether::ContextManager cm;
  auto [ctx, cancel] = cm.create_cancellable_context(tether::background());
  cancel();
  bool ran = false;
  EXPECT_EQ(cm.execute_with_context(ctx,
                                    [&] {
                                      ran = true;
                                      return std::error_code();
                                    }),
            tether::errc::canceled);
  EXPECT_FALSE(ran);
}

TEST(ContextManager, ExecuteWithContextReturnsDeadlineExceededWhenTheDeadlineComesFirst) {
  tether::testing::ManualClock clock;
  tether::ContextManager cm;
  auto [ctx, cancel] = cm.create_timeout_context(tether::background(), 1s);
  std::latch task_started(1);
  BoundedThread advancer([&] {
    task_started.wait();
    clock.advance(1s);
  });
  EXPECT_EQ(cm.execute_with_context(ctx,
                                    [&](const tether::Context& task_ctx) {
                                      task_started.count_down();
                                      task_ctx.done().wait();  // a cooperative task
                                      return task_ctx.err();
                                    }),
            tether::errc::deadline_exceeded);
  cm.join_abandoned_tasks();
}

TEST(ContextManager, ACooperativeTaskSeesItsContextEndWhenExecuteReturnsEarly) {
  tether::ContextManager cm;
  auto [ctx, cancel] = cm.create_cancellable_context(tether::background());
  std::latch task_started(1);
  std::error_code task_saw;
  BoundedThread canceller([&, f = cancel.func()] {
    task_started.wait();
    f();
  });
  EXPECT_EQ(cm.execute_with_context(ctx,
                                    [&](const tether::Context& task_ctx) {
                                      task_started.count_down();
                                      task_ctx.done().wait();
                                      task_saw = task_ctx.err();
                                      return task_saw;
                                    }),
            tether::errc::canceled);
  cm.join_abandoned_tasks();
  EXPECT_EQ(task_saw, tether::errc::canceled);
}

TEST(ContextManager, ATaskIgnoringItsContextIsKeptAndJoinedByTheDestructor) {
  const std::size_t before = concurrency_test::thread_baseline();
  std::atomic<bool> task_finished{false};
  std::latch release_task(1);
  {
    std::latch task_started(1);
    tether::ContextManager cm;
    auto [ctx, cancel] = cm.create_cancellable_context(tether::background());
    BoundedThread canceller([&, f = cancel.func()] {
      task_started.wait();
      f();
    });
    EXPECT_EQ(cm.execute_with_context(ctx,
                                      [&] {
                                        task_started.count_down();
                                        release_task.wait();  // ignores the context
                                        task_finished = true;
                                        return std::error_code();
                                      }),
              tether::errc::canceled);
    canceller.join();
    EXPECT_EQ(cm.abandoned_tasks(), 1u);
    EXPECT_FALSE(task_finished);  // still running, owned by cm
    release_task.count_down();
  }  // ~ContextManager joins it
  EXPECT_TRUE(task_finished);
  EXPECT_TRUE(concurrency_test::threads_settle_to(before));
}

TEST(ContextManager, ExecuteWithContextRethrowsTheTaskException) {
  tether::ContextManager cm;
  EXPECT_THROW((void)cm.execute_with_context(
                   tether::background(),
                   []() -> std::error_code { throw std::runtime_error("task failed"); }),
               std::runtime_error);
}

TEST(ContextManager, WaitForCompletionReturnsEmptyAfterTheDuration) {
  tether::testing::ManualClock clock;
  tether::ContextManager cm;
  std::error_code result = tether::errc::canceled;
  BoundedThread waiter([&] { result = cm.wait_for_completion(tether::background(), 2s); });
  clock.wait_for_pending(1);
  clock.advance(2s);
  waiter.join();
  EXPECT_FALSE(result);
}

TEST(ContextManager, WaitForCompletionReturnsTheContextErrorWhenItEndsFirst) {
  tether::ContextManager cm;
  auto [ctx, cancel] = cm.create_cancellable_context(tether::background());
  std::error_code result;
  BoundedThread waiter([&, c = ctx] { result = cm.wait_for_completion(c, 1h); });
  cancel();
  waiter.join();
  EXPECT_EQ(result, tether::errc::canceled);
}

}  // namespace
