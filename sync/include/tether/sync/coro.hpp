// tether/sync/coro.hpp — `co_await ctx.done()` in C++20 coroutines.
//
// A coroutine suspends until its context is done, like a goroutine blocked in
// `<-ctx.Done()`, without holding a thread:
//
//   #include <tether/sync/coro.hpp>
//   MyTask watch(tether::Context ctx) {
//     co_await ctx.done();                        // suspends; resumes when ctx ends
//     log("stopped: {}", ctx.err().message());
//   }
//
// `operator co_await(tether::Done)` is a free function found by argument-dependent lookup,
// so any coroutine type (whatever its promise) can await a Done. Awaiting a Done that is
// already ready does not suspend.
//
// Race-freedom: the awaiter registers a callback on the context (an after_func), and two
// parties then race — the suspending coroutine (returning from await_suspend) and the
// callback (the context becoming done). Each marks an atomic flag; the second to arrive
// resumes the coroutine. If the context is done before or during registration, the
// coroutine simply does not suspend. Either way it resumes exactly once.
//
// THE EXECUTOR RULE (where the coroutine resumes):
//   * `co_await ctx.done()` resumes INLINE on the thread that made the context done: the
//     thread calling the canceller (inside cancel(), after the subtree is cancelled and
//     with no lock held), the shared timer thread for a deadline, or the awaiting thread
//     itself if the context was done already. This is the cheapest option and what
//     std::stop_callback does, but it lends that thread to your coroutine until its next
//     suspension: cancel() does not return, and no other deadline in the process fires,
//     until then. Use it only when the code after the co_await is short and non-blocking
//     (e.g. it posts the rest of the work to its own executor, or finishes), and only when
//     the coroutine frame is not destroyed concurrently by its owner on another thread.
//   * `co_await tether::resume_on(ctx.done(), post)` calls `post(handle)` instead, on the
//     same thread; `post` must schedule `handle.resume()` on your executor (an event loop,
//     a thread pool, asio::post ...) and return promptly. Prefer it whenever the frame's
//     owner may destroy the frame, or the continuation may block.
//
// Destroying a coroutine suspended in `co_await ctx.done()` unregisters the callback
// (waiting for one that is already running on another thread). Destroying it while the
// context is being cancelled concurrently is a race, as with any awaitable; with
// resume_on, destroy frames on the executor that resumes them.
// A coroutine awaiting a context that is never cancelled (background()) never resumes.
//
// Thread safety: the awaiter is used by one coroutine; the context may be cancelled from
// any thread at any time.
//
// What blocks: nothing. Awaiting suspends the coroutine, never a thread.
#pragma once

#include <atomic>
#include <concepts>
#include <coroutine>
#include <utility>

#include "tether/context.hpp"

namespace tether {

/// The default resumption policy: resume inline on the thread that completes the context.
struct ResumeInline {
  void operator()(std::coroutine_handle<> h) const { h.resume(); }
};

/// The awaiter behind `co_await done` and `co_await resume_on(done, post)`.
/// `Post` is called (once) with the suspended coroutine's handle when the context is done.
template <class Post>
requires std::invocable<Post&, std::coroutine_handle<>>
class DoneAwaiter {
 public:
  DoneAwaiter(Done done, Post post) : done_(done), post_(std::move(post)) {}
  DoneAwaiter(const DoneAwaiter&) = delete;
  DoneAwaiter& operator=(const DoneAwaiter&) = delete;
  /// Unregisters the callback if it has not run (waits for one running on another thread).
  ~DoneAwaiter() { registration_.stop_and_wait(); }

  bool await_ready() const noexcept { return done_.ready(); }

  /// Returns false (do not suspend) if the context became done while registering.
  bool await_suspend(std::coroutine_handle<> h) {
    handle_ = h;
    registration_ = internal::register_callback(internal::Access::anchor(done_),
                                                new internal::Callback<Wake>(Wake{this}));
    // TRICKY: the callback may already have run (inline, above, or on another thread).
    // Whoever sets arrived_ second resumes; if that is us, we simply do not suspend.
    return !arrived_.exchange(true, std::memory_order_acq_rel);
  }

  void await_resume() const noexcept {}

 private:
  struct Wake {
    DoneAwaiter* self;
    void operator()() const {
      if (!self->arrived_.exchange(true, std::memory_order_acq_rel)) return;  // first
      // Second: the coroutine is suspended. After post/resume `self` may be gone.
      std::coroutine_handle<> h = self->handle_;
      self->post_(h);
    }
  };

  Done done_;
  Post post_;
  std::coroutine_handle<> handle_;
  std::atomic<bool> arrived_{false};
  Registration registration_;
};

/// `co_await ctx.done()`: suspends until the context is done and resumes INLINE on the
/// thread that completed it (see the executor rule in the header comment).
inline DoneAwaiter<ResumeInline> operator co_await(Done done) {
  return DoneAwaiter<ResumeInline>(done, ResumeInline{});
}

/// An awaitable that resumes through `post(handle)` (called on the thread that completed
/// the context; it must schedule handle.resume() and return promptly):
///
///   co_await tether::resume_on(ctx.done(), [&pool](std::coroutine_handle<> h) {
///     pool.submit([h] { h.resume(); });
///   });
template <class Post>
requires std::invocable<Post&, std::coroutine_handle<>> DoneAwaiter<Post> resume_on(Done done,
                                                                                    Post post) {
  return DoneAwaiter<Post>(done, std::move(post));
}

}  // namespace tether
