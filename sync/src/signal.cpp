// signal.cpp — the process-wide signal hub behind tether::signal_context.
//
// A self-pipe: the async-signal handler writes one byte (the signal number) to a
// non-blocking pipe; one watcher thread reads it and cancels the listening contexts.
// The hub is created on first use and never destroyed (no static-destruction race with a
// handler or the watcher at exit).
#include "tether/sync/signal.hpp"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace tether {
namespace {

constexpr int kMaxSignal = 255;  // one byte on the pipe; byte 0 wakes the watcher
std::atomic<int> g_pipe_write{-1};

// The only code that runs in signal context: async-signal-safe (write) and errno-neutral.
extern "C" void on_signal(int signo) {
  int saved = errno;
  unsigned char byte = static_cast<unsigned char>(signo);
  ssize_t n = ::write(g_pipe_write.load(std::memory_order_relaxed), &byte, 1);
  (void)n;  // a full pipe already holds pending wake-ups; nothing else is safe to do here
  errno = saved;
}

std::string signal_name(int signo) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* abbrev = ::sigabbrev_np(signo)) return std::string("SIG") + abbrev;
#endif
  return "signal " + std::to_string(signo);
}

class SignalCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tether.signal"; }
  std::string message(int signo) const override { return signal_name(signo); }
};

struct Subscription {
  std::uint64_t id;
  std::vector<int> signals;
  CancelCauseFunc cancel;
};

class SignalHub {
 public:
  SignalHub() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category());
    ::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    read_fd_ = fds[0];
    g_pipe_write.store(fds[1], std::memory_order_relaxed);
  }

  std::uint64_t subscribe(const std::vector<int>& signals, CancelCauseFunc cancel) {
    std::unique_lock<std::mutex> lock(mu_);
    // While the last stop() joins the watcher, wait (only one watcher may read the pipe) —
    // unless this IS that watcher, subscribing from a callback: it is not reading, so
    // ensure_watcher may start its successor, and it exits after its dispatch.
    const auto self = std::this_thread::get_id();
    stopped_.wait(lock, [&] { return !stopping_ || joining_ == self; });
    ensure_watcher(lock);
    std::uint64_t id = ++next_id_;
    for (int s : signals) {
      if (counts_[s]++ == 0) {
        struct sigaction sa {};
        sa.sa_handler = &on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (::sigaction(s, &sa, &previous_[s]) != 0) {
          int err = errno;
          --counts_[s];
          for (int t : signals) {  // undo the signals already installed for this id
            if (t == s) break;
            if (--counts_[t] == 0) ::sigaction(t, &previous_[t], nullptr);
          }
          throw std::system_error(err, std::generic_category(), "tether::signal_context");
        }
      }
    }
    subs_.push_back(Subscription{id, signals, std::move(cancel)});
    return id;
  }

  void unsubscribe(std::uint64_t id) {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = std::find_if(subs_.begin(), subs_.end(), [&](const auto& s) { return s.id == id; });
    if (it == subs_.end()) return;
    for (int s : it->signals) {
      if (--counts_[s] == 0) ::sigaction(s, &previous_[s], nullptr);
    }
    subs_.erase(it);
    if (!subs_.empty() || !running_) return;
    running_ = false;
    if (watcher_id_ == std::this_thread::get_id()) return;  // exits after its dispatch
    // Wake the watcher so it sees running_ == false, and join it. New subscribers wait
    // (stopping_) so that only one watcher ever reads the pipe.
    stopping_ = true;
    joining_ = watcher_id_;
    wake();
    std::thread old = std::move(watcher_);
    lock.unlock();
    old.join();
    lock.lock();
    stopping_ = false;
    joining_ = std::thread::id();
    stopped_.notify_all();
  }

 private:
  void wake() {
    unsigned char zero = 0;
    ssize_t n = ::write(g_pipe_write.load(std::memory_order_relaxed), &zero, 1);
    (void)n;  // if the pipe is full, the watcher is awake anyway
  }

  void ensure_watcher(std::unique_lock<std::mutex>& lock) {
    while (!running_) {
      if (watcher_.joinable()) {
        if (watcher_id_ == std::this_thread::get_id()) {
          running_ = true;  // a callback on the watcher re-subscribes: it keeps running
          return;
        }
        // A watcher that stopped itself (last stop() ran on it) and is exiting: join it.
        std::thread old = std::move(watcher_);
        lock.unlock();
        old.join();
        lock.lock();
        continue;
      }
      running_ = true;
      watcher_ = std::thread([this] { watch(); });
      watcher_id_ = watcher_.get_id();  // before the new thread can take mu_
    }
  }

  void watch() {
    std::array<unsigned char, 64> buf;
    for (;;) {
      ssize_t n = ::read(read_fd_, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[static_cast<std::size_t>(i)] != 0) dispatch(buf[static_cast<std::size_t>(i)]);
      }
      std::lock_guard<std::mutex> lock(mu_);
      // Exit when stopped, or when a successor was started while this one dispatched.
      if (!running_ || watcher_id_ != std::this_thread::get_id()) return;
    }
  }

  void dispatch(int signo) {
    std::vector<CancelCauseFunc> targets;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& s : subs_) {
        if (std::find(s.signals.begin(), s.signals.end(), signo) != s.signals.end())
          targets.push_back(s.cancel);
      }
    }
    // Outside the lock: cancelling runs the contexts' callbacks, which may call stop().
    for (const auto& cancel : targets) {
      cancel(Cause(std::error_code(signo, signal_category()),
                   "received signal " + signal_name(signo)));
    }
  }

  int read_fd_ = -1;
  std::mutex mu_;
  std::condition_variable stopped_;  // stopping_ became false
  bool stopping_ = false;            // under mu_
  bool running_ = false;             // under mu_: the watcher should run
  std::thread watcher_;              // under mu_
  std::thread::id watcher_id_;       // under mu_: the designated watcher
  std::thread::id joining_;          // under mu_: the watcher being joined by the last stop()
  std::uint64_t next_id_ = 0;        // under mu_
  std::vector<Subscription> subs_;   // under mu_
  std::array<int, kMaxSignal + 1> counts_{};                 // under mu_: listeners per signal
  std::array<struct sigaction, kMaxSignal + 1> previous_{};  // under mu_
};

SignalHub& hub() {
  static SignalHub* instance = new SignalHub();  // never destroyed, see the file comment
  return *instance;
}

}  // namespace

const std::error_category& signal_category() noexcept {
  static const SignalCategory category;
  return category;
}

SignalStop& SignalStop::operator=(SignalStop&& o) noexcept {
  if (this != &o) {
    (*this)();
    id_ = o.id_;
    o.id_ = 0;
    cancel_ = std::move(o.cancel_);
  }
  return *this;
}

void SignalStop::operator()() noexcept {
  if (id_ != 0) {
    hub().unsubscribe(id_);
    id_ = 0;
  }
  if (cancel_) cancel_();
}

Derived<SignalStop> signal_context(const Context& parent, std::initializer_list<int> signals) {
  std::vector<int> list(signals);
  for (int s : list) {
    if (s <= 0 || s > kMaxSignal || s == SIGKILL || s == SIGSTOP)
      throw std::invalid_argument("tether::signal_context: invalid signal " + std::to_string(s));
  }
  std::sort(list.begin(), list.end());
  list.erase(std::unique(list.begin(), list.end()), list.end());
  auto [ctx, cancel] = with_cancel_cause(parent);
  CancelCauseFunc func = cancel.release();
  std::uint64_t id = hub().subscribe(list, func);
  return {std::move(ctx), SignalStop(id, std::move(func))};
}

}  // namespace tether
