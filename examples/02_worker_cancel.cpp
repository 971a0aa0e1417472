// Example 2 — a worker thread that stops when cancelled.
//
// Go:
//   func worker(ctx context.Context) {
//     for {
//       select {
//       case <-ctx.Done(): fmt.Println("Stopped:", ctx.Err()); return
//       case <-time.After(500 * time.Millisecond): fmt.Println("Working...")
//       }
//     }
//   }
//   go worker(ctx); time.Sleep(1 * time.Second); cancel()
//
// Here the worker reports each unit of work on a channel, and main cancels after three of
// them (instead of sleeping and hoping), then joins the thread: nothing outlives main.
#include <tether/context.hpp>
#include <tether/sync/channel.hpp>
#include <tether/sync/sleep.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

#include "tether/harness/threads.hpp"

using namespace std::chrono_literals;

// worker runs until the context is cancelled.
void worker(const tether::Context& ctx, tether::Channel<int>& progress) {
  for (int unit = 1;; ++unit) {
    // select { case <-ctx.Done(): ...; case <-time.After(20ms): ... }
    if (std::error_code ec = tether::sleep_for(ctx, 20ms)) {
      std::printf("Stopped: %s\n", ec.message().c_str());
      return;
    }
    std::printf("Working...\n");
    (void)progress.send(ctx, unit);
  }
}

int main() {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  auto [bound, cancel_bound] = tether::with_timeout(tether::background(), 1500ms);  // safety
  const std::size_t before = tether::harness::thread_count();

  tether::Channel<int> progress;
  std::thread t([&, c = ctx] { worker(c, progress); });
  for (int i = 0; i < 3; ++i) (void)progress.recv(bound);  // three units of work done
  cancel();                                                // Go: cancel()
  t.join();  // the worker has returned: no goroutine-style leak

  std::printf("leaked threads: %zu\n",
              tether::harness::threads_beyond(before, std::chrono::seconds(2)));
}
