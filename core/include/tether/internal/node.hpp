// tether/internal/node.hpp — the shared, reference-counted nodes behind tether::Context.
//
// Not API: names here may change at any time. They are in a public header only because
// Context's hot paths (err(), copy, value lookup) are inline.
//
// The tree. Every derived context is exactly one heap node (one allocation):
//
//   Node                 common header: refcount, kind, parent, anchor, values
//   ├─ CancelNode        with_cancel[_cause]: state word, children list, cause
//   │  └─ TimerNode      with_deadline/with_timeout: + position in the timer heap
//   ├─ ValueNode         with_value: key, value (inline), optional flattened key index
//   └─ (plain Node)      without_cancel, and the static roots background()/todo()
//
// `anchor` points at the nearest cancellable node at or above a node (itself for a
// CancelNode; the static never-cancelled anchor for roots and without_cancel), so err() on
// any context is one load of a pointer and one atomic load of a state word.
// `values` points at the nearest ValueNode at or above, so value lookup never visits
// cancel or timer nodes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

namespace tether {
class Context;
namespace internal {

/// Nanoseconds on the steady clock (or the installed manual clock).
using Nanos = std::int64_t;
inline constexpr Nanos kNoDeadline = INT64_MAX;

enum class Kind : std::uint8_t {
  kBackground,
  kTodo,
  kNever,  // the anchor of roots and without_cancel: never done
  kCancel,
  kTimer,
  kValue,
  kWithoutCancel,
};

struct CancelNode;
struct ValueNode;
struct CauseRep;

/// The common header of every context node.
struct Node {
  std::atomic<std::uint32_t> refs;  // strong references; unused when is_static
  Kind kind;
  bool is_static;           // background/todo/never: never counted, never freed
  Node* parent;             // strong reference; null for static roots
  CancelNode* anchor;       // nearest cancellable node at or above; never null
  const ValueNode* values;  // nearest value node at or above; null if none

  bool is_cancellable() const noexcept { return kind == Kind::kCancel || kind == Kind::kTimer; }
};

/// Membership of a child in its anchor's children list. Written under the anchor's lock.
struct Link {
  enum class Type : std::uint8_t { kChild, kCallback };
  Link* prev = nullptr;
  Link* next = nullptr;
  Type type = Type::kChild;
  bool linked = false;
};

// The CancelNode state word. Bit layout:
//   bits 0-1  kCodeMask    0 alive, else the errc value (1 canceled, 2 deadline_exceeded)
//   bit  2    kSettled     the whole subtree below this node has been cancelled too
//   bit  3    kWaiters     someone may be futex-waiting for done/settled (sticky)
//   bit  4    kLocked      the node lock (guards children, cause)
//   bit  5    kLockWaiters a thread sleeps on the node lock
//   bit  6    kObserved    the registry records this node's life (tree.hpp, Observer);
//                          children derived under it inherit the bit. Never set unless
//                          tether::registry tracks a context with its history on.
// err() reads only bits 0-1; every other bit is bookkeeping that err() ignores.
inline constexpr std::uint32_t kCodeMask = 0x3;
inline constexpr std::uint32_t kSettled = 1u << 2;
inline constexpr std::uint32_t kWaiters = 1u << 3;
inline constexpr std::uint32_t kLocked = 1u << 4;
inline constexpr std::uint32_t kLockWaiters = 1u << 5;
inline constexpr std::uint32_t kObserved = 1u << 6;

// Named tests of a state word: the only place, with the constants above, that knows the
// layout. Call sites read as sentences: `if (is_done(s))`.
/// The errc value published on the node (0 while it is alive).
constexpr std::uint32_t code_of(std::uint32_t state) noexcept { return state & kCodeMask; }
/// The node is cancelled: err() is set and never changes again.
constexpr bool is_done(std::uint32_t state) noexcept { return code_of(state) != 0; }
/// The node and its whole subtree are cancelled (its cancel has finished).
constexpr bool is_settled(std::uint32_t state) noexcept { return (state & kSettled) != 0; }

struct Extras;  // lazily created waiting state (eventfd); see Done::fd()

/// A cancellable context: with_cancel, with_cancel_cause; base of TimerNode.
/// Its Link base is its membership in parent->anchor's children (under that anchor's lock).
struct CancelNode : Node, Link {
  std::atomic<std::uint32_t> state;  // see the bit layout above
  std::uint32_t timer_shard;         // TimerNode only: its timer heap shard (set before arming)
  Nanos deadline;                    // effective deadline (own or inherited); kNoDeadline
  Link* children;                    // head of this node's children; under this node's lock
  CauseRep* cause;                   // under lock until done; immutable after
  std::atomic<Extras*> extras;       // created by the first Done::fd()
};

/// A cancellable context with a deadline armed in the shared timer service.
struct TimerNode : CancelNode {
  std::atomic<std::size_t> heap_index;  // position in the timer heap; written under its mutex
};

/// Type-erased operations on a ValueNode's stored value.
struct ValueOps {
  std::size_t align;  // alignof the value type
  void (*destroy)(void* value) noexcept;
  std::string (*describe)(const void* value);
};

/// One slot of a flattened key index: key identity → the node holding its newest value.
struct IndexSlot {
  const void* key;
  const ValueNode* node;
};

/// A context that carries one key/value pair.
struct ValueNode : Node {
  const void* key;           // address of the tether::Key<T>
  const char* key_name;      // the key's name, for describe()
  const ValueNode* prev;     // nearest value node above (== parent->values)
  const IndexSlot* index;    // non-null at checkpoints: every key visible from here
  std::uint32_t index_mask;  // capacity - 1 of index
  std::uint32_t depth;       // number of value nodes at or above, including this one
  const ValueOps* ops;
  void* value;  // points into this node's own allocation
};

/// The home slot of `key` in a flattened index of capacity mask+1. The one hash used both
/// to build an index (context.cpp) and to probe it (find_value).
inline std::uint32_t index_slot(const void* key, std::uint32_t mask) noexcept {
  return static_cast<std::uint32_t>(
             (reinterpret_cast<std::uintptr_t>(key) >> 3) * 0x9E3779B97F4A7C15ull >> 32) &
         mask;
}

/// Finds the newest value stored under `key` at or above `v`; nullptr if none.
/// O(1) amortised: walks at most kIndexStride-1 value nodes, then probes one index.
inline const void* find_value(const ValueNode* v, const void* key) noexcept {
  while (v != nullptr) {
    if (v->key == key) return v->value;
    if (v->index != nullptr) {
      for (std::uint32_t i = index_slot(key, v->index_mask);; i = (i + 1) & v->index_mask) {
        const IndexSlot& s = v->index[i];
        if (s.key == key) return s.node->value;
        if (s.key == nullptr) return nullptr;
      }
    }
    v = v->prev;
  }
  return nullptr;
}

// Reference counting. Static nodes are never counted (no shared cache line to fight over).
inline void retain(Node* n) noexcept {
  if (!n->is_static) n->refs.fetch_add(1, std::memory_order_relaxed);
}
void destroy_chain(Node* n) noexcept;  // frees n and every ancestor it held the last ref to
inline void release(Node* n) noexcept {
  if (!n->is_static && n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy_chain(n);
}

/// tether's error category, reachable without a function call from inline err().
class ContextCategory final : public std::error_category {
 public:
  constexpr ContextCategory() noexcept = default;
  const char* name() const noexcept override;
  std::string message(int code) const override;
  std::error_condition default_error_condition(int code) const noexcept override;
};
extern const ContextCategory kContextCategory;

/// tether's current time in nanoseconds (the manual clock's when one is installed).
Nanos now_ns() noexcept;
/// std::chrono::steady_clock's time in nanoseconds, whatever clock is installed.
Nanos steady_now_ns() noexcept;
/// base + d, saturating at kNoDeadline ("never") instead of wrapping; d must be positive.
template <class Rep, class Period>
Nanos add_duration(Nanos base, std::chrono::duration<Rep, Period> d) noexcept {
  // Compare in floating point first: converting a huge duration to nanoseconds would wrap.
  double ns = std::chrono::duration<double, std::nano>(d).count();
  if (ns >= static_cast<double>(kNoDeadline - base) - 1e6) return kNoDeadline;
  return base + std::chrono::ceil<std::chrono::nanoseconds>(d).count();
}

/// Node of background(), todo(), and the never-cancelled anchor; defined in context.cpp.
extern Node background_node;
extern Node todo_node;
extern CancelNode never_node;

}  // namespace internal
}  // namespace tether
