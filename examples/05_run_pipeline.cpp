// Example 5 — run_pipeline: the first failing stage cancels the others.
//
// Go (the tutorial hand-rolls this with an error channel and cancel(); errgroup is the
// library form):
//   g, ctx := errgroup.WithContext(ctx)
//   for _, stage := range stages { stage := stage; g.Go(func() error { return stage.Run(ctx) }) }
//   return g.Wait()
#include <tether/context.hpp>
#include <tether/sync/group.hpp>
#include <tether/sync/sleep.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "tether/harness/threads.hpp"

using namespace std::chrono_literals;

struct Stage {
  std::string name;
  std::function<std::error_code(const tether::Context&)> run;
};

std::error_code run_pipeline(const tether::Context& ctx, const std::vector<Stage>& stages) {
  tether::Group g(ctx);
  for (const auto& stage : stages) {
    g.go([&stage](const tether::Context& gctx) {
      std::error_code ec = stage.run(gctx);
      std::printf("stage %s: %s\n", stage.name.c_str(), ec ? ec.message().c_str() : "ok");
      return ec;
    });
  }
  return g.wait();  // the first error; the other stages saw the group's context end
}

// A long-running stage: works until its context ends.
std::error_code long_stage(const tether::Context& ctx) { return tether::sleep_for(ctx, 10s); }

int main() {
  auto [bound, cancel_bound] = tether::with_timeout(tether::background(), 1500ms);  // safety
  const std::size_t before = tether::harness::thread_count();

  std::vector<Stage> stages{
      {"extract", long_stage},
      {"transform",
       [](const tether::Context&) { return std::make_error_code(std::errc::invalid_argument); }},
      {"load", long_stage},
  };
  std::error_code err = run_pipeline(bound, stages);
  std::printf("pipeline failed: %s\n", err.message().c_str());
  std::printf("leaked threads: %zu\n",
              tether::harness::threads_beyond(before, std::chrono::seconds(2)));
}
