// Cancellation semantics of tether's core, ported from Go's src/context tests
// (TestBackground, TestTODO, TestWithCancel, TestParentFinishesChild, TestChildFinishesFirst,
// TestCancelRemoves, TestWithCancelCanceledParent, TestInterlockedCancels, TestInvalidDerivedFail)
// and DESIGN.md §4. Deadline behaviour lives in context_deadline_test.cpp, causes in
// context_cause_test.cpp.
//
// Not ported, because tether has no equivalent:
//  * TestCustomContextPropagation / TestCustomContextGoroutines / TestCustomContextCause and
//    the afterFuncContext tests: Go lets users implement the Context interface with their own
//    Done channel, and tests that the library propagates through such types (spawning a
//    goroutine when it must). tether::Context is a closed value type over the library's own
//    nodes: there is no user-implementable context, so there is nothing foreign to propagate
//    from and never a helper thread per context.
//  * TestAllocs: allocation budgets are measured by the benchmark suite (bench/), not here —
//    counting allocations needs a replaced global operator new, which would affect every
//    test in the shared tether_core_tests binary.
#include <gtest/gtest.h>
#include <malloc.h>

#include <future>
#include <set>
#include <string>
#include <vector>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using context_test::BoundedThread;
using context_test::kHangBound;
using tether::testing::registered_children;

const tether::Key<std::string> kName{"name"};

void expect_alive(const tether::Context& ctx, const char* what) {
  SCOPED_TRACE(what);
  EXPECT_FALSE(ctx.err());
  EXPECT_FALSE(ctx.done().ready());
}

void expect_canceled(const tether::Context& ctx, const char* what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(ctx.err(), tether::errc::canceled);
  EXPECT_TRUE(ctx.done().ready());
}

// ---- roots ------------------------------------------------------------------------------

TEST(Background, IsNeverDoneHasNoDeadlineAndNoValues) {
  tether::Context bg = tether::background();
  EXPECT_FALSE(bg.err());
  EXPECT_FALSE(bg.done().ready());
  EXPECT_FALSE(bg.deadline().has_value());
  EXPECT_EQ(bg.value(kName), nullptr);
  EXPECT_FALSE(tether::cause(bg));
  EXPECT_NO_THROW(bg.throw_if_done());
}

TEST(Background, TodoIsNeverDoneHasNoDeadlineAndNoValues) {
  tether::Context todo = tether::todo();
  EXPECT_FALSE(todo.err());
  EXPECT_FALSE(todo.done().ready());
  EXPECT_FALSE(todo.deadline().has_value());
  EXPECT_EQ(todo.value(kName), nullptr);
  EXPECT_FALSE(tether::cause(todo));
}

TEST(Background, DefaultConstructedContextIsBackground) {
  EXPECT_EQ(tether::Context(), tether::background());
  EXPECT_EQ(tether::background(), tether::background());
}

TEST(Background, TodoIsADistinctRootFromBackground) {
  EXPECT_FALSE(tether::todo() == tether::background());
  EXPECT_EQ(tether::todo(), tether::todo());
}

TEST(Background, HasNoRegisteredChildrenEvenWithDerivedContexts) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  EXPECT_EQ(registered_children(tether::background()), 0u);
}

// Go's TestInvalidDerivedFail: deriving from a nil parent panics. A tether::Context is never
// null: a moved-from handle is background(), and deriving from it works.
TEST(Background, MovedFromContextIsBackgroundAndCanBeDerivedFrom) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::Context moved_to = std::move(ctx);
  EXPECT_EQ(ctx, tether::background());  // NOLINT(bugprone-use-after-move): documented state
  auto [child, child_cancel] = tether::with_cancel(ctx);
  EXPECT_FALSE(child.err());
  child_cancel();
  EXPECT_EQ(child.err(), tether::errc::canceled);
  EXPECT_FALSE(moved_to.err());
}

// ---- with_cancel ------------------------------------------------------------------------

TEST(Cancel, NewChildIsAliveUntilCancelled) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  expect_alive(ctx, "ctx");
  EXPECT_FALSE(ctx.deadline().has_value());
  EXPECT_FALSE(tether::cause(ctx));
}

TEST(Cancel, CancelMakesErrCanceledAndDoneReady) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  expect_canceled(ctx, "ctx");
}

TEST(Cancel, CopiesOfAContextShareItsState) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  tether::Context copy = ctx;
  EXPECT_EQ(copy, ctx);
  cancel();
  expect_canceled(copy, "copy");
}

TEST(Cancel, CancelIsIdempotent) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  cancel();
  cancel();
  tether::CancelFunc f = cancel.func();
  f();
  expect_canceled(ctx, "ctx");
}

TEST(Cancel, DerivedContextsAreDistinctFromTheirParent) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  auto [child, child_cancel] = tether::with_cancel(ctx);
  EXPECT_FALSE(child == ctx);
  EXPECT_FALSE(ctx == tether::background());
}

// Go's TestWithCancel: "cancel() // Should propagate synchronously."
TEST(Cancel, CancelIsSynchronousForWholeSubtree) {
  tether::testing::ManualClock clock;  // the subtree includes timeout nodes
  auto [root, cancel] = tether::with_cancel(tether::background());
  // root ─┬─ a (cancel) ─┬─ a1 (value) ── a1x (timeout)
  //       │              └─ a2 (cancel) ── a2x (cancel)
  //       ├─ b (value) ─── b1 (timeout) ── b1x (value)
  //       └─ c (timeout) ─ c1 (cancel_cause)
  auto [a, a_cancel] = tether::with_cancel(root);
  tether::Context a1 = tether::with_value(a, kName, "a1");
  auto [a1x, a1x_cancel] = tether::with_timeout(a1, std::chrono::hours(1));
  auto [a2, a2_cancel] = tether::with_cancel(a);
  auto [a2x, a2x_cancel] = tether::with_cancel(a2);
  tether::Context b = tether::with_value(root, kName, "b");
  auto [b1, b1_cancel] = tether::with_timeout(b, std::chrono::hours(2));
  tether::Context b1x = tether::with_value(b1, kName, "b1x");
  auto [c, c_cancel] = tether::with_timeout(root, std::chrono::hours(3));
  auto [c1, c1_cancel] = tether::with_cancel_cause(c);
  const std::vector<std::pair<const char*, tether::Context>> all = {
      {"root", root}, {"a", a},   {"a1", a1},   {"a1x", a1x}, {"a2", a2}, {"a2x", a2x},
      {"b", b},       {"b1", b1}, {"b1x", b1x}, {"c", c},     {"c1", c1}};
  for (const auto& [name, ctx] : all) expect_alive(ctx, name);

  cancel();

  // No waiting, no propagation delay: every descendant reports done right now.
  for (const auto& [name, ctx] : all) {
    expect_canceled(ctx, name);
    EXPECT_EQ(tether::cause(ctx).code(), tether::errc::canceled) << name;
  }
  EXPECT_EQ(registered_children(root), 0u);
  EXPECT_EQ(clock.pending_timers(), 0u) << "cancelling a subtree disarms its timers";
}

// Go's TestParentFinishesChild.
TEST(Cancel, ParentCancelFinishesCancelValueAndTimerChildren) {
  tether::testing::ManualClock clock;
  auto [parent, cancel] = tether::with_cancel(tether::background());
  auto [cancel_child, stop1] = tether::with_cancel(parent);
  tether::Context value_child = tether::with_value(parent, kName, "value");
  auto [timer_child, stop2] = tether::with_timeout(value_child, std::chrono::hours(10000));

  expect_alive(parent, "parent");
  expect_alive(cancel_child, "cancel_child");
  expect_alive(value_child, "value_child");
  expect_alive(timer_child, "timer_child");
  // The parent's children are the two cancellable ones; the value node is not registered,
  // the timer node under it registers on the parent directly.
  EXPECT_EQ(registered_children(parent), 2u);

  cancel();

  EXPECT_EQ(registered_children(parent), 0u) << "cancel clears the children list";
  expect_canceled(parent, "parent");
  expect_canceled(cancel_child, "cancel_child");
  expect_canceled(value_child, "value_child");
  expect_canceled(timer_child, "timer_child");

  // Deriving from a cancelled parent gives an already-cancelled child.
  tether::Context precancelled = tether::with_value(parent, kName, "value");
  expect_canceled(precancelled, "precancelled");
}

// Go's TestChildFinishesFirst, with a cancellable parent.
TEST(Cancel, ChildCancelLeavesParentAliveAndUnregistersChild) {
  auto [parent, stop] = tether::with_cancel(tether::background());
  auto [child, cancel] = tether::with_cancel(parent);
  EXPECT_EQ(registered_children(parent), 1u);

  cancel();

  EXPECT_EQ(registered_children(parent), 0u) << "child's cancel removes it from the parent";
  expect_canceled(child, "child");
  expect_alive(parent, "parent");
}

// Go's TestChildFinishesFirst, with background() as the parent.
TEST(Cancel, ChildOfBackgroundCancelsAlone) {
  auto [child, cancel] = tether::with_cancel(tether::background());
  cancel();
  expect_canceled(child, "child");
  expect_alive(tether::background(), "background");
}

TEST(Cancel, SiblingsAreIndependent) {
  auto [parent, stop] = tether::with_cancel(tether::background());
  auto [a, cancel_a] = tether::with_cancel(parent);
  auto [b, cancel_b] = tether::with_cancel(parent);
  EXPECT_EQ(registered_children(parent), 2u);
  cancel_a();
  expect_canceled(a, "a");
  expect_alive(b, "b");
  EXPECT_EQ(registered_children(parent), 1u);
}

TEST(Cancel, ValueChildReportsItsParentsCancellation) {
  auto [parent, cancel] = tether::with_cancel(tether::background());
  tether::Context child = tether::with_value(parent, kName, "x");
  expect_alive(child, "child");
  EXPECT_EQ(registered_children(child), registered_children(parent));
  cancel();
  expect_canceled(child, "child");
}

TEST(Cancel, CancellingAValueChildsCancellableChildDoesNotAffectTheValueChild) {
  auto [parent, stop] = tether::with_cancel(tether::background());
  tether::Context value = tether::with_value(parent, kName, "x");
  auto [grandchild, cancel] = tether::with_cancel(value);
  EXPECT_EQ(registered_children(parent), 1u);
  cancel();
  expect_alive(value, "value");
  expect_alive(parent, "parent");
  EXPECT_EQ(registered_children(parent), 0u);
}

// Go's TestCancelRemoves.
TEST(Cancel, CancelRemovesCancelAndTimeoutChildrenFromParent) {
  tether::testing::ManualClock clock;
  auto [ctx, stop] = tether::with_cancel(tether::background());
  EXPECT_EQ(registered_children(ctx), 0u) << "after creation";
  {
    auto [child, cancel] = tether::with_cancel(ctx);
    EXPECT_EQ(registered_children(ctx), 1u) << "with a with_cancel child";
    cancel();
    EXPECT_EQ(registered_children(ctx), 0u) << "after cancelling the with_cancel child";
  }
  {
    auto [child, cancel] = tether::with_timeout(ctx, std::chrono::minutes(60));
    EXPECT_EQ(registered_children(ctx), 1u) << "with a with_timeout child";
    cancel();
    EXPECT_EQ(registered_children(ctx), 0u) << "after cancelling the with_timeout child";
  }
}

TEST(Cancel, GrandchildRegistersOnItsOwnParentNotTheRoot) {
  auto [root, stop] = tether::with_cancel(tether::background());
  auto [child, child_stop] = tether::with_cancel(root);
  auto [grandchild, grandchild_stop] = tether::with_cancel(child);
  EXPECT_EQ(registered_children(root), 1u);
  EXPECT_EQ(registered_children(child), 1u);
}

// Go's TestWithCancelCanceledParent.
TEST(Cancel, DerivingFromCancelledParentGivesCancelledChildWithParentsCause) {
  auto [parent, pcancel] = tether::with_cancel_cause(tether::background());
  pcancel(context_test::make_cause(std::errc::connection_aborted, "Because!"));

  auto [child, cancel] = tether::with_cancel(parent);
  expect_canceled(child, "child");
  tether::Cause c = tether::cause(child);
  EXPECT_EQ(c.code(), std::errc::connection_aborted);
  EXPECT_EQ(c.message(), "Because!");
  EXPECT_EQ(registered_children(parent), 0u) << "a done parent registers nothing";
}

TEST(Cancel, EveryDerivationFromCancelledParentIsAlreadyDone) {
  tether::testing::ManualClock clock;
  auto [parent, pcancel] = tether::with_cancel(tether::background());
  pcancel();
  auto [c1, x1] = tether::with_cancel(parent);
  auto [c2, x2] = tether::with_cancel_cause(parent);
  auto [c3, x3] = tether::with_timeout(parent, std::chrono::hours(1));
  auto [c4, x4] = tether::with_deadline_cause(parent, clock.now() + std::chrono::hours(1),
                                              tether::Cause("late"));
  tether::Context c5 = tether::with_value(parent, kName, "v");
  expect_canceled(c1, "with_cancel");
  expect_canceled(c2, "with_cancel_cause");
  expect_canceled(c3, "with_timeout");
  expect_canceled(c4, "with_deadline_cause");
  expect_canceled(c5, "with_value");
  EXPECT_EQ(clock.pending_timers(), 0u) << "no timer for a child born done";
  EXPECT_EQ(registered_children(parent), 0u);
}

// Go's TestInterlockedCancels: a goroutine waits for the parent and cancels the child while
// the parent's cancel is cascading into that same child.
TEST(Cancel, InterlockedParentAndChildCancelsDoNotDeadlock) {
  auto [parent, cancel_parent] = tether::with_cancel(tether::background());
  auto [child, cancel_child] = tether::with_cancel(parent);
  tether::CancelFunc child_func = cancel_child.func();
  tether::Context watched = parent;  // lambdas may not capture structured bindings (clang 14)
  BoundedThread t("cancel child after parent done", [watched, child_func] {
    watched.done().wait_for(kHangBound);
    child_func();
  });
  cancel_parent();
  EXPECT_TRUE(child.done().wait_for(kHangBound));
  t.join();
  expect_canceled(child, "child");
}

TEST(Cancel, ForgottenReleasedCancellerLeaksNothingOnceHandlesDrop) {
  tether::testing::ManualClock clock;
  auto [parent, stop] = tether::with_cancel(tether::background());
  const std::size_t timers_before = clock.pending_timers();
  {
    auto [ctx, cancel] = tether::with_timeout(parent, std::chrono::hours(1));
    auto [inner, inner_cancel] = tether::with_cancel(parent);
    EXPECT_EQ(registered_children(parent), 2u);
    EXPECT_EQ(clock.pending_timers(), timers_before + 1);
    tether::CancelFunc forgotten = cancel.release();
    tether::CancelFunc forgotten_inner = inner_cancel.release();
    // Leaving the scope drops every handle without ever cancelling.
  }
  EXPECT_EQ(registered_children(parent), 0u) << "dropped children unregister themselves";
  EXPECT_EQ(clock.pending_timers(), timers_before) << "a dropped timeout disarms its timer";
  expect_alive(parent, "parent");
}

TEST(Cancel, ContextWithLiveCancellerStaysRegisteredAfterItsHandlesDrop) {
  auto [parent, stop] = tether::with_cancel(tether::background());
  tether::CancelFunc f;
  {
    auto [ctx, cancel] = tether::with_cancel(parent);
    f = cancel.release();
  }
  // The CancelFunc is a handle: the node is still there to be cancelled.
  EXPECT_EQ(registered_children(parent), 1u);
  f();
  EXPECT_EQ(registered_children(parent), 0u);
}

TEST(Cancel, DroppedChildOfDroppedChildUnregistersTheWholeBranch) {
  auto [root, stop] = tether::with_cancel(tether::background());
  {
    tether::Context leaf = root;
    for (int i = 0; i < 10; ++i) {
      auto d = tether::with_cancel(leaf);
      leaf = d.ctx;
      (void)d.cancel.release();
    }
    EXPECT_EQ(registered_children(root), 1u);
  }
  EXPECT_EQ(registered_children(root), 0u);
  expect_alive(root, "root");
}

TEST(Cancel, CancelFuncKeepsItsContextCancellableAfterAllContextHandlesDrop) {
  auto [parent, stop] = tether::with_cancel(tether::background());
  tether::CancelFunc f;
  tether::Context grandchild;
  {
    auto [ctx, cancel] = tether::with_cancel(parent);
    auto [g, g_cancel] = tether::with_cancel(ctx);
    grandchild = g;
    (void)g_cancel.release();
    f = cancel.release();
  }
  expect_alive(grandchild, "grandchild");
  f();
  expect_canceled(grandchild, "grandchild");
}

}  // namespace

// src/context.cpp keeps up to 64 freed cancellable nodes per thread for reuse. A thread
// that exits must hand them back to the heap: otherwise every short-lived thread that
// derived contexts would leak its cached nodes. (Under the sanitizers the cache is off, so
// they see every free; there the heap reading below is the sanitizer's and the test only
// checks that nothing grows.)
TEST(Cancel, NodesAThreadCachedAreReturnedWhenItExits) {
  auto heap_in_use = [] { return mallinfo2().uordblks; };
  auto derive_and_cancel_many = [] {
    std::vector<tether::Derived<tether::ScopedCancel>> live;
    for (int i = 0; i < 200; ++i) live.push_back(tether::with_cancel(tether::background()));
    live.clear();  // 200 nodes freed on this thread: the cache keeps some of them
  };
  BoundedThread("warm up", derive_and_cancel_many).join();  // first-thread costs (TLS, gtest)
  const std::size_t before = heap_in_use();
  for (int round = 0; round < 20; ++round)
    BoundedThread("derive, cancel, exit", derive_and_cancel_many).join();
  const std::size_t after = heap_in_use();
  // 20 threads x 64 cached nodes x ~100 B would be ~128 KB; allow a few KB of noise.
  EXPECT_LT(after, before + 8 * 1024) << "before " << before << " B, after " << after << " B";
}

// A server makes a call's context on one thread and frees it on another: the freeing
// thread's list fills, the making thread's stays empty. Past its 64 blocks, a thread hands
// what it frees to a shared depot in batches of 32, and a thread whose list is empty takes
// a batch (src/context.cpp, "memory of cancellable nodes"). The depot is LIFO and the
// allocating thread has drained it first, so its next 32 nodes are exactly the last 32
// the other thread freed; with plain malloc they would be new blocks.
TEST(Cancel, NodesFreedOnOneThreadAreReusedByAnotherThroughTheDepot) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the node cache is off under the sanitizers";
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer) || \
    __has_feature(memory_sanitizer)
  GTEST_SKIP() << "the node cache is off under the sanitizers";
#endif
#endif
  using Derived = tether::Derived<tether::ScopedCancel>;
  auto node = [](const Derived& d) -> const void* { return tether::internal::Access::node(d.ctx); };
  std::promise<void> drained, freed;
  std::set<const void*> batch;      // the last 32 nodes the freeing thread freed
  std::vector<const void*> reused;  // the allocating thread's next 32 nodes
  BoundedThread allocator("allocate", [&] {
    // More than the depot can hold (32 batches of 32): afterwards it is empty, and so is
    // this thread's list.
    std::vector<Derived> held;
    for (int i = 0; i < 2000; ++i) held.push_back(tether::with_cancel(tether::background()));
    drained.set_value();
    freed.get_future().wait();
    std::vector<Derived> more;
    for (int i = 0; i < 32; ++i) {
      more.push_back(tether::with_cancel(tether::background()));
      reused.push_back(node(more.back()));
    }
  });
  drained.get_future().wait();
  BoundedThread("free", [&] {
    std::vector<Derived> made;
    for (int i = 0; i < 96; ++i) made.push_back(tether::with_cancel(tether::background()));
    for (int i = 64; i < 96; ++i) batch.insert(node(made[static_cast<std::size_t>(i)]));
    made.clear();  // in order: the first 64 fill this thread's list, the last 32 are a batch
  }).join();
  freed.set_value();
  allocator.join();
  std::size_t from_batch = 0;
  for (const void* n : reused) from_batch += batch.count(n);
  EXPECT_EQ(from_batch, 32u) << "the allocating thread did not reuse the other's batch";
}
