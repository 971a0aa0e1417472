// Built against an *installed* tether by tests/packaging/run.cmake.
#include <tether/context.hpp>

#include <chrono>
#include <cstdio>

int main() {
  using namespace std::chrono_literals;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1h);
  cancel();
  if (ctx.err() != tether::errc::canceled) {
    std::puts("consumer: unexpected error state");
    return 1;
  }
  std::printf("consumer: %s -> %s\n", ctx.describe().c_str(), ctx.err().message().c_str());
  return 0;
}
