// tether_demo::errc's category.
#include "error.hpp"

#include <string>

namespace tether_demo {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tether-demo"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::bad_query:
        return "bad query parameter";
      case errc::profile_not_found:
        return "profile: user not found";
      case errc::profile_failed:
        return "profile: source failed";
      case errc::startup_failed:
        return "startup failed";
    }
    return "tether-demo error " + std::to_string(code);
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const Category instance;
  return instance;
}

}  // namespace tether_demo
