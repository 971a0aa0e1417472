// HandleOptions: the per-transfer settings tether puts on a caller's easy handle.
#include "handle.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "tether/error.hpp"
#include "tether/propagation.hpp"

namespace tether::curl::internal {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The field name of a CURLOPT_HTTPHEADER line: "Name: value", "Name;" (empty value) or
// "Name:" (remove the field).
std::string_view field_name(std::string_view line) noexcept {
  auto end = line.find_first_of(":;");
  std::string_view name = line.substr(0, end);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  return name;
}

}  // namespace

void global_init() {
  // curl_global_init is not thread-safe in every build; a function-local static is.
  static const CURLcode once = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)once;
}

std::vector<std::string> propagated_headers(const Context& ctx, const curl_slist* user,
                                            std::chrono::milliseconds margin) {
  std::vector<std::string> lines;
  for (const curl_slist* it = user; it != nullptr; it = it->next) {
    if (it->data == nullptr) continue;
    std::string_view name = field_name(it->data);
    if (iequals(name, "grpc-timeout") || iequals(name, "traceparent")) continue;
    lines.emplace_back(it->data);
  }
  if (auto timeout = outgoing_grpc_timeout(ctx, margin))
    lines.push_back("grpc-timeout: " + *timeout);
  lines.push_back("traceparent: " + format_traceparent(outgoing_trace(ctx)));
  return lines;
}

long timeout_ms(const Context& ctx) {
  const auto deadline = ctx.deadline();
  if (!deadline) return 0;
  const auto left = *deadline - now();
  const auto ms =
      std::max<long long>(0, std::chrono::ceil<std::chrono::milliseconds>(left).count());
  return static_cast<long>(std::min<long long>(ms + kTimeoutSlackMs, 0x7fffffffLL));
}

std::error_code transfer_result(const Context& ctx, CURLcode code) {
  if (code == CURLE_OK) return {};
  if (auto err = ctx.err()) return err;
  if (code == CURLE_OPERATION_TIMEDOUT) {
    // The second line of defence fired: curl's own timer, set to the time left rounded up,
    // can beat the timer thread by a hair. Past the deadline it is the context's error.
    const auto deadline = ctx.deadline();
    if (deadline && now() >= *deadline) return make_error_code(tether::errc::deadline_exceeded);
  }
  return make_error_code(code);
}

std::error_code HandleOptions::apply(const Context& ctx) {
  CURLcode rc = curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  if (rc == CURLE_OK) {
    if (long ms = timeout_ms(ctx); ms > 0) {
      rc = curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, ms);
      timeout_set_ = rc == CURLE_OK;
    }
  }
  if (rc == CURLE_OK && options_.propagate) {
    for (const auto& line : propagated_headers(ctx, options_.headers, options_.deadline_margin)) {
      curl_slist* grown = curl_slist_append(headers_, line.c_str());
      if (grown == nullptr) {
        rc = CURLE_OUT_OF_MEMORY;
        break;
      }
      headers_ = grown;
    }
    if (rc == CURLE_OK) {
      rc = curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
      headers_set_ = rc == CURLE_OK;
    }
  }
  if (rc == CURLE_OK && options_.on_body) {
    rc = curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION,
                          static_cast<curl_write_callback>(&HandleOptions::write_body));
    if (rc == CURLE_OK) rc = curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
    writer_set_ = true;
  }
  if (rc != CURLE_OK) {
    restore();
    return make_error_code(rc);
  }
  return {};
}

void HandleOptions::restore() noexcept {
  if (easy_ == nullptr) return;
  if (timeout_set_) curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, 0L);
  if (headers_set_) curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, options_.headers);
  if (writer_set_) {
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, static_cast<curl_write_callback>(nullptr));
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, static_cast<void*>(stdout));
  }
  timeout_set_ = headers_set_ = writer_set_ = false;
  curl_slist_free_all(headers_);
  headers_ = nullptr;
}

size_t HandleOptions::write_body(char* data, size_t size, size_t count, void* self) noexcept {
  auto* options = static_cast<HandleOptions*>(self);
  const size_t bytes = size * count;
  if (options->body_error_) return 0;
  try {
    options->options_.on_body(std::string_view(data, bytes));
  } catch (...) {
    // libcurl is C: nothing may unwind through it. Keep the exception for the caller and
    // make curl abort the transfer (a short write is CURLE_WRITE_ERROR).
    options->body_error_ = std::current_exception();
    return bytes == 0 ? 1 : 0;
  }
  return bytes;
}

}  // namespace tether::curl::internal
