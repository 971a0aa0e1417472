// Group (errgroup.WithContext): tether/sync/group.hpp.
#include "tether/sync/group.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <latch>
#include <stdexcept>
#include <thread>

#include "concurrency_test_support.hpp"
#include "tether/sync/channel.hpp"

namespace {

using namespace std::chrono_literals;
using concurrency_test::BoundedThread;

std::error_code fail_with(std::errc e) { return std::make_error_code(e); }

TEST(Group, WaitReturnsEmptyWhenEveryTaskSucceeds) {
  tether::Group g(tether::background());
  std::atomic<int> ran{0};
  for (int i = 0; i < 5; ++i) {
    g.go([&](const tether::Context&) {
      ++ran;
      return std::error_code();
    });
  }
  EXPECT_FALSE(g.wait());
  EXPECT_EQ(ran, 5);
}

TEST(Group, WaitReturnsTheFirstError) {
  tether::Group g(tether::background());
  g.go([](const tether::Context&) { return fail_with(std::errc::io_error); });
  g.go([](const tether::Context& ctx) {
    ctx.done().wait();  // cancelled by the first failure
    return ctx.err();   // a later error: not the one wait() reports
  });
  EXPECT_EQ(g.wait(), std::errc::io_error);
}

TEST(Group, TheFirstErrorCancelsTheGroupContextWithThatErrorAsCause) {
  tether::Group g(tether::background());
  g.go([](const tether::Context&) { return fail_with(std::errc::connection_refused); });
  g.context().done().wait();
  EXPECT_EQ(g.context().err(), tether::errc::canceled);
  EXPECT_EQ(tether::cause(g.context()), std::errc::connection_refused);
  (void)g.wait();
}

TEST(Group, SiblingsStopWhenOneFails) {
  tether::Group g(tether::background());
  std::error_code sibling_saw;
  g.go([&](const tether::Context& ctx) {
    ctx.done().wait();
    sibling_saw = ctx.err();
    return std::error_code();
  });
  g.go([](const tether::Context&) { return fail_with(std::errc::timed_out); });
  EXPECT_EQ(g.wait(), std::errc::timed_out);
  EXPECT_EQ(sibling_saw, tether::errc::canceled);
}

TEST(Group, WaitCancelsTheGroupContext) {
  tether::Group g(tether::background());
  g.go([](const tether::Context&) { return std::error_code(); });
  EXPECT_FALSE(g.wait());
  EXPECT_EQ(g.context().err(), tether::errc::canceled);
  EXPECT_EQ(tether::cause(g.context()), tether::errc::canceled);
}

TEST(Group, ParentCancellationReachesTheTasks) {
  auto [parent, cancel] = tether::with_cancel(tether::background());
  tether::Group g(parent);
  std::error_code seen;
  g.go([&](const tether::Context& ctx) {
    ctx.done().wait();
    seen = ctx.err();
    return std::error_code();  // not a failure of the group
  });
  cancel();
  EXPECT_FALSE(g.wait());
  EXPECT_EQ(seen, tether::errc::canceled);
}

TEST(Group, AThrowingTaskFailsTheGroupAndWaitRethrows) {
  tether::Group g(tether::background());
  g.go([](const tether::Context&) -> std::error_code { throw std::runtime_error("boom"); });
  EXPECT_THROW((void)g.wait(), std::runtime_error);
  EXPECT_EQ(tether::cause(g.context()).message(), "boom");
}

TEST(Group, VoidTasksAreSuccesses) {
  tether::Group g(tether::background());
  std::atomic<int> ran{0};
  g.go([&](const tether::Context&) { ++ran; });
  EXPECT_FALSE(g.wait());
  EXPECT_EQ(ran, 1);
}

TEST(Group, TryGoReturnsFalseWhileTheLimitIsReached) {
  tether::Group g(tether::background());
  g.set_limit(1);
  std::latch release(1);
  EXPECT_TRUE(g.try_go([&](const tether::Context&) { release.wait(); }));
  bool second_ran = false;
  EXPECT_FALSE(g.try_go([&](const tether::Context&) { second_ran = true; }));
  release.count_down();
  EXPECT_FALSE(g.wait());
  EXPECT_FALSE(second_ran);
  EXPECT_TRUE(g.try_go([&](const tether::Context&) { second_ran = true; }));
  EXPECT_FALSE(g.wait());
  EXPECT_TRUE(second_ran);
}

TEST(Group, GoBlocksUntilASlotIsFree) {
  tether::Group g(tether::background());
  g.set_limit(1);
  std::latch release(1);
  std::atomic<bool> first_done{false};
  g.go([&](const tether::Context&) {
    release.wait();
    first_done = true;
  });
  std::atomic<bool> second_saw_first_done{false};
  BoundedThread starter(
      [&] { g.go([&](const tether::Context&) { second_saw_first_done = first_done.load(); }); });
  release.count_down();
  starter.join();
  EXPECT_FALSE(g.wait());
  EXPECT_TRUE(second_saw_first_done);  // never two tasks at once
}

TEST(Group, SetLimitWhileTasksAreActiveThrows) {
  tether::Group g(tether::background());
  std::latch release(1);
  g.go([&](const tether::Context&) { release.wait(); });
  EXPECT_THROW(g.set_limit(2), std::logic_error);
  release.count_down();
  EXPECT_FALSE(g.wait());
}

TEST(Group, TasksMayStartMoreTasks) {
  tether::Group g(tether::background());
  std::atomic<int> ran{0};
  g.go([&](const tether::Context&) {
    g.go([&](const tether::Context&) { ++ran; });
    ++ran;
  });
  EXPECT_FALSE(g.wait());
  EXPECT_EQ(ran, 2);
}

TEST(Group, DestructorCancelsAndJoinsTasksOfAForgottenWait) {
  const std::size_t before = concurrency_test::thread_baseline();
  std::error_code seen;
  {
    tether::Group g(tether::background());
    g.go([&](const tether::Context& ctx) {
      ctx.done().wait();  // only the destructor ends this
      seen = ctx.err();
    });
  }
  EXPECT_EQ(seen, tether::errc::canceled);  // written before the join in ~Group
  EXPECT_TRUE(concurrency_test::threads_settle_to(before));
}

TEST(Group, NoThreadOutlivesTheGroup) {
  const std::size_t before = concurrency_test::thread_baseline();
  {
    tether::Group g(tether::background());
    for (int i = 0; i < 8; ++i) g.go([](const tether::Context&) {});
    EXPECT_FALSE(g.wait());
  }
  EXPECT_TRUE(concurrency_test::threads_settle_to(before));
}

TEST(Group, AnExecutorRunsTheTasksInsteadOfNewThreads) {
  tether::Channel<std::function<void()>> queue;
  std::thread::id worker_id;
  BoundedThread worker([&] {
    worker_id = std::this_thread::get_id();
    while (auto job = queue.recv(tether::background())) (*job)();
  });
  std::atomic<int> on_worker{0};
  {
    tether::Group g(tether::background(), [&](std::function<void()> job) {
      ASSERT_FALSE(queue.send(tether::background(), std::move(job)));
    });
    for (int i = 0; i < 4; ++i) {
      g.go([&](const tether::Context&) {
        if (std::this_thread::get_id() == worker_id) ++on_worker;
      });
    }
    EXPECT_FALSE(g.wait());  // waits for the submitted tasks to finish
    EXPECT_EQ(on_worker, 4);
  }
  queue.close();
}

}  // namespace
