// The error categories of libcurl's CURLcode ("curl") and CURLMcode ("curl.multi").
#include <string>
#include <system_error>

#include "tether/curl.hpp"

namespace tether::curl {
namespace {

class CurlCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "curl"; }
  std::string message(int code) const override {
    return curl_easy_strerror(static_cast<CURLcode>(code));
  }
};

class MultiCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "curl.multi"; }
  std::string message(int code) const override {
    return curl_multi_strerror(static_cast<CURLMcode>(code));
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const CurlCategory instance;
  return instance;
}

const std::error_category& multi_category() noexcept {
  static const MultiCategory instance;
  return instance;
}

std::error_code make_error_code(CURLcode code) noexcept {
  if (code == CURLE_OK) return {};
  return {static_cast<int>(code), category()};
}

std::error_code make_error_code(CURLMcode code) noexcept {
  if (code == CURLM_OK) return {};
  return {static_cast<int>(code), multi_category()};
}

}  // namespace tether::curl
