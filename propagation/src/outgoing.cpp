// What an outgoing call sends: the remaining time and a child span of the caller's trace.
#include <chrono>
#include <optional>
#include <string>

#include "tether/context.hpp"
#include "tether/propagation.hpp"

namespace tether {

std::optional<std::string> outgoing_grpc_timeout(const Context& ctx,
                                                 std::chrono::nanoseconds margin) {
  const auto deadline = ctx.deadline();
  if (!deadline) return std::nullopt;
  const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline - now());
  return format_grpc_timeout(left - margin);
}

TraceContext outgoing_trace(const Context& ctx) {
  if (const TraceContext* trace = ctx.value(trace_key)) return trace->child();
  return TraceContext::new_root();
}

}  // namespace tether
