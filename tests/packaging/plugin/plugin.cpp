// A plugin built as a shared object that links tether::core statically (or shared, when
// tether was built with BUILD_SHARED_LIBS=ON).
#include <tether/context.hpp>

#include <chrono>

extern "C" int plugin_run() {
  using namespace std::chrono_literals;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1h);
  auto [child, cancel_child] = tether::with_cancel(ctx);
  cancel();
  const bool ok = child.err() == tether::errc::canceled && ctx.deadline().has_value();
  cancel_child();
  return ok ? 0 : 1;
}
