#include "pg_preferences.hpp"

#include <chrono>
#include <string_view>

#include "seed.hpp"

namespace tether_demo {
namespace {

namespace pg = tether::pg;
using Clock = std::chrono::steady_clock;

bool is_context_error(std::error_code code) {
  return code == tether::errc::canceled || code == tether::errc::deadline_exceeded;
}

// Creates demo_fail(text) and the preferences table with the rows of preferences_row(),
// unless demo_seed_info says they are there for `users` already.
pg::Result<SeedReport> seed(const tether::Context& ctx, pg::Connection& conn, std::int64_t users) {
  const auto start = Clock::now();
  auto took = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  };
  if (auto r = conn.exec(ctx,
                         "CREATE OR REPLACE FUNCTION demo_fail(source text) RETURNS integer "
                         "LANGUAGE plpgsql AS $$ BEGIN "
                         "RAISE EXCEPTION 'injected failure in %', source; END $$");
      !r)
    return r.error();
  if (auto r = conn.exec(ctx, "CREATE TABLE IF NOT EXISTS demo_seed_info(users bigint NOT NULL)");
      !r)
    return r.error();
  auto current = conn.query(ctx, "SELECT users FROM demo_seed_info");
  if (!current) return current.error();
  if (!current->empty() && current->at(0).get<std::int64_t>(0) == users)
    return SeedReport{false, users, took()};

  // preferences_row() in SQL: element id % size of each list (arrays are 1-based).
  const PreferenceLists lists = preference_lists();
  auto pick = [](std::span<const std::string_view> items) {
    std::string out = "(ARRAY[";
    for (std::size_t i = 0; i < items.size(); ++i)
      out += (i ? ",'" : "'") + std::string(items[i]) + "'";
    return out + "])[id % " + std::to_string(items.size()) + " + 1]";
  };
  const std::string fill =
      "INSERT INTO preferences(user_id, theme, language, newsletter, timezone) SELECT id, " +
      pick(lists.themes) + ", " + pick(lists.languages) + ", id % 3 = 0, " + pick(lists.timezones) +
      " FROM generate_series(1, $1::bigint) AS id";

  auto run = [&](std::string_view sql, bool with_users) {
    return with_users ? conn.exec(ctx, sql, users) : conn.exec(ctx, sql);
  };
  const std::pair<std::string_view, bool> steps[] = {
      {"BEGIN", false},
      {"DROP TABLE IF EXISTS preferences", false},
      {"CREATE TABLE preferences(user_id bigint PRIMARY KEY, theme text NOT NULL, "
       "language text NOT NULL, newsletter boolean NOT NULL, timezone text NOT NULL)",
       false},
      {"DELETE FROM demo_seed_info", false},
      {fill, true},
      {"INSERT INTO demo_seed_info(users) VALUES ($1)", true},
      {"COMMIT", false}};
  for (const auto& [sql, with_users] : steps) {
    if (auto r = run(sql, with_users); !r) {
      if (conn.healthy() || conn.is_open())
        (void)conn.exec(tether::without_cancel(ctx), "ROLLBACK");
      return r.error();
    }
  }
  return SeedReport{true, users, took()};
}

// The conninfo for the log, without a password ("password=…" or "user:…@" in a URI).
std::string redacted(std::string conninfo) {
  if (auto at = conninfo.find("password="); at != std::string::npos) {
    std::size_t end = conninfo.find(' ', at);
    conninfo.replace(at + 9, (end == std::string::npos ? conninfo.size() : end) - at - 9, "***");
  }
  if (auto scheme = conninfo.find("://"); scheme != std::string::npos) {
    std::size_t at = conninfo.find('@', scheme);
    std::size_t colon = conninfo.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at)
      conninfo.replace(colon + 1, at - colon - 1, "***");
  }
  return conninfo;
}

}  // namespace

PgPreferences::PgPreferences(std::string conninfo, std::size_t max_connections)
    : pool_(
          pg::Pool::Options{.conninfo = std::move(conninfo), .max_connections = max_connections}) {}

SourceResult PgPreferences::fetch(const tether::Context& ctx, const SourceRequest& request) {
  const bool started_alive = !ctx.err();
  auto conn = pool_.acquire(ctx);
  if (!conn) {
    if (is_context_error(conn.error().code)) return context_ended(ctx, conn.error().code, false);
    return {Outcome::failed, nullptr, conn.error().message, false};
  }
  const bool knobs = request.latency.count() > 0 || request.fail;
  // With knobs: pg_sleep runs inside the statement (the LEFT JOIN runs it first and still
  // yields one row, of NULLs, for an unknown id); the last column raises the injected failure.
  auto rows =
      knobs ? (*conn)->query(ctx,
                             "SELECT t.theme, t.language, t.newsletter, t.timezone, "
                             "CASE WHEN $3::boolean THEN demo_fail('preferences') END "
                             "FROM (SELECT pg_sleep($2::double precision)) AS s "
                             "LEFT JOIN preferences AS t ON t.user_id = $1::bigint",
                             request.user_id, static_cast<double>(request.latency.count()) / 1000.0,
                             request.fail)
            : (*conn)->query(ctx,
                             "SELECT theme, language, newsletter, timezone FROM preferences "
                             "WHERE user_id = $1::bigint",
                             request.user_id);
  if (!rows) {
    if (is_context_error(rows.error().code))
      return context_ended(ctx, rows.error().code, started_alive);
    return {Outcome::failed, nullptr, rows.error().message, false};
  }
  if (rows->empty() || rows->at(0).is_null(0)) return {Outcome::not_found, nullptr, "", false};
  const pg::Row& row = rows->at(0);
  return {Outcome::ok,
          nlohmann::ordered_json{{"theme", row.get<std::string>(0)},
                                 {"language", row.get<std::string>(1)},
                                 {"newsletter", row.get<bool>(2)},
                                 {"timezone", row.get<std::string>(3)}},
          "", false};
}

Result<PgPreferencesStarted> start_pg_preferences(const tether::Context& ctx,
                                                  const std::string& conninfo,
                                                  const std::string& template_dir,
                                                  std::int64_t users, std::size_t max_connections) {
  PgPreferencesStarted started;
  std::string target = conninfo;
  if (target.empty()) {
    pg::LocalCluster::Options options;
    options.template_dir = template_dir;
    options.max_connections = static_cast<int>(max_connections) + 10;
    started.local = std::make_unique<pg::LocalCluster>(options);
    if (!started.local->running())
      return Error{
          make_error_code(errc::startup_failed),
          "--postgres: cannot start a local PostgreSQL cluster: " + started.local->message()};
    target = started.local->conninfo();
  }
  auto conn = pg::Connection::connect(ctx, target);
  if (!conn) return Error{conn.error().code, "--postgres: cannot connect: " + conn.error().message};
  auto seeded = seed(ctx, *conn, users);
  if (!seeded)
    return Error{seeded.error().code, "--postgres: seeding preferences: " + seeded.error().message};
  started.source = std::make_unique<PgPreferences>(target, max_connections);
  started.note = {{"postgres", redacted(target)},
                  {"local_cluster", started.local != nullptr},
                  {"users", seeded->users},
                  {"seeded", seeded->seeded},
                  {"took_ms", seeded->took.count()}};
  return started;
}

}  // namespace tether_demo
