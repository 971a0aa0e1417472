// The shared timer service: every deadline of the process, one thread, sharded heaps.
//
// Deadlines live in kShards binary min-heaps of (deadline, TimerNode*) entries; each node
// knows its shard and its heap position, so arming is O(log n) and disarming O(1)
// amortized (lazy: see Shard), each under that shard's lock only. A thread arms into its
// own shard (assigned round-robin at its first deadline), so threads that create and
// cancel timeouts concurrently do not contend — Go keeps a timer heap per P for the same
// reason. The heaps reference their nodes weakly: a node whose last handle drops disarms
// itself (under its shard's lock) before it is freed, unless it is done (then whoever
// published it has disarmed it), and the service thread only fires a node it can still
// retain.
//
// One thread serves every shard. It sleeps until the earliest deadline of all shards;
// arm() wakes it only when the new deadline is earlier than that (`wake_hint_` lets arm()
// skip even the wake mutex in the common case of a later deadline). The thread starts
// with the first armed deadline and then lives as long as the process. After fork(), the
// child gets fresh lock states and a new thread if deadlines are armed (pthread_atfork).
//
// Lock order: wake_mu_ before any shard lock; arm() holds no shard lock when it takes
// wake_mu_.
//
// The clock is a seam: tether reads time through `installed_clock`, a table of functions set once
// per install — the steady clock's by default, a test clock's (tether::testing::ManualClock, in
// testing/) while one is installed. The production path loads that pointer and calls through it; it
// never asks whether a test clock is there. While one is, the thread fires nothing: the clock's
// owner fires what is due with timer_fire_due() (ManualClock::advance, on the caller's thread, in
// deadline order across shards, before it returns).
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "internal/futex.hpp"
#include "internal/tree.hpp"
#include "tether/context.hpp"

namespace tether::internal {
namespace {

// ---- the steady clock, tether's clock unless a test installs another ----
std::int64_t steady_wall_ns_at(Nanos t) noexcept {
  // One offset between the steady and the system clock, read once: the same deadline
  // always maps to the same wall time (describe() prints it identically every time), as
  // Go's deadline keeps the wall reading taken when it was made.
  static const std::int64_t offset = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count() -
                                     steady_now_ns();
  return t + offset;
}
// The steady clock's time does not jump: a deadline armed in the past is fired by the
// service thread, which is awake or woken by arm().
void steady_armed(TimerNode*) noexcept {}
constexpr ClockSource kSteadyClock{&steady_now_ns, &steady_wall_ns_at, &steady_armed};

std::atomic<const ClockSource*> installed_clock{&kSteadyClock};

constexpr std::uint32_t kShards = 8;

/// A shard's lock: one word; taking and releasing it uncontended is one atomic operation
/// each (std::mutex: about 60 instructions the round trip, on every arm and disarm).
/// Contended, it spins briefly, then sleeps on a futex (Drepper's three-state mutex:
/// 0 free, 1 locked, 2 locked and someone may sleep). BasicLockable, for std::lock_guard.
class ShardLock {
 public:
  void lock() noexcept {
    std::uint32_t expected = 0;
    if (!word_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                       std::memory_order_relaxed))
      lock_contended();
  }
  void unlock() noexcept {
    if (word_.exchange(0, std::memory_order_release) == 2) futex_wake(word_, kLockBitset, 1);
  }

 private:
  void lock_contended() noexcept {
    for (int spin = 0; spin < 100; ++spin) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      std::uint32_t expected = 0;
      if (word_.load(std::memory_order_relaxed) == 0 &&
          word_.compare_exchange_weak(expected, 1, std::memory_order_acquire,
                                      std::memory_order_relaxed))
        return;
    }
    // Taken with 2 from here on: we cannot know whether other sleepers remain.
    while (word_.exchange(2, std::memory_order_acquire) != 0) futex_wait(word_, 2, kLockBitset);
  }

  std::atomic<std::uint32_t> word_{0};
};

/// One slot of a shard's heap: the deadline is kept inline, so that comparisons read only
/// the heap's own array, and `node` is null once the deadline was disarmed (see Shard).
struct Entry {
  Nanos deadline;
  TimerNode* node;
};

/// A shard's heap has this many disarmed entries at least before it is compacted.
constexpr std::size_t kCompactAtLeast = 64;

/// One heap of armed deadlines and its lock.
///
/// Disarming is lazy, as in Go's timer heap: it clears the entry's node pointer and sets
/// the node's heap_index to kNotArmed in O(1), and leaves the entry (with its deadline, so
/// the heap order holds) to be dropped later — at once if it is the last one, when it
/// reaches the root and the service thread looks at the heap, or when disarmed entries
/// make up three quarters of the heap (one O(n) compaction per 3n/4 disarms). So
/// cancelling many live timeouts costs the same per cancel whatever the order, where eager
/// removal of the earliest one sifts through every level of the heap. Why three quarters:
/// a compaction rewrites the heap_index of every node it keeps, and with a million live
/// timeouts each of those is a cache miss; compacting at a quarter kept 3 nodes per cancel
/// (amortized), at three quarters 1/3 (oldest-first cancel at n = 1e6 went from
/// 2.6x to about 1.5x the cost at n = 1e3). The price: a heap holds up to 4 entries (16
/// bytes each) per armed deadline instead of 4/3.
///
/// The usual compaction writes no node at all: equal timeouts armed in turn make a sorted
/// heap, and cancelled oldest first (the order requests end in) their disarmed entries are
/// its front. Dropping that prefix keeps a sorted array sorted, hence a heap; a node's
/// heap_index holds its position plus `base`, and advancing `base` by the prefix's length
/// keeps every kept node's recorded position right (drop_disarmed_prefix).
struct alignas(64) Shard {
  ShardLock mu;
  std::vector<Entry> heap;   // under mu
  std::size_t disarmed = 0;  // under mu: entries whose node is null
  std::size_t base = 0;      // under mu: added to positions recorded in nodes' heap_index

  /// t's position in this heap (t armed here), or kNotArmed.
  std::size_t index(const TimerNode* t) const {
    std::size_t recorded = t->heap_index.load(std::memory_order_relaxed);
    return recorded == kNotArmed ? kNotArmed : recorded - base;
  }
  void set_index(TimerNode* t, std::size_t i) {
    t->heap_index.store(i == kNotArmed ? kNotArmed : i + base, std::memory_order_release);
  }
  void place(std::size_t i, Entry e) {
    heap[i] = e;
    if (e.node != nullptr) set_index(e.node, i);
  }
  bool less(std::size_t a, std::size_t b) const { return heap[a].deadline < heap[b].deadline; }
  void swap_at(std::size_t a, std::size_t b) {
    Entry e = heap[a];
    place(a, heap[b]);
    place(b, e);
  }
  void sift_up(std::size_t i) {
    while (i > 0) {
      std::size_t parent = (i - 1) / 2;
      if (!less(i, parent)) break;
      swap_at(i, parent);
      i = parent;
    }
  }
  void sift_down(std::size_t i) {
    for (;;) {
      std::size_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < heap.size() && less(l, m)) m = l;
      if (r < heap.size() && less(r, m)) m = r;
      if (m == i) return;
      swap_at(i, m);
      i = m;
    }
  }
  void push(TimerNode* t) {
    heap.push_back({t->deadline, t});
    set_index(t, heap.size() - 1);
    sift_up(heap.size() - 1);
  }
  /// Removes the entry at i (armed or disarmed); an armed node becomes not armed.
  void remove_at(std::size_t i) {
    Entry e = heap[i];
    std::size_t last = heap.size() - 1;
    if (i != last) swap_at(i, last);
    heap.pop_back();
    if (e.node != nullptr) {
      set_index(e.node, kNotArmed);
    } else {
      --disarmed;
    }
    if (i < heap.size()) {
      sift_down(i);
      sift_up(i);
    }
  }
  /// Disarms t, which is armed in this heap at i: O(1) amortized.
  void disarm_at(std::size_t i, TimerNode* t) {
    set_index(t, kNotArmed);
    heap[i].node = nullptr;
    ++disarmed;
    // Disarmed entries at the end are leaves: dropping them keeps the heap order.
    while (!heap.empty() && heap.back().node == nullptr) {
      heap.pop_back();
      --disarmed;
    }
    if (disarmed >= kCompactAtLeast && disarmed * 4 >= heap.size() * 3) compact();
  }
  /// Drops every disarmed entry and restores the heap order: O(n).
  void compact() {
    if (drop_disarmed_prefix()) return;
    std::size_t kept = 0;
    bool sorted = true;  // the usual case (equal timeouts armed in turn): already a heap
    for (const Entry& e : heap) {
      if (e.node == nullptr) continue;
      if (kept > 0 && e.deadline < heap[kept - 1].deadline) sorted = false;
      place(kept++, e);
    }
    heap.resize(kept);
    disarmed = 0;
    if (!sorted)
      for (std::size_t i = kept / 2; i-- > 0;) sift_down(i);
  }
  /// compact() without writing a node, when every disarmed entry is at the front and the
  /// rest is sorted (see Shard): O(n) in the heap's own array only. False: not that case.
  bool drop_disarmed_prefix() {
    std::size_t prefix = 0;
    while (prefix < heap.size() && heap[prefix].node == nullptr) ++prefix;
    if (prefix != disarmed) return false;
    for (std::size_t i = prefix + 1; i < heap.size(); ++i)
      if (heap[i].deadline < heap[i - 1].deadline) return false;
    heap.erase(heap.begin(), heap.begin() + static_cast<std::ptrdiff_t>(prefix));
    base += prefix;
    disarmed = 0;
    return true;
  }
  /// The armed deadlines in this heap.
  std::size_t armed() const { return heap.size() - disarmed; }
  /// Drops disarmed entries from the root; then the earliest armed deadline.
  Nanos earliest() {
    while (!heap.empty() && heap[0].node == nullptr) remove_at(0);
    return heap.empty() ? kNoDeadline : heap[0].deadline;
  }
};

class TimerService {
 public:
  static TimerService& instance() {
    // Deliberately leaked: the thread may still run while static destructors do.
    static TimerService* service = new TimerService;
    return *service;
  }

  /// Returns false if t was not armed (already done, or already armed).
  bool arm(TimerNode* t) {
    Shard& sh = shards_[t->timer_shard];
    {
      std::lock_guard lk(sh.mu);
      // Under the shard lock, as disarm() decides: a cancel that published "done" before
      // this point disarms nothing and is seen here; one after it finds t in the heap.
      if (is_done(t->state.load(std::memory_order_acquire))) return false;
      if (sh.index(t) != kNotArmed) return false;
      sh.push(t);
    }
    // A waiter in wait_pending() registers before it counts the heaps under their locks,
    // so either it counts t or this load sees it (the shard lock orders the two).
    // Fast path: the thread will look at the heaps before this deadline anyway.
    if (t->deadline >= wake_hint_.load(std::memory_order_acquire) && pending_waiters_ == 0)
      return true;
    std::lock_guard lk(wake_mu_);
    if (t->deadline < sleeping_until_) {
      sleeping_until_ = t->deadline;
      wake_.notify_one();
    }
    if (pending_waiters_ != 0) changed_.notify_all();
    if (!thread_started_) start_thread();
    return true;
  }

  void disarm(TimerNode* t) noexcept {
    Shard& sh = shards_[t->timer_shard];
    std::lock_guard lk(sh.mu);
    if (std::size_t i = sh.index(t); i != kNotArmed) sh.disarm_at(i, t);
  }

  /// The number of armed deadlines, counted under each shard's lock (tests only: nothing
  /// on the arm/disarm paths keeps a process-wide count).
  std::size_t pending() {
    std::size_t n = 0;
    for (Shard& sh : shards_) {
      std::lock_guard lk(sh.mu);
      n += sh.armed();
    }
    return n;
  }

  void wait_pending(std::size_t n) {
    std::unique_lock lk(wake_mu_);
    ++pending_waiters_;
    wake_hint_.store(INT64_MIN, std::memory_order_release);  // every arm() now notifies
    changed_.wait(lk, [&] { return pending() >= n; });
    if (--pending_waiters_ == 0 && sleeping_until_ != INT64_MIN)
      wake_hint_.store(sleeping_until_, std::memory_order_release);
  }

  /// Makes `c` the clock; from now on the thread fires nothing.
  void install_clock(const ClockSource* c) {
    std::lock_guard lk(wake_mu_);
    if (clock_installed_)
      throw std::logic_error("tether::testing::ManualClock: one is already installed");
    clock_installed_ = true;
    installed_clock.store(c, std::memory_order_release);
  }

  /// Back to the steady clock; the thread wakes and fires what is due by it.
  void uninstall_clock() noexcept {
    std::lock_guard lk(wake_mu_);
    clock_installed_ = false;
    installed_clock.store(&kSteadyClock, std::memory_order_release);
    sleeping_until_ = INT64_MIN;  // awake
    wake_hint_.store(kNoDeadline, std::memory_order_release);
    wake_.notify_one();
  }

  /// Fires every deadline at or before `now`, on this thread (for an installed clock).
  void fire_due_now(Nanos now) { fire_due(now); }

 private:
  TimerService() {
    pthread_atfork([] { instance().lock_all(); }, [] { instance().unlock_all(); },
                   [] { instance().after_fork_in_child(); });
  }

  void lock_all() {
    wake_mu_.lock();
    for (Shard& sh : shards_) sh.mu.lock();
  }
  void unlock_all() {
    for (Shard& sh : shards_) sh.mu.unlock();
    wake_mu_.unlock();
  }

  void after_fork_in_child() {
    // Only the forking thread exists in the child: the service thread is gone.
    unlock_all();
    (void)thread_.release();  // its std::thread refers to a thread of the parent
    thread_started_ = false;
    std::lock_guard lk(wake_mu_);
    sleeping_until_ = INT64_MIN;
    wake_hint_.store(kNoDeadline, std::memory_order_release);
    if (pending() != 0) start_thread();
  }

  void start_thread() {  // under wake_mu_
    thread_started_ = true;
    thread_ = std::make_unique<std::thread>([this] {
      pthread_setname_np(pthread_self(), "tether-timer");  // visible in top, gdb, /proc
      run();
    });
    thread_->detach();
  }

  Nanos earliest_of_all() {
    Nanos e = kNoDeadline;
    for (Shard& sh : shards_) {
      std::lock_guard lk(sh.mu);
      e = std::min(e, sh.earliest());
    }
    return e;
  }

  void run() {
    std::unique_lock lk(wake_mu_);
    for (;;) {
      // While we scan, every arm() must take wake_mu_ (and so wait until we sleep), or a
      // deadline armed mid-scan could be missed.
      wake_hint_.store(kNoDeadline, std::memory_order_release);
      Nanos earliest = clock_installed_ ? kNoDeadline : earliest_of_all();
      Nanos now = steady_now_ns();
      if (earliest <= now) {
        sleeping_until_ = INT64_MIN;  // awake: arm() need not notify
        lk.unlock();
        fire_due(now);
        lk.lock();
        continue;
      }
      sleeping_until_ = earliest;
      if (pending_waiters_ == 0) wake_hint_.store(earliest, std::memory_order_release);
      if (earliest == kNoDeadline) {
        wake_.wait(lk);
      } else {
        wake_.wait_until(lk,
                         std::chrono::steady_clock::time_point(std::chrono::nanoseconds(earliest)));
      }
    }
  }

  /// Fires, in deadline order across the shards, every armed node due at `now`. Holds no
  /// lock while cancelling (which runs callbacks and may arm or disarm other timers).
  void fire_due(Nanos now) {
    for (;;) {
      Shard* from = nullptr;  // the shard whose head is due first
      Nanos earliest = kNoDeadline;
      for (Shard& sh : shards_) {
        std::lock_guard lk(sh.mu);
        // Only the entry's own deadline is read: never a node seen under another lock.
        if (!sh.heap.empty() && sh.heap[0].deadline <= now &&
            (from == nullptr || sh.heap[0].deadline < earliest)) {
          earliest = sh.heap[0].deadline;
          from = &sh;
        }
      }
      if (from == nullptr) return;
      TimerNode* t = nullptr;
      {
        // TRICKY: take the head again under its own lock, never a node seen under another
        // shard's lock: once that lock is released, the node may be disarmed and freed.
        std::lock_guard lk(from->mu);
        if (from->heap.empty() || from->heap[0].deadline > now) continue;  // changed meanwhile
        t = from->heap[0].node;  // null: disarmed, only the entry is left to drop
        from->remove_at(0);
        // A node whose count reached zero is being freed; it disarms itself, nothing to do.
        if (t != nullptr && !try_retain(t)) t = nullptr;
      }
      if (t != nullptr) {
        expire(t);
        release(t);
      }
    }
  }

  Shard shards_[kShards];
  std::mutex wake_mu_;
  std::condition_variable wake_;     // the service thread: an earlier deadline, a mode change
  std::condition_variable changed_;  // wait_pending(): the number of armed deadlines changed
  std::atomic<Nanos> wake_hint_{kNoDeadline};  // arm() may skip wake_mu_ for deadlines >= this
  Nanos sleeping_until_ = INT64_MIN;     // under wake_mu_: when the thread next looks (MIN: awake)
  std::atomic<int> pending_waiters_{0};  // written under wake_mu_; threads in wait_pending()
  bool clock_installed_ = false;         // under wake_mu_: a test clock, not the steady one
  bool thread_started_ = false;          // under wake_mu_
  std::unique_ptr<std::thread> thread_;
};

}  // namespace

std::uint32_t timer_home_shard() noexcept {
  static std::atomic<std::uint32_t> next{0};
  thread_local std::uint32_t shard = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shard;
}

void timer_arm(TimerNode* t) {
  if (!TimerService::instance().arm(t)) return;
  installed_clock.load(std::memory_order_acquire)->armed(t);
}
// No lock-free "not armed" shortcut: timer_arm may be pushing t on its creator's thread
// while a cancel cascade disarms it on another; only the shard lock orders the two.
void timer_disarm(TimerNode* t) noexcept { TimerService::instance().disarm(t); }
std::size_t timer_pending() noexcept { return TimerService::instance().pending(); }
void timer_wait_pending(std::size_t n) { TimerService::instance().wait_pending(n); }

Nanos now_ns() noexcept { return installed_clock.load(std::memory_order_acquire)->now(); }
std::int64_t wall_ns_at(Nanos t) noexcept {
  return installed_clock.load(std::memory_order_acquire)->wall_ns_at(t);
}

void clock_install(const ClockSource* c) { TimerService::instance().install_clock(c); }
void clock_uninstall() noexcept { TimerService::instance().uninstall_clock(); }
void timer_fire_due(Nanos now) { TimerService::instance().fire_due_now(now); }

}  // namespace tether::internal
