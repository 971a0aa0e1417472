// Example 3 — a handler-style function spawning a worker with the request context.
//
// Go:
//   func handler(w http.ResponseWriter, r *http.Request) {
//     ctx := r.Context()
//     go func() { if err := doWork(ctx); err != nil { fmt.Println("Stopped:", err) } }()
//     w.WriteHeader(http.StatusAccepted)
//   }
//
// A C++ handler cannot fire and forget a thread (that is the leak Go's tutorial warns
// about). It hands the worker to a tether::Group owned by the server, which outlives the
// handler and joins every worker; the worker still stops as soon as the request context
// ends (the client went away).
#include <tether/context.hpp>
#include <tether/sync/group.hpp>
#include <tether/sync/sleep.hpp>

#include <chrono>
#include <cstdio>
#include <string>

#include "tether/harness/threads.hpp"

using namespace std::chrono_literals;

// do_work checks the context at every step (Go: select on ctx.Done() and time.After).
std::error_code do_work(const tether::Context& ctx, std::chrono::milliseconds step) {
  for (int i = 0; i < 5; ++i) {
    if (auto ec = tether::sleep_for(ctx, step)) return ec;
  }
  return {};
}

// handler ties a worker to the request context and answers 202 at once.
int handler(const tether::Context& request_ctx, tether::Group& workers, std::string name,
            std::chrono::milliseconds step) {
  workers.go([request_ctx, name, step](const tether::Context&) {
    if (auto err = do_work(request_ctx, step)) {
      std::printf("%s: Stopped: %s\n", name.c_str(), err.message().c_str());
    } else {
      std::printf("%s: work completed\n", name.c_str());
    }
  });
  return 202;  // http.StatusAccepted
}

int main() {
  auto [bound, cancel_bound] = tether::with_timeout(tether::background(), 1500ms);  // safety
  const std::size_t before = tether::harness::thread_count();
  {
    tether::Group workers(tether::background());  // the server's workers

    // Request 1: the client stays connected; its worker finishes.
    auto [req1, close1] = tether::with_cancel(bound);
    std::printf("request 1: %d Accepted\n", handler(req1, workers, "request 1", 10ms));

    // Request 2: the client disconnects right after the 202; its worker stops.
    auto [req2, close2] = tether::with_cancel(bound);
    std::printf("request 2: %d Accepted\n", handler(req2, workers, "request 2", 200ms));
    close2();  // the connection closed: r.Context() is cancelled

    (void)workers.wait();
  }
  std::printf("leaked threads: %zu\n",
              tether::harness::threads_beyond(before, std::chrono::seconds(2)));
}
