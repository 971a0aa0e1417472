// The shared timer service on the real clock: one thread for all deadlines (never a thread
// per timer), and fork safety (DESIGN.md §5).
//
// These are the only core behaviour tests that do not install a ManualClock, because what
// they check is the real timer thread itself. Neither asserts anything about timing: the
// first arms hour-long deadlines and cancels them; the second only requires a 1 ms deadline
// to fire within kHangBound in a forked child.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>
#include <vector>

#include "concurrency_test_support.hpp"
#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

#if defined(__SANITIZE_THREAD__)
#define CONTEXT_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CONTEXT_TEST_TSAN 1
#endif
#endif

namespace {

using namespace std::chrono_literals;

using concurrency_test::thread_count;  // tests/support: the one copy

TEST(TimerService, ThousandDeadlinesShareOneThread) {
  // Sanitizer runtimes start a helper thread with the process's first pthread_create; make
  // that happen before counting, so only tether's threads are measured.
  std::thread([] {}).join();
  const std::size_t before = thread_count();
  ASSERT_GT(before, 0u);
  const std::size_t timers_before = tether::testing::pending_timers();
  {
    std::vector<tether::Context> contexts;
    std::vector<tether::ScopedCancel> cancels;
    auto arm = [&](int n) {
      for (int i = 0; i < n; ++i) {
        auto d = tether::with_timeout(tether::background(), 1h + std::chrono::seconds(i));
        contexts.push_back(d.ctx);
        cancels.push_back(std::move(d.cancel));
      }
    };
    arm(1);
    const std::size_t with_one = thread_count();
    EXPECT_LE(with_one, before + 1) << "at most the one lazily started timer thread";
    arm(999);
    EXPECT_EQ(tether::testing::pending_timers(), timers_before + 1000);
    EXPECT_EQ(thread_count(), with_one) << "999 more deadlines started no thread";
  }
  EXPECT_EQ(tether::testing::pending_timers(), timers_before)
      << "cancelling disarmed every deadline";
}

TEST(TimerService, DeadlinesFireInAForkedChild) {
#ifdef CONTEXT_TEST_TSAN
  GTEST_SKIP() << "ThreadSanitizer does not support starting threads after a multi-threaded fork";
#else
  // Make sure the timer thread exists (and has fired once) before forking.
  {
    auto [ctx, cancel] = tether::with_timeout(tether::background(), 1ms);
    ASSERT_TRUE(ctx.done().wait_for(context_test::kHangBound));
  }
  const pid_t pid = ::fork();
  ASSERT_NE(pid, -1);
  if (pid == 0) {
    // Child: only the forking thread survived; the timer service must still work.
    auto [ctx, cancel] = tether::with_timeout(tether::background(), 1ms);
    const bool fired = ctx.done().wait_for(context_test::kHangBound);
    auto [ctx2, cancel2] = tether::with_cancel(tether::background());
    cancel2();
    ::_exit(fired && ctx.err() == tether::errc::deadline_exceeded && ctx2.err() ? 0 : 1);
  }
  // Wait for the child's exit, bounded: a pidfd becomes readable when the process exits.
  // (Via syscall: glibc 2.36's <sys/pidfd.h> lacks extern "C" for C++.)
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  ASSERT_GE(pidfd, 0);
  pollfd p{pidfd, POLLIN, 0};
  const int ready = ::poll(&p, 1, static_cast<int>(2 * context_test::kHangBound / 1ms));
  ::close(pidfd);
  int status = 0;
  if (ready != 1) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "the forked child hung (timer service deadlocked after fork?)";
  }
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died abnormally, status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "a deadline did not fire in the forked child";
#endif
}

}  // namespace
