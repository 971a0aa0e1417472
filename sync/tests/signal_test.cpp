// signal_context (signal.NotifyContext): tether/sync/signal.hpp.
// Signals are raised in-process (raise), so every test is deterministic.
#include "tether/sync/signal.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <thread>

#include "concurrency_test_support.hpp"

namespace {

using concurrency_test::kBound;

TEST(SignalContext, IsCancelledOnTheFirstListedSignalWithTheSignalAsCause) {
  auto [ctx, stop] = tether::signal_context(tether::background(), {SIGUSR1, SIGUSR2});
  EXPECT_FALSE(ctx.err());
  ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_TRUE(ctx.done().wait_for(kBound));
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  tether::Cause why = tether::cause(ctx);
  EXPECT_EQ(why.code(), std::error_code(SIGUSR1, tether::signal_category()));
  EXPECT_EQ(why.message(), "received signal SIGUSR1");
}

TEST(SignalContext, IsNotCancelledByASignalItDoesNotList) {
  auto [usr1, stop1] = tether::signal_context(tether::background(), {SIGUSR1});
  auto [usr2, stop2] = tether::signal_context(tether::background(), {SIGUSR2});
  ASSERT_EQ(::raise(SIGUSR2), 0);
  ASSERT_TRUE(usr2.done().wait_for(kBound));
  EXPECT_FALSE(usr1.err());  // the same dispatch would have cancelled it first
}

TEST(SignalContext, ASecondSignalBeforeStopIsCaptured) {
  auto [ctx, stop] = tether::signal_context(tether::background(), {SIGTERM});
  ASSERT_EQ(::raise(SIGTERM), 0);
  ASSERT_TRUE(ctx.done().wait_for(kBound));
  ASSERT_EQ(::raise(SIGTERM), 0);  // would kill the test process if not captured
  EXPECT_EQ(tether::cause(ctx).code().value(), SIGTERM);
}

TEST(SignalContext, StopCancelsTheContext) {
  auto [ctx, stop] = tether::signal_context(tether::background(), {SIGUSR1});
  stop();
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  EXPECT_EQ(tether::cause(ctx), tether::errc::canceled);
}

TEST(SignalContext, IsCancelledWhenTheParentIs) {
  auto [parent, cancel] = tether::with_cancel(tether::background());
  auto [ctx, stop] = tether::signal_context(parent, {SIGUSR1});
  cancel();
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
}

std::atomic<int> g_previous_handler_calls{0};
extern "C" void previous_handler(int) { g_previous_handler_calls.fetch_add(1); }

TEST(SignalContext, StopRestoresThePreviousDisposition) {
  struct sigaction mine {
  }, seen{}, old{};
  mine.sa_handler = &previous_handler;
  sigemptyset(&mine.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR2, &mine, &old), 0);
  const int calls_before = g_previous_handler_calls.load();
  {
    auto [ctx, stop] = tether::signal_context(tether::background(), {SIGUSR2});
    ASSERT_EQ(::sigaction(SIGUSR2, nullptr, &seen), 0);
    EXPECT_NE(seen.sa_handler, &previous_handler);
    stop();
    ASSERT_EQ(::sigaction(SIGUSR2, nullptr, &seen), 0);
    EXPECT_EQ(seen.sa_handler, &previous_handler);
    ASSERT_EQ(::raise(SIGUSR2), 0);
    EXPECT_FALSE(ctx.done().wait_for(std::chrono::milliseconds(0)) &&
                 tether::cause(ctx).code().category() == tether::signal_category());
  }
  EXPECT_EQ(g_previous_handler_calls.load(), calls_before + 1);
  ::sigaction(SIGUSR2, &old, nullptr);
}

// Runs in a death-test child: exits 3 if the first SIGTERM did not cancel, 4 if the second
// did not terminate.
void stop_then_raise_sigterm_twice() {
  auto [ctx, stop] = tether::signal_context(tether::background(), {SIGTERM});
  ::raise(SIGTERM);
  if (!ctx.done().wait_for(kBound)) std::_Exit(3);
  stop();
  ::raise(SIGTERM);  // default disposition again: terminates the process
  std::_Exit(4);
}

TEST(SignalContext, ASecondSignalAfterStopHasTheDefaultEffect) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(stop_then_raise_sigterm_twice(), testing::KilledBySignal(SIGTERM), "");
}

TEST(SignalContext, TheWatcherThreadIsJoinedByTheLastStop) {
  const std::size_t before = concurrency_test::thread_baseline();
  {
    auto [a, stop_a] = tether::signal_context(tether::background(), {SIGUSR1});
    auto [b, stop_b] = tether::signal_context(tether::background(), {SIGUSR1});
    EXPECT_EQ(concurrency_test::thread_count(), before + 1);  // one watcher for all
  }
  EXPECT_TRUE(concurrency_test::threads_settle_to(before));
}

TEST(SignalContext, StopCalledFromACallbackOnTheWatcherThreadDoesNotDeadlock) {
  std::optional<tether::SignalStop> stop;
  auto [ctx, s] = tether::signal_context(tether::background(), {SIGUSR1});
  stop.emplace(std::move(s));
  std::atomic<bool> stopped{false};
  auto reg = tether::after_func(ctx, [&] {
    (*stop)();  // runs on the watcher thread: unregisters without joining itself
    stopped = true;
  });
  ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_TRUE(ctx.done().wait_for(kBound));
  reg.stop_and_wait();
  EXPECT_TRUE(stopped);
  // A new signal_context starts a fresh watcher (joining the one that stopped itself).
  auto [again, stop_again] = tether::signal_context(tether::background(), {SIGUSR1});
  ASSERT_EQ(::raise(SIGUSR1), 0);
  EXPECT_TRUE(again.done().wait_for(kBound));
}

// The signal is delivered to a thread parked in Done::wait() itself (not to a thread that
// is running code): under ThreadSanitizer the handler of such a signal is deferred until
// the thread makes an intercepted call, and a raw futex wait never did.
TEST(SignalContext, FiresWhenTheSignalArrivesOnAThreadParkedInWait) {
  auto [ctx, stop] = tether::signal_context(tether::background(), {SIGUSR1});
  std::atomic<pid_t> tid{0};
  std::atomic<bool> returned{false};
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigset_t old;
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &usr1, &old), 0);  // threads made now inherit it
  std::thread waiter;
  {
    waiter = std::thread([&, c = ctx] {
      sigset_t unblock = usr1;
      pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);  // only this thread may take it
      tid.store(static_cast<pid_t>(::syscall(SYS_gettid)));
      c.done().wait();
      returned.store(true);
    });
  }
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, &old, nullptr), 0);
  // Deliver only once the waiter sleeps (state S in /proc), i.e. is parked in wait().
  ASSERT_TRUE(concurrency_test::eventually([&] {
    pid_t t = tid.load();
    return t != 0 && concurrency_test::thread_state(t) == 'S';
  }));
  ASSERT_EQ(::tgkill(::getpid(), tid.load(), SIGUSR1), 0);
  const bool done = ctx.done().wait_for(kBound);
  if (!done) stop();  // unpark the waiter so that the test can end
  waiter.join();
  EXPECT_TRUE(done) << "the signal never reached signal_context";
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(tether::cause(ctx).code().value(), SIGUSR1);
}

TEST(SignalContext, RejectsSignalsThatCannotBeCaught) {
  EXPECT_THROW((void)tether::signal_context(tether::background(), {SIGKILL}),
               std::invalid_argument);
  EXPECT_THROW((void)tether::signal_context(tether::background(), {0}), std::invalid_argument);
}

TEST(SignalContext, CategoryNamesTheSignal) {
  EXPECT_STREQ(tether::signal_category().name(), "tether.signal");
  EXPECT_EQ(std::error_code(SIGINT, tether::signal_category()).message(), "SIGINT");
}

}  // namespace
