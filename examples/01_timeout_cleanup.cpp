// Example 1 — timeout and cleanup: work bounded by with_timeout.
//
// Go (the tutorial's minimal example):
//   ctx, cancel := context.WithTimeout(context.Background(), 1*time.Second)
//   defer cancel()
//   if err := doWork(ctx); err != nil { fmt.Println("Work stopped:", err) }
//
// In C++ the canceller is RAII (`defer cancel()` is automatic), and the work waits with
// tether::sleep_for, which — unlike Go's time.Sleep — returns as soon as the context ends.
#include <tether/context.hpp>
#include <tether/sync/sleep.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

// do_work simulates a task that respects cancellation.
std::error_code do_work(const tether::Context& ctx) {
  // Check whether the context is already done before starting heavy work.
  if (auto ec = ctx.err()) return ec;
  // Simulated work that takes 2 s — unless the context ends first.
  return tether::sleep_for(ctx, 2s);
}

int main() {
  const auto start = std::chrono::steady_clock::now();
  {
    // A context that cancels itself after 100 ms; `cancel` cancels on scope exit.
    auto [ctx, cancel] = tether::with_timeout(tether::background(), 100ms);
    if (std::error_code err = do_work(ctx)) {
      std::printf("Work stopped: %s\n", err.message().c_str());
    } else {
      std::printf("Work completed\n");
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  std::printf("returned before the 2 s of work: %s\n", elapsed < 2s ? "yes" : "no");
}
