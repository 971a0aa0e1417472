// The shared, immutable body of a tether::Cause.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <string>
#include <system_error>

namespace tether::internal {

struct CauseRep {
  std::atomic<std::uint32_t> refs;
  bool is_static;  // the built-in canceled/deadline causes: never counted or freed
  std::error_code code;
  std::string message;
  std::exception_ptr exception;
};

CauseRep* retain(CauseRep* rep) noexcept;  // returns rep; null-safe
void release(CauseRep* rep) noexcept;      // null-safe
/// The static cause for an errc value (canceled or deadline_exceeded).
CauseRep* cause_for(std::uint32_t code) noexcept;

}  // namespace tether::internal
