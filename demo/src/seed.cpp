#include "seed.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <string_view>
#include <vector>

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

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// The users count the file was seeded with, or -1.
std::int64_t seeded_users(const tether::Context& ctx, sq::Connection& db) {
  auto rows = db.query(ctx, "SELECT users FROM seed_info");
  if (!rows || rows->empty()) return -1;
  return rows->at(0).get<std::int64_t>(0);
}

// How a table is seeded: its CREATE statement, the head of its INSERT (up to VALUES), the
// row of an id, and that row's values as parameters, in column order.
template <class RowT>
struct TableSpec {
  std::string_view table;
  std::string_view create_sql;
  std::string_view insert_head;
  RowT (*row)(std::int64_t id);
  void (*params)(const RowT& row, std::vector<sq::Param>& out);
};

// Rows per INSERT: one statement of kBatch value tuples (5 parameters each), so a seed of
// N users prepares N / kBatch statements instead of N.
constexpr std::int64_t kBatch = 128;

// "<head>(?, ?, ?, ?, ?), ..." with `rows` tuples.
std::string batch_insert(std::string_view head, std::int64_t rows) {
  std::string sql(head);
  for (std::int64_t i = 0; i < rows; ++i) sql += i == 0 ? "(?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?)";
  return sql;
}

// Inserts rows 1..users in batches; the context is checked by every statement.
template <class RowT>
sq::Result<void> insert_rows(const tether::Context& ctx, sq::Connection& db,
                             const TableSpec<RowT>& spec, std::int64_t users) {
  const std::string full = batch_insert(spec.insert_head, kBatch);
  std::vector<RowT> rows;
  std::vector<sq::Param> params;
  for (std::int64_t first = 1; first <= users; first += kBatch) {
    const std::int64_t n = std::min(kBatch, users - first + 1);
    rows.clear();
    params.clear();
    for (std::int64_t id = first; id < first + n; ++id) rows.push_back(spec.row(id));
    for (const RowT& row : rows) spec.params(row, params);  // views into `rows`
    auto r = db.exec_params(ctx, n == kBatch ? full : batch_insert(spec.insert_head, n), params);
    if (r) continue;
    sq::Error e = r.error();
    if (ctx.err()) e.message += " (while seeding " + std::string(spec.table) + ")";
    return e;
  }
  return {};
}

// Recreates the table and fills it with users rows, in one transaction.
template <class RowT>
sq::Result<SeedReport> seed_table(const tether::Context& ctx, const std::string& path,
                                  std::int64_t users, const TableSpec<RowT>& spec) {
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
  if (auto r = db.exec(ctx, "DROP TABLE IF EXISTS " + std::string(spec.table)); !r)
    return fail(r.error());
  if (auto r = db.exec(ctx, spec.create_sql); !r) return fail(r.error());
  if (auto r = db.exec(ctx, "DELETE FROM seed_info"); !r) return fail(r.error());
  if (auto r = insert_rows(ctx, db, spec, users); !r) return fail(r.error());
  if (auto r = db.exec(ctx, "INSERT INTO seed_info(users) VALUES (?)", users); !r)
    return fail(r.error());
  if (auto r = db.exec(ctx, "COMMIT"); !r) return fail(r.error());
  return SeedReport{true, users, since(start)};
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
  static constexpr TableSpec<ProfileRow> kSpec{
      "profiles",
      "CREATE TABLE profiles(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, "
      "city TEXT NOT NULL, joined TEXT NOT NULL)",
      "INSERT INTO profiles(id, name, email, city, joined) VALUES ", &profile_row,
      [](const ProfileRow& row, std::vector<sq::Param>& out) {
        out.insert(out.end(), {row.id, row.name, row.email, row.city, row.joined});
      }};
  return seed_table(ctx, path, users, kSpec);
}

sq::Result<SeedReport> seed_preferences(const tether::Context& ctx, const std::string& path,
                                        std::int64_t users) {
  static constexpr TableSpec<PreferencesRow> kSpec{
      "preferences",
      "CREATE TABLE preferences(user_id INTEGER PRIMARY KEY, theme TEXT NOT NULL, "
      "language TEXT NOT NULL, newsletter INTEGER NOT NULL, timezone TEXT NOT NULL)",
      "INSERT INTO preferences(user_id, theme, language, newsletter, timezone) VALUES ",
      &preferences_row, [](const PreferencesRow& row, std::vector<sq::Param>& out) {
        out.insert(out.end(), {row.user_id, row.theme, row.language, row.newsletter, row.timezone});
      }};
  return seed_table(ctx, path, users, kSpec);
}

PreferenceLists preference_lists() { return {kThemes, kLanguages, kTimezones}; }

}  // namespace tether_demo
