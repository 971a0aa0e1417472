// tether::http::errc — the causes tether::http gives the request contexts it ends.
#include <string>
#include <system_error>

#include "tether/http.hpp"

namespace tether::http {
namespace {
class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tether.http"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::client_disconnected:
        return "client disconnected";
      case errc::server_shutdown:
        return "server shutdown";
    }
    return "tether.http error " + std::to_string(code);
  }
  std::error_condition default_error_condition(int code) const noexcept override {
    if (code == static_cast<int>(errc::client_disconnected) ||
        code == static_cast<int>(errc::server_shutdown))
      return std::errc::operation_canceled;
    return {code, *this};
  }
};
}  // namespace

const std::error_category& category() noexcept {
  static const Category instance;
  return instance;
}
}  // namespace tether::http
