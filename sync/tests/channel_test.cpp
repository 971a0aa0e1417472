// Channel<T>, select, try_select: tether/sync/channel.hpp.
#include "tether/sync/channel.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "concurrency_test_support.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using namespace std::chrono_literals;
using concurrency_test::BoundedThread;
using tether::Channel;

TEST(Channel, RecvReturnsTheValueSent) {
  Channel<std::string> ch(1);
  EXPECT_FALSE(ch.send(tether::background(), "hello"));
  tether::Result<std::string> r = ch.recv(tether::background());
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "hello");
}

TEST(Channel, DeliversValuesInFifoOrder) {
  Channel<int> ch(3);
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(ch.send(tether::background(), i));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*ch.recv(tether::background()), i);
}

TEST(Channel, CarriesMoveOnlyValues) {
  Channel<std::unique_ptr<int>> ch;
  ASSERT_FALSE(ch.send(tether::background(), std::make_unique<int>(7)));
  auto r = ch.recv(tether::background());
  ASSERT_TRUE(r);
  EXPECT_EQ(**r, 7);
}

TEST(Channel, RecvBlocksUntilAValueIsSent) {
  Channel<int> ch(1);
  int got = 0;
  BoundedThread receiver([&] { got = ch.recv(tether::background()).value(); });
  ASSERT_FALSE(ch.send(tether::background(), 42));
  receiver.join();
  EXPECT_EQ(got, 42);
}

TEST(Channel, RecvReturnsCanceledWhenTheContextIsCancelledWhileWaiting) {
  Channel<int> ch(1);
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::error_code ec;
  BoundedThread receiver([&, c = ctx] { ec = ch.recv(c).error(); });
  cancel();
  receiver.join();
  EXPECT_EQ(ec, tether::errc::canceled);
}

TEST(Channel, RecvReturnsDeadlineExceededWhenTheContextTimesOut) {
  tether::testing::ManualClock clock;
  Channel<int> ch(1);
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 500ms);
  std::error_code ec;
  BoundedThread receiver([&, c = ctx] { ec = ch.recv(c).error(); });
  clock.advance(500ms);
  receiver.join();
  EXPECT_EQ(ec, tether::errc::deadline_exceeded);
}

TEST(Channel, SendBlocksWhileTheBoundedChannelIsFull) {
  Channel<int> ch(1);
  ASSERT_FALSE(ch.send(tether::background(), 1));
  std::atomic<bool> sent{false};
  BoundedThread sender([&] {
    EXPECT_FALSE(ch.send(tether::background(), 2));
    sent = true;
  });
  EXPECT_EQ(ch.size(), 1u);
  EXPECT_EQ(*ch.recv(tether::background()), 1);  // makes room
  sender.join();
  EXPECT_TRUE(sent);
  EXPECT_EQ(*ch.recv(tether::background()), 2);
}

TEST(Channel, SendReturnsTheContextErrorWhenCancelledWhileFull) {
  Channel<int> ch(1);
  ASSERT_FALSE(ch.send(tether::background(), 1));
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::error_code ec;
  BoundedThread sender([&, c = ctx] { ec = ch.send(c, 2); });
  cancel();
  sender.join();
  EXPECT_EQ(ec, tether::errc::canceled);
  EXPECT_EQ(ch.size(), 1u);  // the value was not queued
}

TEST(Channel, UnboundedChannelNeverBlocksASend) {
  Channel<int> ch;
  EXPECT_EQ(ch.capacity(), Channel<int>::unbounded);
  for (int i = 0; i < 10000; ++i) ASSERT_FALSE(ch.try_send(i));
  EXPECT_EQ(ch.size(), 10000u);
}

TEST(Channel, ZeroCapacityIsRejected) { EXPECT_THROW(Channel<int>(0), std::invalid_argument); }

TEST(Channel, ReceiversDrainAClosedChannelThenGetClosed) {
  Channel<int> ch(2);
  ASSERT_FALSE(ch.send(tether::background(), 1));
  ch.close();
  EXPECT_EQ(*ch.recv(tether::background()), 1);
  EXPECT_EQ(ch.recv(tether::background()).error(), tether::channel_errc::closed);
}

TEST(Channel, SendOnAClosedChannelReturnsClosed) {
  Channel<int> ch(2);
  ch.close();
  EXPECT_EQ(ch.send(tether::background(), 1), tether::channel_errc::closed);
  EXPECT_EQ(ch.size(), 0u);
}

TEST(Channel, CloseWakesABlockedReceiver) {
  Channel<int> ch(1);
  std::error_code ec;
  BoundedThread receiver([&] { ec = ch.recv(tether::background()).error(); });
  ch.close();
  receiver.join();
  EXPECT_EQ(ec, tether::channel_errc::closed);
}

TEST(Channel, CloseIsIdempotent) {
  Channel<int> ch(1);
  ch.close();
  ch.close();
  EXPECT_TRUE(ch.closed());
}

TEST(Channel, TrySendReportsWouldBlockWhenFull) {
  Channel<int> ch(1);
  EXPECT_FALSE(ch.try_send(1));
  EXPECT_EQ(ch.try_send(2), std::errc::operation_would_block);
}

TEST(Channel, TryRecvReportsWouldBlockWhenEmpty) {
  Channel<int> ch(1);
  EXPECT_EQ(ch.try_recv().error(), std::errc::operation_would_block);
}

TEST(Channel, ADoneContextWinsOverAReadyValue) {
  Channel<int> ch(1);
  ASSERT_FALSE(ch.try_send(1));
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  EXPECT_EQ(ch.recv(ctx).error(), tether::errc::canceled);
  EXPECT_EQ(ch.size(), 1u);  // the value is still there for someone else
}

TEST(Channel, ErrorMessagesNameTheChannelCategory) {
  std::error_code ec = tether::channel_errc::closed;
  EXPECT_STREQ(ec.category().name(), "tether.channel");
  EXPECT_EQ(ec.message(), "channel closed");
}

TEST(Channel, ManyProducersAndConsumersDeliverEveryValueExactlyOnce) {
  Channel<int> ch(4);
  constexpr int kProducers = 4, kPerProducer = 2000;
  std::atomic<long> sum{0};
  std::atomic<int> count{0};
  {
    std::vector<std::unique_ptr<BoundedThread>> threads;
    for (int p = 0; p < kProducers; ++p) {
      threads.push_back(std::make_unique<BoundedThread>([&, p] {
        for (int i = 0; i < kPerProducer; ++i)
          ASSERT_FALSE(ch.send(tether::background(), p * kPerProducer + i));
      }));
    }
    for (int c = 0; c < 3; ++c) {
      threads.push_back(std::make_unique<BoundedThread>([&] {
        while (auto r = ch.recv(tether::background())) {
          sum += *r;
          ++count;
        }
      }));
    }
    for (int p = 0; p < kProducers; ++p) threads[static_cast<std::size_t>(p)]->join();
    ch.close();
  }
  const long n = kProducers * kPerProducer;
  EXPECT_EQ(count, n);
  EXPECT_EQ(sum, n * (n - 1) / 2);
}

TEST(Channel, AWaitStartsNoThreadAndLeavesNone) {
  const std::size_t before = concurrency_test::thread_baseline();
  Channel<int> ch(1);
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::size_t during = 0;
  BoundedThread observer([&, c = cancel.func(), observed = ctx] {
    // Once the receiver's wake-up is registered on ctx, it is parked in recv; the only
    // extra thread is this observer.
    while (tether::testing::registered_children(observed) == 0) std::this_thread::yield();
    during = concurrency_test::thread_count();
    c();
  });
  EXPECT_EQ(ch.recv(ctx).error(), tether::errc::canceled);
  observer.join();
  EXPECT_EQ(during, before + 1);
  EXPECT_TRUE(concurrency_test::threads_settle_to(before));
}

TEST(Select, RunsTheHandlerOfTheReadyCase) {
  Channel<int> a(1), b(1);
  ASSERT_FALSE(b.try_send(5));
  int from_a = 0, from_b = 0;
  EXPECT_FALSE(tether::select(tether::background(),
                              tether::on_recv(a, [&](tether::Result<int> r) { from_a = *r; }),
                              tether::on_recv(b, [&](tether::Result<int> r) { from_b = *r; })));
  EXPECT_EQ(from_a, 0);
  EXPECT_EQ(from_b, 5);
}

TEST(Select, WakesWhenAnyChannelBecomesReady) {
  Channel<int> a(1), b(1);
  int got = 0;
  BoundedThread selector([&] {
    EXPECT_FALSE(tether::select(tether::background(),
                                tether::on_recv(a, [&](tether::Result<int> r) { got = -*r; }),
                                tether::on_recv(b, [&](tether::Result<int> r) { got = *r; })));
  });
  ASSERT_FALSE(b.send(tether::background(), 9));
  selector.join();
  EXPECT_EQ(got, 9);
}

TEST(Select, ReturnsTheContextErrorWhenTheContextEndsBeforeAnyCase) {
  tether::testing::ManualClock clock;
  Channel<int> a(1);
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  bool ran = false;
  std::error_code ec;
  BoundedThread selector([&, c = ctx] {
    ec = tether::select(c, tether::on_recv(a, [&](tether::Result<int>) { ran = true; }));
  });
  clock.advance(1s);
  selector.join();
  EXPECT_EQ(ec, tether::errc::deadline_exceeded);
  EXPECT_FALSE(ran);
}

TEST(Select, PerformsExactlyOneCaseWhenSeveralAreReady) {
  Channel<int> a(1), b(1);
  ASSERT_FALSE(a.try_send(1));
  ASSERT_FALSE(b.try_send(2));
  int handled = 0;
  EXPECT_FALSE(tether::select(tether::background(),
                              tether::on_recv(a, [&](tether::Result<int>) { ++handled; }),
                              tether::on_recv(b, [&](tether::Result<int>) { ++handled; })));
  EXPECT_EQ(handled, 1);
  EXPECT_EQ(a.size() + b.size(), 1u);  // the other value was not taken
}

TEST(Select, NoReadyCaseStarves) {
  Channel<int> a, b;
  int from_a = 0, from_b = 0;
  for (int i = 0; i < 100; ++i) {
    ASSERT_FALSE(a.try_send(i));
    ASSERT_FALSE(b.try_send(i));
    ASSERT_FALSE(tether::select(tether::background(),
                                tether::on_recv(a, [&](tether::Result<int>) { ++from_a; }),
                                tether::on_recv(b, [&](tether::Result<int>) { ++from_b; })));
  }
  EXPECT_GT(from_a, 0);
  EXPECT_GT(from_b, 0);
}

TEST(Select, SendCaseQueuesTheValueAndReportsSuccess) {
  Channel<std::string> out(1);
  std::error_code sent = tether::channel_errc::closed;
  EXPECT_FALSE(tether::select(tether::background(),
                              tether::on_send(out, "x", [&](std::error_code ec) { sent = ec; })));
  EXPECT_FALSE(sent);
  EXPECT_EQ(*out.try_recv(), "x");
}

TEST(Select, SendCaseOnAClosedChannelFiresWithClosed) {
  Channel<int> out(1);
  out.close();
  std::error_code sent;
  EXPECT_FALSE(tether::select(tether::background(),
                              tether::on_send(out, 1, [&](std::error_code ec) { sent = ec; })));
  EXPECT_EQ(sent, tether::channel_errc::closed);
}

TEST(Select, RecvCaseOnAClosedChannelFiresWithClosed) {
  Channel<int> in(1);
  in.close();
  std::error_code got;
  EXPECT_FALSE(tether::select(
      tether::background(), tether::on_recv(in, [&](tether::Result<int> r) { got = r.error(); })));
  EXPECT_EQ(got, tether::channel_errc::closed);
}

TEST(Select, DoneCaseFiresWhenItsContextEndsLikeTimeAfter) {
  tether::testing::ManualClock clock;
  Channel<int> in(1);
  auto [timer, cancel] = tether::with_timeout(tether::background(), 100ms);
  bool timed_out = false;
  BoundedThread selector([&, t = timer] {
    EXPECT_FALSE(tether::select(tether::background(),
                                tether::on_recv(in, [](tether::Result<int>) {}),
                                tether::on_done(t, [&] { timed_out = true; })));
  });
  clock.advance(100ms);
  selector.join();
  EXPECT_TRUE(timed_out);
}

TEST(Select, LeavesNothingRegisteredOnItsContexts) {
  Channel<int> in(1);
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  auto [other, cancel_other] = tether::with_cancel(tether::background());
  BoundedThread sender([&] { ASSERT_FALSE(in.send(tether::background(), 1)); });
  EXPECT_FALSE(tether::select(ctx, tether::on_recv(in, [](tether::Result<int>) {}),
                              tether::on_done(other, [] {})));
  sender.join();
  EXPECT_EQ(tether::testing::registered_children(ctx), 0u);
  EXPECT_EQ(tether::testing::registered_children(other), 0u);
}

TEST(Select, ConcurrentSelectsOverSharedChannelsLoseNoValueWhenCancelled) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE(seed);
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  Channel<int> a(2), b(2);
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  std::atomic<long> received{0};
  std::atomic<int> sent{0};
  const int cancel_after = 500 + static_cast<int>(rng() % 1000);
  {
    std::vector<std::unique_ptr<BoundedThread>> threads;
    for (int s = 0; s < 2; ++s) {
      threads.push_back(std::make_unique<BoundedThread>([&, s, c = ctx, stop = cancel.func()] {
        for (int i = 0;; ++i) {
          Channel<int>& ch = (i + s) % 2 == 0 ? a : b;
          if (ch.send(c, 1)) return;  // cancelled
          if (++sent == cancel_after) stop();
        }
      }));
    }
    for (int r = 0; r < 3; ++r) {
      threads.push_back(std::make_unique<BoundedThread>([&, c = ctx] {
        auto take = [&](tether::Result<int> v) { received += *v; };
        while (!tether::select(c, tether::on_recv(a, take), tether::on_recv(b, take))) {
        }
      }));
    }
  }
  // Every queued-but-unreceived value is still in a channel: nothing lost, nothing doubled.
  EXPECT_EQ(received + static_cast<long>(a.size() + b.size()), sent.load());
  EXPECT_GE(sent.load(), cancel_after);
}

TEST(TrySelect, ReturnsFalseWhenNoCaseIsReady) {
  Channel<int> in(1);
  bool ran = false;
  EXPECT_FALSE(tether::try_select(tether::on_recv(in, [&](tether::Result<int>) { ran = true; })));
  EXPECT_FALSE(ran);
}

TEST(TrySelect, PerformsAReadyCase) {
  Channel<int> in(1);
  ASSERT_FALSE(in.try_send(3));
  int got = 0;
  EXPECT_TRUE(tether::try_select(tether::on_recv(in, [&](tether::Result<int> r) { got = *r; })));
  EXPECT_EQ(got, 3);
}

}  // namespace
