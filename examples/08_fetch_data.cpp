// Example 8 — fetch_data: wait on a result channel or the context; the producer stops too.
//
// Go (the tutorial's fetchData, with its own warning fixed):
//   resultCh := make(chan []byte)
//   go func() { time.Sleep(2 * time.Second); resultCh <- []byte("data") }()
//   select {
//   case <-ctx.Done(): return nil, ctx.Err()
//   case data := <-resultCh: return data, nil
//   }
// "The goroutine inside fetchData might still send to resultCh ... In production code,
// you'd want to ensure that background goroutine also respects the context to avoid leaks."
//
// Here the producer runs in a tether::Group under the same context: when the caller's
// context ends, the producer's wait ends too, and the Group joins it before fetch_data
// returns. No thread outlives the call.
#include <tether/context.hpp>
#include <tether/sync/channel.hpp>
#include <tether/sync/group.hpp>
#include <tether/sync/sleep.hpp>

#include <chrono>
#include <cstdio>
#include <string>

#include "tether/harness/threads.hpp"

using namespace std::chrono_literals;

tether::Result<std::string> fetch_data(const tether::Context& ctx,
                                       std::chrono::milliseconds latency) {
  tether::Channel<std::string> result_ch(1);
  tether::Group producer(ctx);
  producer.go([&](const tether::Context& pctx) {
    if (auto ec = tether::sleep_for(pctx, latency)) {  // simulated I/O that respects pctx
      std::printf("producer stopped: %s\n", ec.message().c_str());
      return;
    }
    (void)result_ch.send(pctx, "data");
  });
  tether::Result<std::string> r = result_ch.recv(ctx);  // select { ctx.Done(), resultCh }
  // Leaving the scope: ~Group cancels the producer's context and joins it.
  return r;
}

int main() {
  auto [bound, cancel_bound] = tether::with_timeout(tether::background(), 1500ms);  // safety
  const std::size_t before = tether::harness::thread_count();

  // The client waits long enough.
  auto [patient, c1] = tether::with_timeout(bound, 1s);
  auto r = fetch_data(patient, 10ms);
  std::printf("fetch 1: %s\n", r ? r->c_str() : r.error().message().c_str());

  // The client gives up after 50 ms; the 2 s producer is stopped, not leaked.
  auto [impatient, c2] = tether::with_timeout(bound, 50ms);
  r = fetch_data(impatient, 2s);
  std::printf("fetch 2: %s\n", r ? r->c_str() : r.error().message().c_str());

  std::printf("leaked threads: %zu\n",
              tether::harness::threads_beyond(before, std::chrono::seconds(2)));
}
