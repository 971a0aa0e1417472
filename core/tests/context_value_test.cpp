// Request-scoped values, ported from Go's TestValues and TestWithValueChecksKey, plus the
// C++ obligations of storing arbitrary T in a shared node: pointer stability, move-only and
// non-movable values, and destruction exactly when the last handle drops.
#include <gtest/gtest.h>

#include <atomic>
#include <concepts>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "context_test_support.hpp"
#include "tether/context.hpp"
#include "tether/testing/manual_clock.hpp"

namespace {

using context_test::DestructionProbe;

// Go's k1/k2/k3: same underlying int, different types, and same type, different values.
// In tether a key's identity is its address; its type fixes what it can find.
const tether::Key<std::string> k1{"k1"};
const tether::Key<std::string> k2{"k2"};
const tether::Key<std::string> k3{"k3"};

void check(const tether::Context& c, const char* name, const char* v1, const char* v2,
           const char* v3) {
  SCOPED_TRACE(name);
  const tether::Key<std::string>* keys[] = {&k1, &k2, &k3};
  const char* want[] = {v1, v2, v3};
  for (int i = 0; i < 3; ++i) {
    const std::string* got = c.value(*keys[i]);
    if (want[i] == nullptr) {
      EXPECT_EQ(got, nullptr) << "k" << i + 1 << " = " << (got ? *got : "");
    } else {
      ASSERT_NE(got, nullptr) << "k" << i + 1;
      EXPECT_EQ(*got, want[i]) << "k" << i + 1;
    }
  }
}

// Go's TestValues (Go's "WithValue(k1, nil)" erases a value; tether's nearest equivalent
// stores an empty optional, so that step is the shadowing test below).
TEST(Value, ValuesAreFoundByKeyAndInheritedByDescendants) {
  tether::Context c0 = tether::background();
  check(c0, "c0", nullptr, nullptr, nullptr);
  tether::Context c1 = tether::with_value(tether::background(), k1, "c1k1");
  check(c1, "c1", "c1k1", nullptr, nullptr);
  tether::Context c2 = tether::with_value(c1, k2, "c2k2");
  check(c2, "c2", "c1k1", "c2k2", nullptr);
  tether::Context c3 = tether::with_value(c2, k3, "c3k3");
  check(c3, "c3", "c1k1", "c2k2", "c3k3");
  check(c1, "c1 after deriving", "c1k1", nullptr, nullptr);
}

TEST(Value, NewerValueShadowsOlderValueOfTheSameKey) {
  tether::Context outer = tether::with_value(tether::background(), k1, "outer");
  tether::Context other = tether::with_value(outer, k2, "other");
  tether::Context inner = tether::with_value(other, k1, "inner");
  ASSERT_NE(inner.value(k1), nullptr);
  EXPECT_EQ(*inner.value(k1), "inner");
  EXPECT_EQ(*inner.value(k2), "other");
  EXPECT_EQ(*outer.value(k1), "outer") << "shadowing never changes the ancestor";
}

TEST(Value, ShadowingWithAnEmptyValueHidesTheOlderOne) {
  const tether::Key<std::optional<std::string>> user{"user"};
  tether::Context a =
      tether::with_value(tether::background(), user, std::optional<std::string>("ann"));
  tether::Context b = tether::with_value(a, user, std::optional<std::string>());
  ASSERT_NE(b.value(user), nullptr);
  EXPECT_FALSE(b.value(user)->has_value());
  EXPECT_EQ(a.value(user)->value(), "ann");
}

TEST(Value, DistinctKeyObjectsWithTheSameNameNeverMatch) {
  const tether::Key<std::string> first{"request_id"};
  const tether::Key<std::string> second{"request_id"};  // same name, same type, other object
  tether::Context ctx = tether::with_value(tether::background(), first, "abc");
  ASSERT_NE(ctx.value(first), nullptr);
  EXPECT_EQ(ctx.value(second), nullptr);
  tether::Context both = tether::with_value(ctx, second, "def");
  EXPECT_EQ(*both.value(first), "abc");
  EXPECT_EQ(*both.value(second), "def");
}

TEST(Value, KeysOfDifferentTypesWithTheSameNameAreIndependent) {
  const tether::Key<int> as_int{"n"};
  const tether::Key<long> as_long{"n"};
  tether::Context ctx = tether::with_value(tether::background(), as_int, 1);
  EXPECT_NE(ctx.value(as_int), nullptr);
  EXPECT_EQ(ctx.value(as_long), nullptr);
}

// Go's TestWithValueChecksKey: Go panics at run time on a nil or non-comparable key. In
// tether a key is a typed object, so the checks happen at compile time: a lookup returns
// exactly the key's T, and storing something not convertible to T does not compile.
template <class K, class V>
concept CanStore = requires(const tether::Context& c, const K& k, V&& v) {
  tether::with_value(c, k, std::forward<V>(v));
};
static_assert(CanStore<tether::Key<int>, int>);
static_assert(CanStore<tether::Key<std::string>, const char*>);
static_assert(!CanStore<tether::Key<int>, std::string>);
static_assert(!CanStore<tether::Key<std::unique_ptr<int>>, const std::unique_ptr<int>&>,
              "a move-only value cannot be stored by copy");
static_assert(CanStore<tether::Key<std::unique_ptr<int>>, std::unique_ptr<int>>);
static_assert(!std::is_copy_constructible_v<tether::Key<int>>, "keys are identities");
static_assert(std::is_same_v<decltype(std::declval<const tether::Context&>().value(
                                 std::declval<const tether::Key<double>&>())),
                             const double*>);

TEST(Value, LookupTypeIsTheKeysType) {
  const tether::Key<double> ratio{"ratio"};
  tether::Context ctx = tether::with_value(tether::background(), ratio, 0.5);
  const double* p = ctx.value(ratio);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 0.5);
}

TEST(Value, ValuesPassThroughCancelLayersAndSurviveCancellation) {
  auto [a, cancel_a] = tether::with_cancel(tether::background());
  tether::Context v = tether::with_value(a, k1, "v");
  auto [b, cancel_b] = tether::with_cancel_cause(v);
  auto [c, cancel_c] = tether::with_cancel(b);
  ASSERT_NE(c.value(k1), nullptr);
  EXPECT_EQ(*c.value(k1), "v");
  cancel_a();
  ASSERT_NE(c.value(k1), nullptr) << "values stay readable after cancellation";
  EXPECT_EQ(*c.value(k1), "v");
}

TEST(Value, ValuePointerIsStableAcrossCopiesAndDerivations) {
  tether::Context ctx = tether::with_value(tether::background(), k1, "stable");
  const std::string* p = ctx.value(k1);
  tether::Context copy = ctx;
  auto [child, cancel] = tether::with_cancel(copy);
  tether::Context grandchild = tether::with_value(child, k2, "other");
  EXPECT_EQ(copy.value(k1), p);
  EXPECT_EQ(child.value(k1), p);
  EXPECT_EQ(grandchild.value(k1), p);
  ctx = tether::background();  // drop the original handle: the copies keep the node alive
  EXPECT_EQ(copy.value(k1), p);
  EXPECT_EQ(*p, "stable");
}

TEST(Value, MoveOnlyValueIsStored) {
  const tether::Key<std::unique_ptr<int>> owned{"owned"};
  tether::Context ctx = tether::with_value(tether::background(), owned, std::make_unique<int>(7));
  const std::unique_ptr<int>* p = ctx.value(owned);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(p->get(), nullptr);
  EXPECT_EQ(**p, 7);
}

TEST(Value, NonMovableValueIsConstructedInPlace) {
  const tether::Key<std::atomic<int>> counter{"counter"};
  tether::Context ctx = tether::with_value(tether::background(), counter, 5);
  const std::atomic<int>* p = ctx.value(counter);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->load(), 5);
}

TEST(Value, ValueIsMovedInNotCopied) {
  const tether::Key<std::vector<int>> big{"big"};
  std::vector<int> data(1000, 1);
  const int* buffer = data.data();
  tether::Context ctx = tether::with_value(tether::background(), big, std::move(data));
  ASSERT_NE(ctx.value(big), nullptr);
  EXPECT_EQ(ctx.value(big)->data(), buffer) << "the vector's buffer was moved, not copied";
}

TEST(Value, ValueIsDestroyedOnceWhenTheLastHandleDrops) {
  const tether::Key<DestructionProbe> probe{"probe"};
  std::atomic<int> destroyed{0};
  {
    tether::Context ctx =
        tether::with_value(tether::background(), probe, DestructionProbe(&destroyed));
    tether::Context copy = ctx;
    EXPECT_EQ(destroyed.load(), 0);
    ctx = tether::background();
    EXPECT_EQ(destroyed.load(), 0) << "a copy still holds the value";
  }
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(Value, ValueLivesWhileADerivedContextHoldsIt) {
  const tether::Key<DestructionProbe> probe{"probe"};
  std::atomic<int> destroyed{0};
  tether::Context leaf;
  {
    tether::Context ctx =
        tether::with_value(tether::background(), probe, DestructionProbe(&destroyed));
    auto d = tether::with_cancel(ctx);
    leaf = tether::with_value(d.ctx, k1, "leaf");
    (void)d.cancel.release();  // keep the cancel node alive only through `leaf`
  }
  EXPECT_EQ(destroyed.load(), 0) << "the leaf's ancestors keep the value alive";
  EXPECT_NE(leaf.value(probe), nullptr);
  leaf = tether::background();
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(Value, ValueOfACancelledContextIsDestroyedWhenHandlesDrop) {
  const tether::Key<DestructionProbe> probe{"probe"};
  std::atomic<int> destroyed{0};
  auto [parent, cancel] = tether::with_cancel(tether::background());
  {
    tether::Context ctx = tether::with_value(parent, probe, DestructionProbe(&destroyed));
    cancel();
  }
  EXPECT_EQ(destroyed.load(), 1);
}

TEST(Value, ValueContextHasItsParentsErrDeadlineAndRegistrations) {
  auto [parent, cancel] = tether::with_cancel(tether::background());
  tether::Context v = tether::with_value(parent, k1, "x");
  EXPECT_FALSE(v.deadline().has_value());
  EXPECT_EQ(tether::testing::registered_children(parent), 0u) << "value nodes never register";
  cancel();
  EXPECT_EQ(v.err(), tether::errc::canceled);
  EXPECT_TRUE(v.done().ready());
}

// Value lookup must be exact at every depth, whatever shortcuts (flattened indexes, skip
// links) the implementation takes. Compare against a reference model at every node of a
// long random chain mixing value, cancel and without_cancel layers.
TEST(Value, LookupMatchesAReferenceModelAtEveryDepthOfALongChain) {
  const unsigned seed = context_test::test_seed();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::cout << "[ seed     ] " << seed << "\n";
  std::mt19937 rng(seed);

  constexpr int kKeys = 40;
  constexpr int kDepth = 600;
  std::vector<std::unique_ptr<tether::Key<int>>> keys;
  for (int i = 0; i < kKeys; ++i) keys.push_back(std::make_unique<tether::Key<int>>("key"));

  std::vector<tether::Context> chain;
  std::vector<std::vector<int>> model;  // model[d][k] = value of key k at depth d, or -1
  std::vector<tether::ScopedCancel> cancels;
  tether::Context ctx = tether::background();
  std::vector<int> current(kKeys, -1);
  for (int d = 0; d < kDepth; ++d) {
    const unsigned kind = rng() % 10;
    if (kind < 7) {
      // Skewed towards a few hot keys so shadowing happens often.
      const int k =
          (rng() % 2 == 0) ? static_cast<int>(rng() % 4) : static_cast<int>(rng() % kKeys);
      ctx = tether::with_value(ctx, *keys[k], d);
      current[k] = d;
    } else if (kind < 9) {
      auto derived = tether::with_cancel(ctx);
      ctx = derived.ctx;
      cancels.push_back(std::move(derived.cancel));
    } else {
      ctx = tether::without_cancel(ctx);
    }
    chain.push_back(ctx);
    model.push_back(current);
  }
  for (int d = 0; d < kDepth; ++d) {
    for (int k = 0; k < kKeys; ++k) {
      const int* got = chain[d].value(*keys[k]);
      if (model[d][k] < 0) {
        EXPECT_EQ(got, nullptr) << "depth " << d << " key " << k;
      } else {
        ASSERT_NE(got, nullptr) << "depth " << d << " key " << k;
        EXPECT_EQ(*got, model[d][k]) << "depth " << d << " key " << k;
      }
    }
  }
}

TEST(Value, HundredDistinctKeysAreAllFoundFromTheLeaf) {
  std::vector<std::unique_ptr<tether::Key<int>>> keys;
  tether::Context ctx = tether::background();
  for (int i = 0; i < 100; ++i) {
    keys.push_back(std::make_unique<tether::Key<int>>("k"));
    ctx = tether::with_value(ctx, *keys.back(), i);
  }
  for (int i = 0; i < 100; ++i) {
    const int* got = ctx.value(*keys[i]);
    ASSERT_NE(got, nullptr) << i;
    EXPECT_EQ(*got, i);
  }
  const tether::Key<int> absent{"absent"};
  EXPECT_EQ(ctx.value(absent), nullptr);
}

// ---- without_cancel ----------------------------------------------------------------------

// Go's TestWithoutCancel.
TEST(WithoutCancel, HasNoDeadlineIsNeverDoneAndKeepsValues) {
  tether::Context ctx = tether::with_value(tether::background(), k1, "value");
  ctx = tether::without_cancel(ctx);
  EXPECT_FALSE(ctx.deadline().has_value());
  EXPECT_FALSE(ctx.err());
  EXPECT_FALSE(ctx.done().ready());
  ASSERT_NE(ctx.value(k1), nullptr);
  EXPECT_EQ(*ctx.value(k1), "value");
}

TEST(WithoutCancel, IsNotDoneWhenItsParentIsCancelled) {
  auto [parent, cancel] = tether::with_cancel_cause(tether::background());
  tether::Context detached = tether::without_cancel(tether::with_value(parent, k1, "v"));
  EXPECT_EQ(tether::testing::registered_children(parent), 0u) << "nothing to propagate";
  cancel(context_test::make_cause(std::errc::io_error, "finishedEarly"));
  EXPECT_FALSE(detached.err());
  EXPECT_FALSE(detached.done().ready());
  EXPECT_FALSE(tether::cause(detached));
  ASSERT_NE(detached.value(k1), nullptr) << "values pass through";
  EXPECT_EQ(*detached.value(k1), "v");
}

TEST(WithoutCancel, OfAnAlreadyCancelledParentIsNotDone) {
  auto [parent, cancel] = tether::with_cancel(tether::background());
  cancel();
  tether::Context detached = tether::without_cancel(parent);
  EXPECT_FALSE(detached.err());
  EXPECT_FALSE(tether::cause(detached));
}

TEST(WithoutCancel, DropsTheParentsDeadlineAndIgnoresItsExpiry) {
  tether::testing::ManualClock clock;
  auto [parent, cancel] = tether::with_timeout_cause(tether::background(), std::chrono::seconds(1),
                                                     tether::Cause("tooSlow"));
  tether::Context detached = tether::without_cancel(parent);
  EXPECT_FALSE(detached.deadline().has_value());
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(parent.err(), tether::errc::deadline_exceeded);
  EXPECT_FALSE(detached.err());
  EXPECT_FALSE(tether::cause(detached));
  // A deadline set below the detached context is its own again.
  auto [timed, timed_cancel] = tether::with_timeout(detached, std::chrono::seconds(5));
  ASSERT_TRUE(timed.deadline().has_value());
  EXPECT_EQ(*timed.deadline(), clock.now() + std::chrono::seconds(5));
  clock.advance(std::chrono::seconds(5));
  EXPECT_EQ(timed.err(), tether::errc::deadline_exceeded);
  EXPECT_FALSE(detached.err());
}

TEST(WithoutCancel, ChildrenOfADetachedContextAreCancelledOnlyByTheirOwnCancellers) {
  auto [parent, cancel_parent] = tether::with_cancel(tether::background());
  tether::Context detached = tether::without_cancel(parent);
  auto [child, cancel_child] = tether::with_cancel(detached);
  cancel_parent();
  EXPECT_FALSE(child.err());
  cancel_child();
  EXPECT_EQ(child.err(), tether::errc::canceled);
  EXPECT_FALSE(detached.err());
}

TEST(WithoutCancel, HasNoRegisteredChildren) {
  tether::Context detached = tether::without_cancel(tether::background());
  auto [child, cancel] = tether::with_cancel(detached);
  EXPECT_EQ(tether::testing::registered_children(detached), 0u);
}

}  // namespace
