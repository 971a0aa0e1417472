// Driver: many transfers on one thread, each under its own context.
//
// States of a transfer (TransferState) and who moves it:
//
//   queued   start() (any thread) pushed it onto DriverImpl::incoming; the driver thread
//            picks it up and either finishes it at once (context already done, abandoned,
//            driver stopping) or adds its handle to the multi        → running
//   running  in the multi and in `running`; an after_func on its context pushes it onto
//            `ended` and wakes the loop (curl_multi_wakeup). The driver thread finishes it
//            when curl reports it DONE, when it is found on `ended`, or at stop → finished
//   finished hook stopped (stop_and_wait), handle removed from the multi and its options
//            restored, THEN `done` published under TransferState::mu: whoever sees done
//            owns the easy handle again.
//
// Only the driver thread touches the multi handle (curl_multi_wakeup excepted, which is
// thread-safe) and the fields marked "driver thread".
#include <curl/curl.h>

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "handle.hpp"
#include "tether/curl.hpp"
#include "tether/error.hpp"

namespace tether::curl::internal {

/// One transfer started on a Driver; shared by the Transfer handle and the driver.
struct TransferState {
  TransferState(Context c, CURL* e, Options options)
      : easy(e), ctx(std::move(c)), handle(e, std::move(options)) {}

  // Set by start() before the state is published, then read-only (handle: driver thread).
  std::weak_ptr<DriverImpl> driver;
  CURL* easy = nullptr;
  Context ctx;
  HandleOptions handle;

  // Driver thread only.
  Registration hook;   // after_func on ctx; stopped (and waited for) before finishing
  bool added = false;  // in the multi
  bool finished = false;

  std::atomic<bool> abandoned{false};  // its Transfer was destroyed before it finished

  // Completion; written under mu.
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> done{false};
  std::error_code result;
  std::exception_ptr exception;
  std::coroutine_handle<> waiter;  // a coroutine suspended on it
};

/// The driver's shared part: the multi handle, the queues and the loop.
struct DriverImpl {
  DriverImpl() : multi(curl_multi_init()) {}
  ~DriverImpl() { curl_multi_cleanup(multi); }
  DriverImpl(const DriverImpl&) = delete;
  DriverImpl& operator=(const DriverImpl&) = delete;

  void loop();
  void finish(const std::shared_ptr<TransferState>& s, std::error_code result);
  void add(const std::shared_ptr<TransferState>& s);
  void abandon_inline(const std::shared_ptr<TransferState>& s);
  void resume_waiters();
  void wake() noexcept { curl_multi_wakeup(multi); }

  CURLM* const multi;
  std::thread thread;
  std::atomic<std::thread::id> thread_id{};
  std::atomic<std::size_t> active{0};

  std::mutex mu;  // guards the three fields below
  std::vector<std::shared_ptr<TransferState>> incoming;
  std::vector<std::weak_ptr<TransferState>> ended;  // context done or abandoned
  bool stopping = false;

  // Driver thread only.
  std::unordered_map<CURL*, std::shared_ptr<TransferState>> running;
  std::vector<std::coroutine_handle<>> to_resume;
};

void DriverImpl::finish(const std::shared_ptr<TransferState>& s, std::error_code result) {
  if (s->finished) return;
  s->finished = true;
  s->hook.stop_and_wait();  // the hook touches `ended` and the multi: never after this
  s->hook = Registration();
  if (s->added) {
    curl_multi_remove_handle(multi, s->easy);  // mid-transfer: libcurl closes the connection
    running.erase(s->easy);
    s->added = false;
  }
  s->handle.restore();
  active.fetch_sub(1, std::memory_order_relaxed);  // before done: a waiter sees it counted
  std::coroutine_handle<> waiter;
  {
    std::lock_guard lock(s->mu);
    s->result = result;
    s->exception = s->handle.body_error();
    waiter = std::exchange(s->waiter, {});
    s->done.store(true, std::memory_order_release);
  }
  s->cv.notify_all();
  // Resumed later, when no container of the loop is being walked.
  if (waiter) to_resume.push_back(waiter);
}

void DriverImpl::add(const std::shared_ptr<TransferState>& s) {
  if (s->abandoned.load()) return finish(s, make_error_code(tether::errc::canceled));
  if (auto err = s->ctx.err()) return finish(s, err);
  if (CURLMcode mc = curl_multi_add_handle(multi, s->easy); mc != CURLM_OK)
    return finish(s, make_error_code(mc));
  s->added = true;
  running.emplace(s->easy, s);
  // TRICKY: if ctx ended between err() above and here, the hook runs at once, on this
  // thread, and merely queues the transfer; the next turn of the loop finishes it.
  s->hook = after_func(s->ctx, [this, weak = std::weak_ptr<TransferState>(s)] {
    {
      std::lock_guard lock(mu);
      ended.push_back(weak);
    }
    wake();
  });
}

void DriverImpl::abandon_inline(const std::shared_ptr<TransferState>& s) {
  if (!s->added && !s->finished) {  // still queued: take it off `incoming`
    std::lock_guard lock(mu);
    std::erase(incoming, s);
  }
  finish(s, make_error_code(tether::errc::canceled));
}

void DriverImpl::resume_waiters() {
  while (!to_resume.empty()) {
    auto batch = std::exchange(to_resume, {});
    for (auto handle : batch) handle.resume();
  }
}

void DriverImpl::loop() {
  thread_id.store(std::this_thread::get_id());
  for (;;) {
    std::vector<std::shared_ptr<TransferState>> adds;
    std::vector<std::weak_ptr<TransferState>> ends;
    bool stop = false;
    {
      std::lock_guard lock(mu);
      adds.swap(incoming);
      ends.swap(ended);
      stop = stopping;
    }
    const auto canceled = make_error_code(tether::errc::canceled);
    for (const auto& s : adds) {
      if (stop) {
        finish(s, canceled);
        continue;
      }
      try {
        add(s);
      } catch (const std::bad_alloc&) {  // after_func could not allocate its callback
        finish(s, make_error_code(CURLE_OUT_OF_MEMORY));
      }
    }
    for (const auto& weak : ends) {
      if (auto s = weak.lock(); s && !s->finished)
        finish(s, s->abandoned.load() ? canceled : s->ctx.err());
    }
    if (stop) {
      while (!running.empty()) {
        auto s = running.begin()->second;  // a copy: finish() erases the entry
        finish(s, canceled);
      }
      resume_waiters();
      return;
    }
    resume_waiters();

    int still_running = 0;
    curl_multi_perform(multi, &still_running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      auto it = running.find(msg->easy_handle);
      if (it == running.end()) continue;
      auto s = it->second;
      finish(s, transfer_result(s->ctx, msg->data.result));
    }
    resume_waiters();
    // Woken by the transfers' sockets, curl's timers, start() and the contexts' hooks.
    curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
}

void resume_when_done(const std::shared_ptr<TransferState>& state, std::coroutine_handle<> handle,
                      bool& suspended) {
  if (!state) return;
  std::lock_guard lock(state->mu);
  if (state->done.load(std::memory_order_relaxed)) return;
  state->waiter = handle;
  suspended = true;
}

std::error_code take_result(TransferState& state) {
  std::lock_guard lock(state.mu);
  if (state.exception) std::rethrow_exception(state.exception);
  return state.result;
}

}  // namespace tether::curl::internal

namespace tether::curl {

using internal::DriverImpl;
using internal::TransferState;

// ---- Transfer ---------------------------------------------------------------------------

Transfer& Transfer::operator=(Transfer&& other) noexcept {
  if (this != &other) {
    abandon();
    state_ = std::move(other.state_);
  }
  return *this;
}

Transfer::~Transfer() { abandon(); }

bool Transfer::ready() const noexcept {
  return !state_ || state_->done.load(std::memory_order_acquire);
}

bool Transfer::Awaiter::await_ready() const noexcept {
  return !state || state->done.load(std::memory_order_acquire);
}

std::error_code Transfer::wait() {
  if (!state_) return {};
  {
    std::unique_lock lock(state_->mu);
    state_->cv.wait(lock, [&] { return state_->done.load(std::memory_order_relaxed); });
  }
  return internal::take_result(*state_);
}

void Transfer::abandon() noexcept {
  if (!state_) return;
  {
    // A coroutine suspended on this transfer is being destroyed with it: never resume it.
    std::lock_guard lock(state_->mu);
    state_->waiter = {};
  }
  if (state_->done.load(std::memory_order_acquire)) {
    state_.reset();
    return;
  }
  auto impl = state_->driver.lock();
  if (impl) {
    if (impl->thread_id.load() == std::this_thread::get_id()) {
      impl->abandon_inline(state_);  // from a coroutine the driver resumed
    } else {
      state_->abandoned.store(true);
      {
        std::lock_guard lock(impl->mu);
        impl->ended.push_back(state_);
      }
      impl->wake();
      std::unique_lock lock(state_->mu);
      state_->cv.wait(lock, [&] { return state_->done.load(std::memory_order_relaxed); });
    }
  }
  state_.reset();
}

// ---- Driver -----------------------------------------------------------------------------

Driver::Driver() : impl_(std::make_shared<DriverImpl>()) {
  internal::global_init();
  if (impl_->multi == nullptr) throw std::system_error(make_error_code(CURLM_OUT_OF_MEMORY));
  impl_->thread = std::thread([impl = impl_.get()] { impl->loop(); });
}

Driver::~Driver() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake();
  impl_->thread.join();
}

Transfer Driver::start(const Context& ctx, CURL* easy, Options options) {
  auto s = std::make_shared<TransferState>(ctx, easy, std::move(options));
  s->driver = impl_;
  std::error_code early = ctx.err();  // already done: no connection at all
  if (!early && easy == nullptr) early = make_error_code(CURLE_BAD_FUNCTION_ARGUMENT);
  if (!early) early = s->handle.apply(ctx);
  if (early) {
    s->finished = true;
    s->result = early;
    s->done.store(true, std::memory_order_release);
    return Transfer(std::move(s));
  }
  impl_->active.fetch_add(1, std::memory_order_relaxed);
  try {
    std::lock_guard lock(impl_->mu);
    impl_->incoming.push_back(s);
  } catch (...) {
    impl_->active.fetch_sub(1, std::memory_order_relaxed);
    throw;  // s is dropped: ~HandleOptions puts the handle's options back
  }
  impl_->wake();
  return Transfer(std::move(s));
}

std::error_code Driver::perform(const Context& ctx, CURL* easy, Options options) {
  return start(ctx, easy, std::move(options)).wait();
}

std::size_t Driver::active() const noexcept {
  return impl_->active.load(std::memory_order_relaxed);
}

}  // namespace tether::curl
