// The client side: a ClientContext bound to a tether Context.
#include <grpc/support/time.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "tether/grpc.hpp"
#include "tether/propagation.hpp"

namespace tether::grpc {

ClientBinding::ClientBinding(::grpc::ClientContext& cc, const Context& ctx,
                             const ClientOptions& options)
    : ctx_(ctx) {
  if (auto deadline = ctx.deadline()) {
    // Time left on tether's clock (a ManualClock governs it), given to gRPC on its
    // monotonic clock: the wall clock may step.
    using std::chrono::nanoseconds;
    const auto left = std::chrono::duration_cast<nanoseconds>(*deadline - now());
    auto send = left - options.margin -
                nanoseconds(static_cast<std::int64_t>(options.margin_fraction *
                                                      static_cast<double>(left.count())));
    if (send < nanoseconds::zero()) send = nanoseconds::zero();
    cc.set_deadline(gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                 gpr_time_from_nanos(send.count(), GPR_TIMESPAN)));
  }
  // The key is made once, and the value is formatted into a per-thread buffer:
  // AddMetadata copies both, so neither needs a string of its own per call.
  static const std::string key = "traceparent";
  thread_local std::string value;
  format_traceparent(outgoing_trace(ctx), value);
  cc.AddMetadata(key, value);
  // TryCancel is thread-safe, and a ClientContext remembers a cancel that comes before the
  // call starts: a ctx already done fails the call at once, unsent. The destructor stops
  // (and waits for) this hook before the ClientContext can go.
  hook_ = after_func(ctx, [&cc] { cc.TryCancel(); });
}

::grpc::Status ClientBinding::status(const ::grpc::Status& status) const {
  if (status.ok()) return status;
  return status_for(ctx_, status);
}

}  // namespace tether::grpc
