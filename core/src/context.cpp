// The context tree: derivation, cancellation, waiting, values, after_func.
//
// Lock discipline. Each CancelNode has one lock: a bit in its state word (see node.hpp).
// It guards the node's children list, every child's `link`, and the node's cause until the
// node is done. No code path holds two node locks at once, and no lock is held while a
// callback runs, while a thread is woken, or while memory is freed, so nothing here can
// deadlock on a lock, whatever callbacks do.
//
// Cancellation is iterative: the canceller publishes "done" on a node, detaches its whole
// children list under the node's lock, and pushes the children on a work list. A node whose
// subtree is complete is "settled"; a canceller that loses the race to another thread
// waits for the winner's settle, so that, as in Go, cancel() never returns before the
// whole subtree is done.
#include <pthread.h>
#include <unistd.h>

#include <cxxabi.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "internal/cause_rep.hpp"
#include "internal/futex.hpp"
#include "internal/small_vec.hpp"
#include "internal/tree.hpp"
#include "tether/context.hpp"

namespace tether {
namespace internal {

// ---- the static roots --------------------------------------------------------------------

constinit CancelNode never_node{{{0}, Kind::kNever, true, nullptr, &never_node, nullptr},
                                {nullptr, nullptr, Link::Type::kChild, false},
                                {0},
                                0,
                                kNoDeadline,
                                nullptr,
                                nullptr,
                                {nullptr}};
constinit Node background_node{{0}, Kind::kBackground, true, nullptr, &never_node, nullptr};
constinit Node todo_node{{0}, Kind::kTodo, true, nullptr, &never_node, nullptr};

/// Lazily created waiting state of a CancelNode: the descriptor behind Done::fd().
struct Extras {
  NotifierFds fds;
  void signal() const noexcept { signal_notifier(fds); }
  ~Extras() { close_notifier(fds); }
};

// ---- reference counting ------------------------------------------------------------------

bool try_retain(Node* n) noexcept {
  if (n->is_static) return true;
  std::uint32_t r = n->refs.load(std::memory_order_relaxed);
  while (r != 0) {
    if (n->refs.compare_exchange_weak(r, r + 1, std::memory_order_acquire,
                                      std::memory_order_relaxed))
      return true;
  }
  return false;
}

// ---- the node lock -----------------------------------------------------------------------

namespace {
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// Releases the lock and sets `add` (code/settled bits, known to be clear) in one step.
/// Returns the state before. seq_cst: pairs with Done::fd()'s creation of the eventfd.
std::uint32_t unlock_with(CancelNode* n, std::uint32_t add) noexcept {
  std::uint32_t s = n->state.load(std::memory_order_relaxed);
  while (!n->state.compare_exchange_weak(s, (s & ~(kLocked | kLockWaiters)) | add,
                                         std::memory_order_seq_cst, std::memory_order_relaxed)) {
  }
  if (s & kLockWaiters) futex_wake(n->state, kLockBitset, 1);
  return s;
}
}  // namespace

void lock(CancelNode* n) noexcept {
  std::uint32_t s = n->state.load(std::memory_order_relaxed);
  for (int spin = 0; spin < 100; ++spin) {
    if (!(s & kLocked)) {
      if (n->state.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire,
                                         std::memory_order_relaxed))
        return;
      continue;
    }
    cpu_relax();
    s = n->state.load(std::memory_order_relaxed);
  }
  // Contended: announce a sleeper, and once woken take the lock with the announcement
  // kept (others may still sleep).
  for (;;) {
    if (!(s & kLocked)) {
      if (n->state.compare_exchange_weak(s, s | kLocked | kLockWaiters, std::memory_order_acquire,
                                         std::memory_order_relaxed))
        return;
      continue;
    }
    if (!(s & kLockWaiters)) {
      if (!n->state.compare_exchange_weak(s, s | kLockWaiters, std::memory_order_relaxed)) continue;
      s |= kLockWaiters;
    }
    futex_wait(n->state, s, kLockBitset);
    s = n->state.load(std::memory_order_relaxed);
  }
}

void unlock(CancelNode* n) noexcept { unlock_with(n, 0); }

// ---- the observer --------------------------------------------------------------------------

namespace {
std::atomic<const Observer*> the_observer{nullptr};

// The hooks' calls, out of line and cold: the paths that test kObserved keep their code
// (and register use) as it was without an observer, since the bit is rarely set.
enum class Event { kCreated, kDone, kFreed, kCallback };
[[gnu::noinline, gnu::cold]] void notify(Event e, CancelNode* n) noexcept {
  const Observer* o = the_observer.load(std::memory_order_acquire);
  if (o == nullptr) return;
  switch (e) {
    case Event::kCreated:
      return o->created(n);
    case Event::kDone:
      return o->done(n);
    case Event::kFreed:
      return o->freed(n);
    case Event::kCallback:
      return o->callback(n);
  }
}
}  // namespace

void set_observer(const Observer* o) noexcept { the_observer.store(o, std::memory_order_release); }

void observe(CancelNode* n) noexcept { n->state.fetch_or(kObserved, std::memory_order_relaxed); }

// ---- children lists (under the parent's lock) --------------------------------------------

namespace {
void link_child(CancelNode* parent, Link* l) noexcept {
  l->prev = nullptr;
  l->next = parent->children;
  if (parent->children != nullptr) parent->children->prev = l;
  parent->children = l;
  l->linked = true;
}

void unlink_child(CancelNode* parent, Link* l) noexcept {
  if (l->prev != nullptr) {
    l->prev->next = l->next;
  } else {
    parent->children = l->next;
  }
  if (l->next != nullptr) l->next->prev = l->prev;
  l->prev = l->next = nullptr;
  l->linked = false;
}

CancelNode* node_of(Link* l) noexcept { return static_cast<CancelNode*>(l); }
CallbackBase* callback_of(Link* l) noexcept { return static_cast<CallbackBase*>(l); }

/// Removes `n` from the children of its registration anchor (its parent's anchor).
void remove_from_parent(CancelNode* n) noexcept {
  CancelNode* a = n->parent->anchor;
  if (a->kind == Kind::kNever) return;
  lock(a);
  if (n->linked) unlink_child(a, n);
  unlock(a);
}
}  // namespace

std::size_t count_children(CancelNode* n) noexcept {
  if (n->kind == Kind::kNever) return 0;
  lock(n);
  std::size_t count = 0;
  for (Link* l = n->children; l != nullptr; l = l->next) ++count;
  unlock(n);
  return count;
}

// ---- waiting -----------------------------------------------------------------------------

namespace {
Nanos monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Nanos{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

/// Blocks until (state & mask) != 0 or the monotonic deadline passes.
bool wait_for_bits(CancelNode* n, std::uint32_t mask, Nanos deadline) noexcept {
  std::uint32_t s = n->state.load(std::memory_order_acquire);
  while (!(s & mask)) {
    if (!(s & kWaiters)) {
      if (!n->state.compare_exchange_weak(s, s | kWaiters, std::memory_order_acquire,
                                          std::memory_order_acquire))
        continue;
      s |= kWaiters;
    }
    if (deadline != kNoDeadline && monotonic_ns() >= deadline)
      return (n->state.load(std::memory_order_acquire) & mask) != 0;  // ready() at the bound
    futex_wait(n->state, s, kDoneBitset, deadline);
    s = n->state.load(std::memory_order_acquire);
  }
  return true;
}

void settle(CancelNode* n) noexcept {
  std::uint32_t old = n->state.fetch_or(kSettled, std::memory_order_acq_rel);
  if (old & kWaiters) futex_wake(n->state, kDoneBitset);
}
}  // namespace

Nanos steady_now_ns() noexcept { return monotonic_ns(); }

// ---- cancellation ------------------------------------------------------------------------

namespace {
enum : std::uint32_t { kPending = 0, kRunning = 1, kFinished = 2, kStopped = 3 };
inline constexpr std::uint32_t kPhaseMask = 0x3;
inline constexpr std::uint32_t kPhaseWaiters = 1u << 2;

/// What one cancellation has collected: nodes to visit, nodes to settle, other threads'
/// cascades to wait for, and callbacks to run once everything is settled.
struct Cascade {
  SmallVec<CancelNode*, 16> work;        // retained; to publish
  SmallVec<CancelNode*, 16> unsettled;   // retained; published by us, had children
  SmallVec<CancelNode*, 4> foreign;      // retained; done by another thread, not settled
  SmallVec<CallbackBase*, 4> callbacks;  // the list's reference, handed to us
};

void release_callback(CallbackBase* cb) noexcept;

/// Names the calling thread for CallbackBase::runner: pthread_self(), unique among live
/// threads and never 0. (std::hash of std::thread::id called into libstdc++'s _Hash_bytes:
/// three more cold cache lines on every cancel, and a hash may collide.)
std::uint64_t this_thread_tag() noexcept {
  static_assert(sizeof(pthread_t) <= sizeof(std::uint64_t));
  const pthread_t self = pthread_self();
  std::uint64_t tag = 0;
  std::memcpy(&tag, &self, sizeof self);
  return tag;
}

enum class Published { kLost, kLeaf, kWithChildren };

/// Publishes `code` on n unless n is already done. Under n's lock: records the cause,
/// detaches every child (retaining the nodes, taking over the callbacks). If n had child
/// nodes (kWithChildren), the caller's reference to n moves to cs.unsettled. kLost: another
/// thread got there first.
Published publish(CancelNode* n, std::uint32_t code, CauseRep* cause, bool own_cause,
                  Cascade& cs) noexcept {
  lock(n);
  if (is_done(n->state.load(std::memory_order_relaxed))) {
    unlock(n);
    return Published::kLost;
  }
  CauseRep* dropped = nullptr;
  if (!own_cause && n->cause != cause) {
    dropped = n->cause;
    n->cause = retain(cause);
  }
  bool has_child_nodes = false;
  for (Link* l = std::exchange(n->children, nullptr); l != nullptr;) {
    Link* next = l->next;
    l->prev = l->next = nullptr;
    l->linked = false;
    if (l->type == Link::Type::kChild) {
      CancelNode* child = node_of(l);
      // A child whose count reached zero is being destroyed: it has no handles and no
      // descendants, so nobody can observe it; its destructor finds it unlinked.
      if (try_retain(child)) {
        cs.work.push(child);
        has_child_nodes = true;
      }
    } else {
      CallbackBase* cb = callback_of(l);
      // Recorded now, not when it starts: a callback queued behind another one on this
      // thread must not be waited for (stop_and_wait) by that other one.
      cb->runner.store(this_thread_tag(), std::memory_order_relaxed);
      cb->phase.store(kRunning, std::memory_order_relaxed);
      cs.callbacks.push(cb);
    }
    l = next;
  }
  std::uint32_t old = unlock_with(n, code | (has_child_nodes ? 0 : kSettled));
  if (old & kWaiters) futex_wake(n->state, kDoneBitset);
  if (Extras* x = n->extras.load(std::memory_order_seq_cst)) x->signal();
  if (has_child_nodes) cs.unsettled.push(n);  // the caller's reference moves there
  if (n->kind == Kind::kTimer) timer_disarm(static_cast<TimerNode*>(n));
  if (dropped != nullptr) [[unlikely]]
    release(dropped);
  if (old & kObserved) [[unlikely]]
    notify(Event::kDone, n);
  return has_child_nodes ? Published::kWithChildren : Published::kLeaf;
}

void run_callback(CallbackBase* cb) noexcept {
  cb->run();
  std::uint32_t old = cb->phase.exchange(kFinished, std::memory_order_acq_rel);
  if (old & kPhaseWaiters) futex_wake(cb->phase, kDoneBitset);
  release_callback(cb);
}
}  // namespace

void cancel_node(CancelNode* root, std::uint32_t code, CauseRep* cause, bool own_cause) noexcept {
  // The caller holds a reference to root for the whole call; root's entry in
  // cs.unsettled (if any) borrows it, every other entry owns one.
  Cascade cs;
  if (publish(root, code, cause, own_cause, cs) == Published::kLost) {
    // Another thread's cancel won; like Go's cancel, do not return before it is complete.
    wait_for_bits(root, kSettled, kNoDeadline);
    return;
  }
  // Every descendant reports the root's err and cause (immutable now that root is done).
  CauseRep* final_cause = root->cause;
  while (!cs.work.empty()) {
    CancelNode* n = cs.work.pop();
    Published p = publish(n, code, final_cause, false, cs);
    if (p == Published::kWithChildren) continue;  // the reference moved to cs.unsettled
    if (p == Published::kLost && !is_settled(n->state.load(std::memory_order_acquire))) {
      cs.foreign.push(n);  // another thread's cascade is still under way below n
      continue;
    }
    release(n);
  }
  for (CancelNode* n : cs.foreign) {
    wait_for_bits(n, kSettled, kNoDeadline);
    release(n);
  }
  for (CancelNode* n : cs.unsettled) settle(n);
  for (CancelNode* n : cs.unsettled)
    if (n != root) release(n);
  // TRICKY: only now, with the whole subtree settled, may root leave its parent's list.
  // Unlinked earlier, an ancestor's cancel starting meanwhile would neither see root nor
  // wait for it, and could return while part of root's subtree is still live.
  remove_from_parent(root);
  for (CallbackBase* cb : cs.callbacks) run_callback(cb);
}

void expire(TimerNode* t) noexcept {
  cancel_node(t, static_cast<std::uint32_t>(errc::deadline_exceeded), nullptr, true);
}

// ---- memory of cancellable nodes -----------------------------------------------------------

// Every with_cancel / with_timeout allocates one CancelNode or TimerNode and frees it when
// its last handle goes; a derive-and-cancel is short, so most blocks are freed on the
// thread that allocated them and soon reused. A small per-thread list of free blocks
// (one size, fits both kinds) makes that reuse two pointer moves instead of a malloc and
// a free (about 140 instructions of the ~460 of with_cancel + cancel; measured by
// `make bench-instructions`). After_func registrations small enough take the same blocks
// (CallbackBase's operator new). At most kCachedBlocks per thread; past that, blocks go to
// the depot in batches (for threads that allocate what others free) or back to the heap,
// and the list goes back to the heap when its thread exits. Off under the sanitizers, so
// that they see every allocation and free of a node.
namespace {
#if TETHER_TSAN || defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheNodes = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
constexpr bool kCacheNodes = false;
#else
constexpr bool kCacheNodes = true;
#endif
#else
constexpr bool kCacheNodes = true;
#endif

constexpr std::size_t kNodeBlock = std::max(sizeof(CancelNode), sizeof(TimerNode));
constexpr std::uint32_t kCachedBlocks = 64;
constexpr std::uint32_t kBatch = 32;       // blocks moved to or from the depot at once
constexpr std::size_t kDepotBatches = 32;  // the depot keeps at most this many batches

struct FreeBlock {
  FreeBlock* next;
};

/// Trivially destructible, so that it stays usable until its thread ends; CacheCloser
/// returns its blocks at thread exit and closes it to late frees.
struct NodeCache {
  FreeBlock* head;
  FreeBlock* spill;  // freed while the list was full: a batch for the depot, in the making
  std::uint32_t count;
  std::uint32_t spilled;
  bool closer_registered;
  bool closed;
};
constinit thread_local NodeCache node_cache{nullptr, nullptr, 0, 0, false, false};

void delete_blocks(FreeBlock* b) noexcept {
  while (b != nullptr) ::operator delete(static_cast<void*>(std::exchange(b, b->next)));
}

struct CacheCloser {
  bool armed = false;
  ~CacheCloser() {
    NodeCache& c = node_cache;
    c.closed = true;
    delete_blocks(std::exchange(c.head, nullptr));
    delete_blocks(std::exchange(c.spill, nullptr));
    c.count = c.spilled = 0;
  }
};
thread_local CacheCloser cache_closer;

/// Blocks freed on one thread and allocated on another. A server's call context is made
/// on one of gRPC's threads and freed on another, so one thread's list only fills and the
/// other's only empties, and every such node cost a malloc and a free (docs/performance.md,
/// "gRPC"). A thread whose list is full gathers what it frees into batches of kBatch
/// blocks and leaves them here; a thread whose list is empty takes one: one lock per
/// kBatch blocks. Never waited for: a busy depot (or one a fork left locked) means the
/// heap, as without it. Leaked, as the timer service is: threads free nodes during static
/// destruction.
class Depot {
 public:
  static Depot& instance() {
    static Depot* depot = new Depot;
    return *depot;
  }
  /// Keeps `batch` (kBatch blocks); false if full or busy.
  bool put(FreeBlock* batch) noexcept {
    if (size_.load(std::memory_order_relaxed) >= kDepotBatches || !mu_.try_lock()) return false;
    const bool kept = n_ < kDepotBatches;
    if (kept) batches_[n_++] = batch;
    size_.store(n_, std::memory_order_relaxed);
    mu_.unlock();
    return kept;
  }
  /// No room for another batch (a hint, read without the lock).
  bool full() const noexcept { return size_.load(std::memory_order_relaxed) >= kDepotBatches; }
  /// A batch of kBatch blocks; null if none (or busy).
  FreeBlock* take() noexcept {
    if (size_.load(std::memory_order_relaxed) == 0 || !mu_.try_lock()) return nullptr;
    FreeBlock* batch = n_ > 0 ? batches_[--n_] : nullptr;
    size_.store(n_, std::memory_order_relaxed);
    mu_.unlock();
    return batch;
  }

 private:
  std::mutex mu_;
  std::atomic<std::size_t> size_{0};  // n_, readable without the lock (a hint)
  std::size_t n_ = 0;                 // under mu_
  FreeBlock* batches_[kDepotBatches] = {};
};

/// The cache of this thread, ready to hold blocks (its closer registered); null once the
/// thread is exiting.
NodeCache* open_cache() noexcept {
  NodeCache& c = node_cache;
  if (c.closed) return nullptr;
  if (!c.closer_registered) {
    c.closer_registered = true;
    cache_closer.armed = true;  // constructs it on this thread: its destructor runs at exit
  }
  return &c;
}

// The slow paths, out of line so that the two-pointer-move fast paths stay inlined
// (unused under the sanitizers, where nothing is cached).
[[gnu::noinline, maybe_unused]] void* allocate_cancellable_slow() {
  if (NodeCache* c = open_cache()) {
    if (FreeBlock* batch = Depot::instance().take()) {  // one to return, the rest kept
      c->head = batch->next;
      c->count = kBatch - 1;
      return batch;
    }
  }
  return ::operator new(kNodeBlock);
}

[[gnu::noinline, maybe_unused]] void free_cancellable_slow(void* p) noexcept {
  NodeCache* c = open_cache();
  if (c == nullptr) {
    ::operator delete(p);
  } else if (c->count < kCachedBlocks) {  // the thread's first free
    c->head = ::new (p) FreeBlock{c->head};
    ++c->count;
  } else if (c->spilled == 0 && Depot::instance().full()) {
    // Nowhere to keep it: back to the heap at once, in the order the blocks are freed. (A
    // batch gathered only to be refused would go back newest first, and after a million
    // frees the heap would hand the blocks out again in an order the prefetcher cannot
    // follow: docs/performance.md, TimeoutsCancel.)
    ::operator delete(p);
  } else {  // the list is full: gather a batch for the depot
    c->spill = ::new (p) FreeBlock{c->spill};
    if (++c->spilled < kBatch) return;
    FreeBlock* batch = std::exchange(c->spill, nullptr);
    c->spilled = 0;
    if (!Depot::instance().put(batch)) delete_blocks(batch);
  }
}

void* allocate_cancellable() {
  if constexpr (kCacheNodes) {
    NodeCache& c = node_cache;
    if (FreeBlock* b = c.head) {
      c.head = b->next;
      --c.count;
      return b;
    }
    return allocate_cancellable_slow();
  }
  return ::operator new(kNodeBlock);
}

void free_cancellable(void* p) noexcept {
  if constexpr (kCacheNodes) {
    NodeCache& c = node_cache;
    if (c.count < kCachedBlocks && c.closer_registered && !c.closed) {
      c.head = ::new (p) FreeBlock{c.head};
      ++c.count;
      return;
    }
    free_cancellable_slow(p);
    return;
  }
  ::operator delete(p);
}
// A value node and its value share one block. A value aligned no more strictly than
// operator new's default (the usual case: TraceContext, strings, ids) takes the plain
// operator new: the aligned form goes through memalign, ~100 instructions more per
// with_value (measured with Callgrind, docs/performance.md "gRPC").
void* allocate_value_block(std::size_t size, std::size_t align) {
  if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) return ::operator new(size);
  return ::operator new (size, std::align_val_t{align});
}

void free_value_block(void* p, std::size_t align) noexcept {
  if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
    ::operator delete(p);
  } else {
    ::operator delete (p, std::align_val_t{align});
  }
}
}  // namespace

// ---- destruction -------------------------------------------------------------------------

namespace {
void free_node(Node* n) noexcept {
  switch (n->kind) {
    case Kind::kCancel:
    case Kind::kTimer: {
      auto* c = static_cast<CancelNode*>(n);
      const std::uint32_t state = c->state.load(std::memory_order_acquire);
      if (state & kObserved) [[unlikely]]
        notify(Event::kFreed, c);
      // A done node is already unlinked (the cascade detaches before it publishes, and a
      // canceller unlinks before it drops the reference it held while cancelling) and
      // already disarmed: whoever published it disarmed it before dropping its reference,
      // and its creator, which alone arms it, held a reference while arming.
      if (!is_done(state)) {
        if (n->kind == Kind::kTimer) timer_disarm(static_cast<TimerNode*>(c));
        remove_from_parent(c);
      }
      // Every child and pending callback holds a reference, so the list is empty here.
      release(c->cause);
      delete c->extras.load(std::memory_order_acquire);
      if (n->kind == Kind::kTimer) {
        static_cast<TimerNode*>(c)->~TimerNode();
      } else {
        c->~CancelNode();
      }
      free_cancellable(c);
      break;
    }
    case Kind::kValue: {
      auto* v = static_cast<ValueNode*>(n);
      const std::size_t align = v->ops->align;
      v->ops->destroy(v->value);
      v->~ValueNode();
      free_value_block(v, align);
      break;
    }
    case Kind::kWithoutCancel:
      delete n;
      break;
    case Kind::kBackground:
    case Kind::kTodo:
    case Kind::kNever:
      break;  // static
  }
}
}  // namespace

void destroy_chain(Node* n) noexcept {
  // Iterative: freeing the last handle of a chain of 100 000 contexts uses no stack.
  while (n != nullptr) {
    Node* parent = n->parent;
    free_node(n);
    if (parent == nullptr || parent->is_static ||
        parent->refs.fetch_sub(1, std::memory_order_acq_rel) != 1)
      return;
    n = parent;
  }
}

// ---- derivation --------------------------------------------------------------------------

namespace {
/// A new cancellable child of `parent` (two references: the Context and the canceller),
/// registered on the parent's anchor — or already done if the parent is.
template <class N>
N* make_cancellable(Node* parent, Kind kind, Nanos deadline, CauseRep* adopted_cause) {
  auto* n = ::new (allocate_cancellable()) N{};
  n->refs.store(2, std::memory_order_relaxed);
  n->kind = kind;
  n->is_static = false;
  n->parent = parent;
  retain(parent);
  n->anchor = n;
  n->values = parent->values;
  n->deadline = deadline;
  n->type = Link::Type::kChild;
  n->cause = adopted_cause;
  if constexpr (std::is_same_v<N, TimerNode>) {
    // TRICKY: before the node is linked, a cancel cascade can reach it and disarm it.
    n->heap_index.store(kNotArmed, std::memory_order_relaxed);
    n->timer_shard = timer_home_shard();
  }
  CancelNode* a = parent->anchor;
  if (std::uint32_t seen = a->state.load(std::memory_order_acquire); is_done(seen)) {
    // Done parents never change again (state and cause are final): no lock needed.
    release(n->cause);
    n->cause = retain(a->cause);
    n->state.store(code_of(seen) | kSettled, std::memory_order_relaxed);
  } else if (a->kind != Kind::kNever) {
    lock(a);
    std::uint32_t s = a->state.load(std::memory_order_relaxed);
    if (is_done(s)) {
      // Go's propagateCancel: a child of a done parent is done at birth, with its cause.
      CauseRep* inherited = retain(a->cause);
      unlock(a);
      release(n->cause);
      n->cause = inherited;
      n->state.store(code_of(s) | kSettled, std::memory_order_relaxed);
    } else {
      if (s & kObserved) [[unlikely]]
        n->state.store(kObserved, std::memory_order_relaxed);
      link_child(a, n);
      unlock(a);
      if (s & kObserved) [[unlikely]]
        notify(Event::kCreated, n);
    }
  }
  return n;
}
}  // namespace

namespace {
Nanos deadline_ns(Clock::time_point deadline) noexcept {
  return deadline == Clock::time_point::max()
             ? kNoDeadline
             : std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch())
                   .count();
}
}  // namespace

Derived<ScopedCancel> make_deadline(const Context& parent, Nanos deadline, Cause cause,
                                    bool known_future) {
  Node* p = Access::node(parent);
  // As Go: a deadline no earlier than the parent's adds nothing but cancellation.
  if (deadline == kNoDeadline || p->anchor->deadline < deadline) {
    auto* n = make_cancellable<CancelNode>(p, Kind::kCancel, p->anchor->deadline, nullptr);
    return {Access::context(n), ScopedCancel(Access::cancel_func(n))};
  }
  CauseRep* c = retain(Access::rep(cause));
  auto* t = make_cancellable<TimerNode>(p, Kind::kTimer, deadline, c);
  if (!is_done(t->state.load(std::memory_order_relaxed))) {
    // A deadline that has passed since the caller read the clock is fired by the timer
    // service (or by timer_arm itself, under a ManualClock) instead.
    if (!known_future && deadline <= now_ns()) {
      expire(t);
    } else {
      timer_arm(t);
    }
  }
  return {Access::context(t), ScopedCancel(Access::cancel_func(t))};
}

}  // namespace internal

Derived<ScopedCancel> with_cancel(const Context& parent) {
  internal::Node* p = internal::Access::node(parent);
  auto* n = internal::make_cancellable<internal::CancelNode>(p, internal::Kind::kCancel,
                                                             p->anchor->deadline, nullptr);
  return {internal::Access::context(n), ScopedCancel(internal::Access::cancel_func(n))};
}

Derived<ScopedCancelCause> with_cancel_cause(const Context& parent) {
  internal::Node* p = internal::Access::node(parent);
  auto* n = internal::make_cancellable<internal::CancelNode>(p, internal::Kind::kCancel,
                                                             p->anchor->deadline, nullptr);
  return {internal::Access::context(n), ScopedCancelCause(internal::Access::cancel_cause_func(n))};
}

Derived<ScopedCancel> with_deadline(const Context& parent, Clock::time_point deadline) {
  return with_deadline_cause(parent, deadline, Cause());
}

Derived<ScopedCancel> with_deadline_cause(const Context& parent, Clock::time_point deadline,
                                          Cause cause) {
  return internal::make_deadline(parent, internal::deadline_ns(deadline), std::move(cause));
}

Derived<ScopedCancelCause> with_deadline_cancel_cause(const Context& parent,
                                                      Clock::time_point deadline) {
  // make_deadline's node, handed out with a canceller that records a cause (a cancel
  // function's node is a cancel-cause function's: CancelCauseFunc only adds the cause).
  auto [ctx, cancel] = internal::make_deadline(parent, internal::deadline_ns(deadline), Cause());
  CancelFunc f = cancel.release();
  internal::CancelNode* n = internal::Access::release(f);
  return {std::move(ctx), ScopedCancelCause(internal::Access::cancel_cause_func(n))};
}

Context without_cancel(const Context& parent) {
  internal::Node* p = internal::Access::node(parent);
  auto* n = new internal::Node{{1}, internal::Kind::kWithoutCancel, false,
                               p,   &internal::never_node,          p->values};
  internal::retain(p);
  return internal::Access::context(n);
}

void CancelFunc::operator()() const noexcept {
  if (node_ != nullptr && !internal::is_settled(node_->state.load(std::memory_order_acquire)))
    internal::cancel_node(node_, static_cast<std::uint32_t>(errc::canceled), nullptr, false);
}

void CancelCauseFunc::operator()(Cause c) const noexcept {
  if (node_ != nullptr && !internal::is_settled(node_->state.load(std::memory_order_acquire)))
    internal::cancel_node(node_, static_cast<std::uint32_t>(errc::canceled),
                          internal::Access::rep(c), false);
}

Cause cause(const Context& ctx) {
  internal::CancelNode* a = internal::Access::node(ctx)->anchor;
  std::uint32_t code = internal::code_of(a->state.load(std::memory_order_acquire));
  if (code == 0) return Cause();
  internal::CauseRep* r = a->cause != nullptr ? a->cause : internal::cause_for(code);
  return internal::Access::cause(internal::retain(r));
}

void Context::throw_if_done() const {
  if (std::error_code ec = err()) throw ContextError(ec, cause(*this));
}

Clock::time_point now() noexcept {
  return Clock::time_point(std::chrono::nanoseconds(internal::now_ns()));
}

// ---- Done --------------------------------------------------------------------------------

void Done::wait() const {
  internal::wait_for_bits(anchor_, internal::kCodeMask, internal::kNoDeadline);
}

bool Done::wait_until_ns(internal::Nanos steady_deadline) const {
  return internal::wait_for_bits(anchor_, internal::kCodeMask, steady_deadline);
}

int Done::fd() const {
  using internal::Extras;
  if (anchor_->kind == internal::Kind::kNever) {
    // One descriptor for every never-done context; it is never written.
    static const int never_fd = internal::open_notifier().read;
    return never_fd;
  }
  Extras* x = anchor_->extras.load(std::memory_order_acquire);
  if (x == nullptr) {
    auto* fresh = new Extras{internal::open_notifier()};
    if (anchor_->extras.compare_exchange_strong(x, fresh, std::memory_order_seq_cst)) {
      x = fresh;
      // The canceller may have looked for the eventfd before we installed it.
      if (internal::is_done(anchor_->state.load(std::memory_order_seq_cst))) x->signal();
    } else {
      delete fresh;
    }
  }
  return x->fds.read;
}

// ---- after_func --------------------------------------------------------------------------

namespace internal {
void* CallbackBase::operator new(std::size_t size) {
  return size <= kNodeBlock ? allocate_cancellable() : ::operator new(size);
}

void CallbackBase::operator delete(void* p, std::size_t size) noexcept {
  if (size <= kNodeBlock) {
    free_cancellable(p);
  } else {
    ::operator delete(p);
  }
}

namespace {
void release_callback(CallbackBase* cb) noexcept {
  if (cb->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    CancelNode* a = cb->anchor;
    delete cb;
    release(a);
  }
}
}  // namespace

Registration register_callback(CancelNode* a, CallbackBase* cb) {
  cb->anchor = a;  // the registration keeps its context's node alive
  cb->phase.store(kPending, std::memory_order_relaxed);
  cb->type = Link::Type::kCallback;
  if (a->kind == Kind::kNever) {
    cb->refs.store(1, std::memory_order_relaxed);  // the handle only: it can never run
    return Access::registration(cb);
  }
  retain(a);
  cb->refs.store(2, std::memory_order_relaxed);  // the handle + the children list
  lock(a);
  const std::uint32_t state = a->state.load(std::memory_order_relaxed);
  if (is_done(state)) {
    unlock(a);
    cb->runner.store(this_thread_tag(), std::memory_order_relaxed);
    cb->phase.store(kRunning, std::memory_order_relaxed);
    run_callback(cb);
  } else {
    link_child(a, cb);
    unlock(a);
    if (state & kObserved) [[unlikely]]
      notify(Event::kCallback, a);
  }
  return Access::registration(cb);
}

[[noreturn]] void callback_threw(std::exception_ptr e) noexcept {
  std::string what = "an exception not derived from std::exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
  }
  std::fprintf(stderr, "tether: an after_func callback threw (terminating): %s\n", what.c_str());
  std::terminate();
}
}  // namespace internal

Registration::Registration(const Registration& o) noexcept : rep_(o.rep_) {
  if (rep_ != nullptr) rep_->refs.fetch_add(1, std::memory_order_relaxed);
}

Registration::~Registration() {
  if (rep_ != nullptr) internal::release_callback(rep_);
}

bool Registration::stop() const noexcept {
  if (rep_ == nullptr) return false;
  internal::CancelNode* a = rep_->anchor;
  if (a->kind == internal::Kind::kNever) {
    std::uint32_t p = internal::kPending;
    return rep_->phase.compare_exchange_strong(p, internal::kStopped, std::memory_order_acq_rel);
  }
  bool stopped = false;
  internal::lock(a);
  if (rep_->linked) {
    internal::unlink_child(a, rep_);
    rep_->phase.store(internal::kStopped, std::memory_order_relaxed);
    stopped = true;
  }
  internal::unlock(a);
  if (stopped) internal::release_callback(rep_);  // the list's reference
  return stopped;
}

bool Registration::stop_and_wait() const noexcept {
  if (stop()) return true;
  if (rep_ == nullptr) return false;
  std::uint64_t self = internal::this_thread_tag();
  std::uint32_t p = rep_->phase.load(std::memory_order_acquire);
  while ((p & internal::kPhaseMask) == internal::kRunning) {
    // On the thread that runs (or is about to run) the callback: waiting would deadlock.
    if (rep_->runner.load(std::memory_order_relaxed) == self) return false;
    if (!(p & internal::kPhaseWaiters)) {
      if (!rep_->phase.compare_exchange_weak(p, p | internal::kPhaseWaiters,
                                             std::memory_order_acquire))
        continue;
      p |= internal::kPhaseWaiters;
    }
    internal::futex_wait(rep_->phase, p, internal::kDoneBitset);
    p = rep_->phase.load(std::memory_order_acquire);
  }
  return false;
}

// ---- values ------------------------------------------------------------------------------

namespace internal {
namespace {
// Every kIndexStride-th value node holds a flattened index of every key visible from it,
// so a lookup walks at most kIndexStride-1 nodes and probes one open-addressed table.
// Beyond kMaxIndexedDepth no new indexes are built (memory stays O(n)); lookups from
// deeper nodes walk back to the deepest index.
constexpr std::uint32_t kIndexStride = 8;
constexpr std::uint32_t kMaxIndexedDepth = 4096;

std::uint32_t index_capacity(std::uint32_t keys) {
  std::uint32_t cap = 16;
  while (cap < keys * 2) cap *= 2;
  return cap;
}

void index_insert(IndexSlot* slots, std::uint32_t mask, const void* key, const ValueNode* n) {
  for (std::uint32_t i = index_slot(key, mask);; i = (i + 1) & mask) {
    if (slots[i].key == key) return;  // a newer value already shadows this one
    if (slots[i].key == nullptr) {
      slots[i] = {key, n};
      return;
    }
  }
}

std::size_t align_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }
}  // namespace

Node* make_value_node(Node* parent, const void* key, const char* key_name, const ValueOps* ops,
                      std::size_t size, std::size_t align, void (*construct)(void*, void*),
                      void* arg) {
  const ValueNode* prev = parent->values;
  std::uint32_t depth = prev != nullptr ? prev->depth + 1 : 1;
  bool indexed = depth % kIndexStride == 0 && depth <= kMaxIndexedDepth;
  std::uint32_t cap = indexed ? index_capacity(depth) : 0;

  std::size_t value_at = align_up(sizeof(ValueNode), align);
  std::size_t index_at = align_up(value_at + size, alignof(IndexSlot));
  std::size_t total = index_at + cap * sizeof(IndexSlot);
  void* mem = allocate_value_block(total, align);
  char* base = static_cast<char*>(mem);
  try {
    construct(base + value_at, arg);
  } catch (...) {
    free_value_block(mem, align);
    throw;
  }
  auto* v = ::new (mem) ValueNode{};
  v->refs.store(1, std::memory_order_relaxed);
  v->kind = Kind::kValue;
  v->parent = parent;
  retain(parent);
  v->anchor = parent->anchor;
  v->values = v;
  v->key = key;
  v->key_name = key_name;
  v->prev = prev;
  v->depth = depth;
  v->ops = ops;
  v->value = base + value_at;
  if (indexed) {
    auto* slots = reinterpret_cast<IndexSlot*>(base + index_at);
    for (std::uint32_t i = 0; i < cap; ++i) slots[i] = {nullptr, nullptr};
    std::uint32_t mask = cap - 1;
    // Newest first, so that the first key inserted is the one that shadows the others.
    for (const ValueNode* w = v; w != nullptr; w = w->prev) {
      if (w->index != nullptr && w != v) {
        for (std::uint32_t i = 0; i <= w->index_mask; ++i)
          if (w->index[i].key != nullptr)
            index_insert(slots, mask, w->index[i].key, w->index[i].node);
        break;
      }
      index_insert(slots, mask, w->key, w);
    }
    v->index = slots;
    v->index_mask = mask;
  }
  return v;
}

std::string describe_value_typename(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return std::string("<") + (status == 0 && name ? name.get() : type.name()) + ">";
}
}  // namespace internal

}  // namespace tether
