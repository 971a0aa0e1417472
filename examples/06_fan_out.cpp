// Example 6 — fan_out over N tasks: the first error wins and cancels the rest.
//
// Go (the tutorial's FanOut):
//   ctx, cancel := context.WithCancel(ctx); defer cancel()
//   errCh := make(chan error, len(tasks))
//   for _, task := range tasks { go func() { errCh <- task() }() }
//   for range tasks { if err := <-errCh; err != nil { cancel(); return err } }
//
// With tether::Group the cancel-on-first-error and the join are built in; set_limit bounds
// how many tasks run at once (Go: g.SetLimit).
#include <tether/context.hpp>
#include <tether/sync/group.hpp>
#include <tether/sync/sleep.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include "tether/harness/threads.hpp"

using namespace std::chrono_literals;

using Task = std::function<std::error_code(const tether::Context&)>;

std::error_code fan_out(const tether::Context& ctx, const std::vector<Task>& tasks, int limit) {
  tether::Group g(ctx);
  g.set_limit(limit);
  for (const auto& task : tasks) g.go(task);  // blocks while `limit` tasks are running
  return g.wait();
}

int main() {
  auto [bound, cancel_bound] = tether::with_timeout(tether::background(), 1500ms);  // safety
  const std::size_t before = tether::harness::thread_count();

  // All succeed.
  std::atomic<int> done{0};
  std::vector<Task> ok_tasks(8, [&done](const tether::Context& ctx) {
    if (auto ec = tether::sleep_for(ctx, 5ms)) return ec;
    ++done;
    return std::error_code();
  });
  std::error_code err = fan_out(bound, ok_tasks, 4);
  std::printf("8 tasks, limit 4: %s, %d done\n", err ? err.message().c_str() : "ok", done.load());

  // Task 3 fails; the tasks still waiting see the cancellation and stop.
  std::atomic<int> cancelled{0};
  std::vector<Task> tasks;
  for (int i = 0; i < 5; ++i) {
    tasks.push_back([i, &cancelled](const tether::Context& ctx) -> std::error_code {
      if (i == 3) return std::make_error_code(std::errc::connection_refused);
      std::error_code ec = tether::sleep_for(ctx, 10s);  // a slow task
      if (ec) ++cancelled;
      return ec;
    });
  }
  err = fan_out(bound, tasks, 5);
  std::printf("first error wins: %s\n", err.message().c_str());
  std::printf("other tasks cancelled: %d\n", cancelled.load());
  std::printf("leaked threads: %zu\n",
              tether::harness::threads_beyond(before, std::chrono::seconds(2)));
}
