#include "sqlite_connections.hpp"

#include <chrono>
#include <span>
#include <variant>

namespace tether_demo {
namespace {

namespace sq = tether::sqlite;

sq::Result<sq::Value> fail(std::span<const sq::Value> args) {
  std::string message = "injected failure";
  if (const auto* source = std::get_if<std::string>(&args[0])) message += " in " + *source;
  return sq::Error{.code = {}, .message = std::move(message)};
}

}  // namespace

std::int64_t demo_clock_us() noexcept {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

sq::Result<void> add_demo_functions(sq::Connection& conn) {
  auto clock = conn.create_function("demo_clock_us", 0, [](std::span<const sq::Value>) {
    return sq::Result<sq::Value>(sq::Value(demo_clock_us()));
  });
  if (!clock) return clock;
  return conn.create_function("demo_fail", 1, &fail);
}

sq::Pool::Options demo_sqlite_pool(std::string path) {
  return {.path = std::move(path),
          .flags = sq::OpenFlags::read_only,
          .max_connections = kSqliteConnections,
          .on_open = &add_demo_functions};
}

}  // namespace tether_demo
