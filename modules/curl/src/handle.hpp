// What a transfer changes on the caller's easy handle, and how it is put back; shared by
// perform() and Driver. Not a public header.
#pragma once

#include <curl/curl.h>

#include <exception>
#include <string>
#include <system_error>
#include <vector>

#include "tether/context.hpp"
#include "tether/curl.hpp"

namespace tether::curl::internal {

/// Calls curl_global_init(CURL_GLOBAL_DEFAULT) once per process, thread-safely.
void global_init();

/// The header lines a transfer sends with Options::propagate: every line of `user` except
/// those naming grpc-timeout or traceparent (case-insensitively), then the context's
/// `grpc-timeout` (when ctx has a deadline) and `traceparent`. Pure apart from the clock
/// and the span id generator.
std::vector<std::string> propagated_headers(const Context& ctx, const curl_slist* user,
                                            std::chrono::milliseconds margin);

/// How much later than the context's deadline CURLOPT_TIMEOUT_MS is set, so that the
/// backstop fires after the context's own timer: libcurl starts its clock before the
/// handle is added and was seen firing up to 0.3 ms early against a rounded-up time left.
inline constexpr long kTimeoutSlackMs = 10;

/// CURLOPT_TIMEOUT_MS for a transfer under `ctx`: the time left until its deadline in
/// milliseconds, rounded up, plus kTimeoutSlackMs; 0 (no timeout) without a deadline.
long timeout_ms(const Context& ctx);

/// The error a finished transfer reports: {} on CURLE_OK; the context's error when the
/// context is done, or when curl timed out (CURLE_OPERATION_TIMEDOUT) at or after the
/// context's deadline; otherwise the CURLcode in category().
std::error_code transfer_result(const Context& ctx, CURLcode code);

/// The options of one transfer applied to its handle (apply) and taken back (restore).
/// Owned by the transfer; the handle must not be touched by anyone else in between.
class HandleOptions {
 public:
  HandleOptions() = default;
  HandleOptions(CURL* easy, Options options) : easy_(easy), options_(std::move(options)) {}
  HandleOptions(const HandleOptions&) = delete;
  HandleOptions& operator=(const HandleOptions&) = delete;
  ~HandleOptions() { restore(); }

  /// Sets NOSIGNAL, TIMEOUT_MS (with a deadline), HTTPHEADER (propagate) and the write
  /// trampoline (on_body). Returns curl's error if one of them is refused.
  std::error_code apply(const Context& ctx);
  /// Puts back what apply() changed and frees the header list. Idempotent.
  void restore() noexcept;
  /// The exception thrown by Options::on_body, if any.
  std::exception_ptr body_error() const noexcept { return body_error_; }

 private:
  static size_t write_body(char* data, size_t size, size_t count, void* self) noexcept;

  CURL* easy_ = nullptr;
  Options options_;
  bool timeout_set_ = false;
  bool headers_set_ = false;
  bool writer_set_ = false;
  curl_slist* headers_ = nullptr;  // owned; sent while the transfer runs
  std::exception_ptr body_error_;
};

}  // namespace tether::curl::internal
