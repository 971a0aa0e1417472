#include "seed.hpp"

#include <sqlite3.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <functional>
#include <string_view>

namespace tether_demo {
namespace {

namespace sq = tether::sqlite;
using Clock = std::chrono::steady_clock;

constexpr std::array<std::string_view, 16> kFirst = {
    "Ada", "Alan",   "Barbara",  "Dennis",  "Edsger", "Frances", "Grace", "John",
    "Ken", "Leslie", "Margaret", "Niklaus", "Radia",  "Rob",     "Tony",  "Xavier"};
constexpr std::array<std::string_view, 16> kLast = {
    "Hopper",   "Turing",  "Liskov",   "Ritchie", "Dijkstra", "Allen", "Lovelace", "Backus",
    "Thompson", "Lamport", "Hamilton", "Wirth",   "Perlman",  "Pike",  "Hoare",    "Leroy"};
constexpr std::array<std::string_view, 12> kCities = {"Lisbon",  "Oslo",    "Kyoto",  "Austin",
                                                      "Nairobi", "Lyon",    "Dublin", "Perth",
                                                      "Recife",  "Tallinn", "Quebec", "Gdansk"};
constexpr std::array<std::string_view, 3> kThemes = {"light", "dark", "solarized"};
constexpr std::array<std::string_view, 6> kLanguages = {"en", "de", "fr", "es", "ja", "pt"};
constexpr std::array<std::string_view, 5> kTimezones = {"UTC", "Europe/Lisbon", "America/Chicago",
                                                        "Asia/Tokyo", "Africa/Nairobi"};

template <std::size_t N>
std::string_view pick(const std::array<std::string_view, N>& list, std::int64_t i) {
  return list[static_cast<std::size_t>(i % static_cast<std::int64_t>(N))];
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

sq::Error sqlite_error(sqlite3* db) {
  return {std::error_code(sqlite3_extended_errcode(db), sq::category()), sqlite3_errmsg(db)};
}

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// The users count the file was seeded with, or -1.
std::int64_t seeded_users(const tether::Context& ctx, sq::Connection& db) {
  auto rows = db.query(ctx, "SELECT users FROM seed_info");
  if (!rows || rows->empty()) return -1;
  return rows->at(0).get<std::int64_t>(0);
}

// Recreates `table` with `create_sql` and fills it with users rows through `insert_sql`,
// binding each row with `bind(stmt, id)`, in one transaction.
sq::Result<SeedReport> seed_table(const tether::Context& ctx, const std::string& path,
                                  std::int64_t users, std::string_view table,
                                  std::string_view create_sql, const char* insert_sql,
                                  const std::function<void(sqlite3_stmt*, std::int64_t)>& bind) {
  const auto start = Clock::now();
  auto opened = sq::Connection::open(path);
  if (!opened) return opened.error();
  sq::Connection& db = *opened;
  if (auto r = db.exec(ctx, "CREATE TABLE IF NOT EXISTS seed_info(users INTEGER NOT NULL)"); !r)
    return r.error();
  if (seeded_users(ctx, db) == users) return SeedReport{false, users, since(start)};

  if (auto r = db.exec(ctx, "PRAGMA synchronous = OFF"); !r) return r.error();
  if (auto r = db.exec(ctx, "BEGIN"); !r) return r.error();
  auto fail = [&](sq::Error e) -> sq::Result<SeedReport> {
    if (db.in_transaction()) (void)db.exec(tether::without_cancel(ctx), "ROLLBACK");
    return e;
  };
  if (auto r = db.exec(ctx, "DROP TABLE IF EXISTS " + std::string(table)); !r)
    return fail(r.error());
  if (auto r = db.exec(ctx, create_sql); !r) return fail(r.error());
  if (auto r = db.exec(ctx, "DELETE FROM seed_info"); !r) return fail(r.error());

  // The bulk insert goes through SQLite's own API: one prepared statement, reset per row.
  auto* raw = static_cast<sqlite3*>(db.native_handle());
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(raw, insert_sql, -1, &stmt, nullptr) != SQLITE_OK)
    return fail(sqlite_error(raw));
  for (std::int64_t id = 1; id <= users; ++id) {
    if ((id & 1023) == 0 && ctx.err()) {
      sqlite3_finalize(stmt);
      return fail(sq::Error{
          ctx.err(), tether::cause(ctx).message() + " (while seeding " + std::string(table) + ")"});
    }
    bind(stmt, id);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
      sq::Error e = sqlite_error(raw);
      sqlite3_finalize(stmt);
      return fail(std::move(e));
    }
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
  if (auto r = db.exec(ctx, "INSERT INTO seed_info(users) VALUES (?)", users); !r)
    return fail(r.error());
  if (auto r = db.exec(ctx, "COMMIT"); !r) return fail(r.error());
  return SeedReport{true, users, since(start)};
}

void bind_text(sqlite3_stmt* stmt, int i, std::string_view s) {
  sqlite3_bind_text(stmt, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

}  // namespace

ProfileRow profile_row(std::int64_t id) {
  const std::string_view first = pick(kFirst, id);
  const std::string_view last = pick(kLast, id / 16);
  char joined[16];
  std::snprintf(joined, sizeof joined, "%04d-%02d-%02d", static_cast<int>(2015 + id % 10),
                static_cast<int>(1 + id % 12), static_cast<int>(1 + id % 28));
  return {id, std::string(first) + " " + std::string(last),
          lower(first) + "." + lower(last) + std::to_string(id) + "@example.com",
          std::string(pick(kCities, id * 7)), joined};
}

PreferencesRow preferences_row(std::int64_t id) {
  return {id, std::string(pick(kThemes, id)), std::string(pick(kLanguages, id)), id % 3 == 0,
          std::string(pick(kTimezones, id))};
}

sq::Result<SeedReport> seed_profiles(const tether::Context& ctx, const std::string& path,
                                     std::int64_t users) {
  return seed_table(
      ctx, path, users, "profiles",
      "CREATE TABLE profiles(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, "
      "city TEXT NOT NULL, joined TEXT NOT NULL)",
      "INSERT INTO profiles(id, name, email, city, joined) VALUES (?, ?, ?, ?, ?)",
      [](sqlite3_stmt* stmt, std::int64_t id) {
        const ProfileRow row = profile_row(id);
        sqlite3_bind_int64(stmt, 1, id);
        bind_text(stmt, 2, row.name);
        bind_text(stmt, 3, row.email);
        bind_text(stmt, 4, row.city);
        bind_text(stmt, 5, row.joined);
      });
}

sq::Result<SeedReport> seed_preferences(const tether::Context& ctx, const std::string& path,
                                        std::int64_t users) {
  return seed_table(ctx, path, users, "preferences",
                    "CREATE TABLE preferences(user_id INTEGER PRIMARY KEY, theme TEXT NOT NULL, "
                    "language TEXT NOT NULL, newsletter INTEGER NOT NULL, timezone TEXT NOT NULL)",
                    "INSERT INTO preferences(user_id, theme, language, newsletter, timezone) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [](sqlite3_stmt* stmt, std::int64_t id) {
                      const PreferencesRow row = preferences_row(id);
                      sqlite3_bind_int64(stmt, 1, id);
                      bind_text(stmt, 2, row.theme);
                      bind_text(stmt, 3, row.language);
                      sqlite3_bind_int(stmt, 4, row.newsletter ? 1 : 0);
                      bind_text(stmt, 5, row.timezone);
                    });
}

PreferenceLists preference_lists() { return {kThemes, kLanguages, kTimezones}; }

}  // namespace tether_demo
