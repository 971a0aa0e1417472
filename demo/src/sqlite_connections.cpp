#include "sqlite_connections.hpp"

#include <sqlite3.h>

#include <chrono>

namespace tether_demo {
namespace {

void clock_us(sqlite3_context* ctx, int, sqlite3_value**) {
  sqlite3_result_int64(ctx, demo_clock_us());
}

void fail(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  std::string message = "injected failure";
  if (argc == 1 && sqlite3_value_type(argv[0]) == SQLITE_TEXT)
    message += " in " + std::string(reinterpret_cast<const char*>(sqlite3_value_text(argv[0])));
  sqlite3_result_error(ctx, message.c_str(), static_cast<int>(message.size()));
}

}  // namespace

std::int64_t demo_clock_us() noexcept {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

tether::sqlite::Result<void> add_demo_functions(tether::sqlite::Connection& conn) {
  auto* db = static_cast<sqlite3*>(conn.native_handle());
  int rc = sqlite3_create_function_v2(db, "demo_clock_us", 0, SQLITE_UTF8, nullptr, &clock_us,
                                      nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function_v2(db, "demo_fail", 1, SQLITE_UTF8, nullptr, &fail, nullptr,
                                    nullptr, nullptr);
  if (rc != SQLITE_OK)
    return tether::sqlite::Error{std::error_code(rc, tether::sqlite::category()),
                                 sqlite3_errmsg(db)};
  return {};
}

SqliteConnections::Lease::~Lease() {
  if (!conn_) return;
  std::lock_guard lock(owner_->mu_);
  owner_->idle_.push_back(std::move(conn_));
}

tether::sqlite::Result<SqliteConnections::Lease> SqliteConnections::acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
  }
  auto opened = tether::sqlite::Connection::open(path_, tether::sqlite::OpenFlags::read_only);
  if (!opened) return opened.error();
  auto conn = std::make_unique<tether::sqlite::Connection>(std::move(*opened));
  if (auto added = add_demo_functions(*conn); !added) return added.error();
  return Lease(this, std::move(conn));
}

}  // namespace tether_demo
