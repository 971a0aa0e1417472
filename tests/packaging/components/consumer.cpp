// Built against an installed tether with COMPONENTS http sqlite (tests/packaging/run.cmake).
#include <tether/context.hpp>
#include <tether/http.hpp>
#include <tether/sqlite.hpp>

#include <cstdio>

int main() {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  auto db = tether::sqlite::Connection::open(":memory:");
  if (!db) {
    std::printf("components: open failed: %s\n", db.error().message.c_str());
    return 1;
  }
  cancel();
  auto rows = db->query(ctx, "SELECT 1");
  const bool cancelled = !rows && rows.error().code == tether::errc::canceled;
  const std::error_code gone = tether::http::errc::client_disconnected;
  std::printf("components: sqlite query under a cancelled context: %s; http: %s\n",
              cancelled ? "canceled" : "ran", gone.message().c_str());
  return cancelled ? 0 : 1;
}
