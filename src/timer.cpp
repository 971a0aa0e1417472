// The shared timer service: every deadline of the process, one thread, one heap.
//
// A binary min-heap of TimerNode pointers ordered by deadline; each node knows its heap
// position, so arming and disarming are O(log n). The heap references its nodes weakly:
// a node whose last handle drops disarms itself (under the service mutex) before it is
// freed, and the service thread only fires a node it can still retain.
//
// The thread starts with the first armed deadline and then lives as long as the process
// (it sleeps on a condition variable when there is nothing to do). After fork(), the child
// gets a fresh mutex state and a new thread if deadlines are armed (pthread_atfork).
//
// With a ManualClock installed the thread fires nothing: ManualClock::advance() fires what
// is due on the caller's thread, in deadline order, before it returns.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "internal/tree.hpp"
#include "tether/context.hpp"

namespace tether::internal {
namespace {

std::atomic<bool> manual_active{false};
std::atomic<Nanos> manual_time{0};
// Manual time `manual_start` corresponds to wall time `manual_wall_start` (for describe()).
std::atomic<Nanos> manual_start{0};
std::atomic<std::int64_t> manual_wall_start{0};

class TimerService {
 public:
  static TimerService& instance() {
    // Deliberately leaked: the thread may still run while static destructors do.
    static TimerService* service = new TimerService;
    return *service;
  }

  void arm(TimerNode* t) {
    std::lock_guard lk(mu_);
    if (t->state.load(std::memory_order_acquire) & kCodeMask) return;
    if (index(t) != kNotArmed) return;
    heap_.push_back(t);
    set_index(t, heap_.size() - 1);
    sift_up(heap_.size() - 1);
    // Wake the thread only if it would otherwise sleep past this deadline; a thread that
    // wakes early for a deadline since disarmed just goes back to sleep.
    if (t->deadline < sleeping_until_) {
      sleeping_until_ = t->deadline;
      wake_.notify_one();
    }
    notify_changed();
    if (!thread_started_) start_thread();
  }

  void disarm(TimerNode* t) noexcept {
    std::lock_guard lk(mu_);
    if (index(t) == kNotArmed) return;
    remove_at(index(t));
    notify_changed();
  }

  std::size_t pending() {
    std::lock_guard lk(mu_);
    return heap_.size();
  }

  void wait_pending(std::size_t n) {
    std::unique_lock lk(mu_);
    ++pending_waiters_;
    changed_.wait(lk, [&] { return heap_.size() >= n; });
    --pending_waiters_;
  }

  void install_manual(Nanos start) {
    std::lock_guard lk(mu_);
    if (manual_) throw std::logic_error("tether::testing::ManualClock: one is already installed");
    manual_ = true;
    manual_time.store(start, std::memory_order_relaxed);
    manual_start.store(start, std::memory_order_relaxed);
    manual_wall_start.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count(),
                            std::memory_order_relaxed);
    manual_active.store(true, std::memory_order_release);
  }

  void uninstall_manual() noexcept {
    std::lock_guard lk(mu_);
    manual_ = false;
    manual_active.store(false, std::memory_order_release);
    sleeping_until_ = 0;
    wake_.notify_one();
  }

  /// Moves manual time to `t` and fires every deadline at or before it, on this thread.
  void advance_manual(Nanos t) {
    std::unique_lock lk(mu_);
    if (t > manual_time.load(std::memory_order_relaxed))
      manual_time.store(t, std::memory_order_release);
    Nanos now = manual_time.load(std::memory_order_relaxed);
    fire_due(lk, now);
  }

 private:
  TimerService() {
    pthread_atfork([] { instance().mu_.lock(); }, [] { instance().mu_.unlock(); },
                   [] { instance().after_fork_in_child(); });
  }

  void after_fork_in_child() {
    // Only the forking thread exists in the child: the service thread is gone.
    mu_.unlock();
    (void)thread_.release();  // its std::thread refers to a thread of the parent
    thread_started_ = false;
    std::lock_guard lk(mu_);
    if (!heap_.empty()) start_thread();
  }

  void start_thread() {  // under mu_
    thread_started_ = true;
    thread_ = std::make_unique<std::thread>([this] {
      pthread_setname_np(pthread_self(), "tether-timer");  // visible in top, gdb, /proc
      run();
    });
    thread_->detach();
  }

  void run() {
    std::unique_lock lk(mu_);
    for (;;) {
      if (manual_ || heap_.empty()) {
        sleeping_until_ = kNoDeadline;
        wake_.wait(lk);
        continue;
      }
      Nanos now = steady_now_ns();
      if (heap_[0]->deadline > now) {
        sleeping_until_ = heap_[0]->deadline;
        wake_.wait_until(
            lk, std::chrono::steady_clock::time_point(std::chrono::nanoseconds(sleeping_until_)));
        continue;
      }
      sleeping_until_ = 0;  // awake: arm() need not notify
      fire_due(lk, now);
    }
  }

  /// Fires, in deadline order, every armed node due at `now`. Drops the lock around each
  /// cancellation (which runs callbacks and may arm or disarm other timers).
  void fire_due(std::unique_lock<std::mutex>& lk, Nanos now) {
    while (!heap_.empty() && heap_[0]->deadline <= now) {
      TimerNode* t = heap_[0];
      remove_at(0);
      notify_changed();
      // A node whose count reached zero is being freed; it disarms itself, nothing to do.
      if (!try_retain(t)) continue;
      lk.unlock();
      expire(t);
      release(t);
      lk.lock();
    }
  }

  void notify_changed() {  // under mu_
    if (pending_waiters_ != 0) changed_.notify_all();
  }

  // ---- the heap (under mu_) ----
  static std::size_t index(const TimerNode* t) {
    return t->heap_index.load(std::memory_order_relaxed);
  }
  static void set_index(TimerNode* t, std::size_t i) {
    t->heap_index.store(i, std::memory_order_release);
  }
  bool less(std::size_t a, std::size_t b) const { return heap_[a]->deadline < heap_[b]->deadline; }
  void swap_at(std::size_t a, std::size_t b) {
    std::swap(heap_[a], heap_[b]);
    set_index(heap_[a], a);
    set_index(heap_[b], b);
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
      if (l < heap_.size() && less(l, m)) m = l;
      if (r < heap_.size() && less(r, m)) m = r;
      if (m == i) return;
      swap_at(i, m);
      i = m;
    }
  }
  void remove_at(std::size_t i) {
    TimerNode* t = heap_[i];
    std::size_t last = heap_.size() - 1;
    if (i != last) swap_at(i, last);
    heap_.pop_back();
    set_index(t, kNotArmed);
    if (i < heap_.size()) {
      sift_down(i);
      sift_up(i);
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;     // the service thread: a new earliest deadline, a mode change
  std::condition_variable changed_;  // wait_pending(): the number of armed deadlines changed
  std::vector<TimerNode*> heap_;
  Nanos sleeping_until_ = 0;         // when the thread will next look at the heap (0: awake)
  std::size_t pending_waiters_ = 0;  // threads in wait_pending()
  bool manual_ = false;
  bool thread_started_ = false;
  std::unique_ptr<std::thread> thread_;
};

}  // namespace

void timer_arm(TimerNode* t) { TimerService::instance().arm(t); }
void timer_disarm(TimerNode* t) noexcept {
  // Fast path without the service mutex: a node is armed (index set under the mutex) by
  // the thread that created it, before any other thread can cancel or free it, and only
  // the service itself unarms it; so "not armed" seen here is final.
  if (t->heap_index.load(std::memory_order_acquire) == kNotArmed) return;
  TimerService::instance().disarm(t);
}
std::size_t timer_pending() noexcept { return TimerService::instance().pending(); }
void timer_wait_pending(std::size_t n) { TimerService::instance().wait_pending(n); }

Nanos now_ns() noexcept {
  if (manual_active.load(std::memory_order_acquire))
    return manual_time.load(std::memory_order_acquire);
  return steady_now_ns();
}

void manual_install(Nanos start) { TimerService::instance().install_manual(start); }
void manual_uninstall() noexcept { TimerService::instance().uninstall_manual(); }
void manual_advance_to(Nanos t) { TimerService::instance().advance_manual(t); }
Nanos manual_now() noexcept { return manual_time.load(std::memory_order_acquire); }

std::int64_t wall_ns_at(Nanos t) noexcept {
  if (manual_active.load(std::memory_order_acquire))
    return manual_wall_start.load(std::memory_order_relaxed) +
           (t - manual_start.load(std::memory_order_relaxed));
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() +
         (t - steady_now_ns());
}

}  // namespace tether::internal
