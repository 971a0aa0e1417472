// Example 10 — graceful shutdown: SIGTERM → in-flight work finishes within a deadline.
//
// Go:
//   ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//   defer stop()
//   <-ctx.Done()                       // stop accepting work
//   stop()                             // a second signal kills at once
//   shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
//   defer cancel()
//   server.Shutdown(shutdownCtx)       // in-flight work gets until the deadline
//
// The signal context stops the intake; the in-flight jobs run under a separate work
// context that only the shutdown deadline can cancel. The program sends SIGTERM to itself
// once two jobs are in flight, so the run is deterministic.
#include <signal.h>
#include <unistd.h>
#include <tether/context.hpp>
#include <tether/sync/channel.hpp>
#include <tether/sync/group.hpp>
#include <tether/sync/signal.hpp>
#include <tether/sync/sleep.hpp>

#include <chrono>
#include <cstdio>

#include "tether/harness/threads.hpp"

using namespace std::chrono_literals;

int main() {
  auto [bound, cancel_bound] = tether::with_timeout(tether::background(), 1500ms);  // safety
  const std::size_t before = tether::harness::thread_count();

  auto [ctx, stop] = tether::signal_context(tether::background(), {SIGINT, SIGTERM});
  auto [work, cancel_work] = tether::with_cancel(bound);  // in-flight jobs run under this
  tether::Channel<int> jobs;
  tether::Channel<int> started;
  tether::Context grace;
  {
    tether::Group server(work);
    for (int w = 0; w < 2; ++w) {
      server.go([&, c = ctx](const tether::Context& wctx) {
        for (;;) {
          tether::Result<int> job = jobs.recv(c);  // no new job once the signal arrived
          if (!job) return;
          (void)started.send(wctx, *job);
          if (auto ec = tether::sleep_for(wctx, 100ms)) {  // the job: 100 ms of work
            std::printf("job %d cut short: %s\n", *job, ec.message().c_str());
            return;
          }
          std::printf("job %d finished\n", *job);
        }
      });
    }
    for (int j = 1; j <= 6; ++j) (void)jobs.send(bound, j);

    // Two jobs are in flight: the orchestrator stops the service.
    (void)started.recv(bound);
    (void)started.recv(bound);
    ::kill(::getpid(), SIGTERM);

    ctx.done().wait();
    std::printf("%s: shutting down, finishing in-flight work\n",
                tether::cause(ctx).message().c_str());
    stop();  // from now on a second SIGTERM has its default effect

    auto [g, cancel_grace] = tether::with_timeout(tether::background(), 500ms);
    grace = g;
    auto cut = tether::after_func(grace, cancel_work.func());  // the deadline cuts the work
    (void)server.wait();
    cut.stop();
  }
  std::printf("in-flight work finished within the shutdown deadline: %s\n",
              grace.err() == tether::errc::deadline_exceeded ? "no" : "yes");
  std::printf("jobs never started: %zu\n", jobs.size());
  std::printf("leaked threads: %zu\n",
              tether::harness::threads_beyond(before, std::chrono::seconds(2)));
}
