// seed.hpp — creating the demo's data: users 1..N with a profile and preferences.
//
// The demo is meant to show cancellation against data of a realistic size, so the SQLite
// files are seeded with --users rows (100 000 by default) on first start and reused after:
// each file records the user count it was seeded with (table seed_info), and a file seeded
// for another count is seeded again. Seeding writes all rows in one transaction, 128 rows
// per INSERT statement (tether::sqlite's exec_params with 640 parameters), which keeps
// 100 000 users well under two seconds; every statement runs under the context, so Ctrl-C
// during a first start stops it (the transaction is rolled back, nothing half-seeded is
// kept). PostgreSQL preferences are seeded elsewhere (pg_preferences.hpp).
//
// The rows are a pure function of the id (names, cities, themes drawn from small lists), so
// every run — and every test — sees the same data: user 42 is always "Grace Lovelace".
//
// What blocks: everything here, while it writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tether/context.hpp"
#include "tether/sqlite.hpp"

namespace tether_demo {

struct SeedReport {
  bool seeded = false;  ///< false: the data was already there and was reused
  std::int64_t users = 0;
  std::chrono::milliseconds took{0};
};

/// Ensures `path` holds table profiles(id, name, email, city, joined) for ids 1..users.
tether::sqlite::Result<SeedReport> seed_profiles(const tether::Context& ctx,
                                                 const std::string& path, std::int64_t users);
/// Ensures `path` holds table preferences(user_id, theme, language, newsletter, timezone).
tether::sqlite::Result<SeedReport> seed_preferences(const tether::Context& ctx,
                                                    const std::string& path, std::int64_t users);

/// The deterministic rows (also used by tests to know what to expect).
struct ProfileRow {
  std::int64_t id;
  std::string name, email, city, joined;
};
ProfileRow profile_row(std::int64_t id);
struct PreferencesRow {
  std::int64_t user_id;
  std::string theme, language;
  bool newsletter;
  std::string timezone;
};
PreferencesRow preferences_row(std::int64_t id);
/// The lists preferences_row() draws from: element `id % size` of each (newsletter: id % 3 ==
/// 0). PostgreSQL seeding computes the same rows in SQL from them.
struct PreferenceLists {
  std::span<const std::string_view> themes, languages, timezones;
};
PreferenceLists preference_lists();

}  // namespace tether_demo
