#include "sources.hpp"

#include <string_view>

#include "tether/error.hpp"

namespace tether_demo {
namespace {

namespace sq = tether::sqlite;

bool is_context_error(std::error_code code) {
  return code == tether::errc::canceled || code == tether::errc::deadline_exceeded;
}

// The statement a SQLite source runs. Without knobs, the plain lookup. With latency or an
// injected failure, the lookup is joined to a recursive CTE that keeps the virtual machine
// busy until demo_clock_us() reaches ?2 (the LEFT JOIN makes SQLite run the CTE first, and
// still return one row — of NULLs — for an unknown id), and the last column raises the
// injected failure when ?3 is true.
std::string lookup_sql(std::string_view columns, std::string_view table, std::string_view key,
                       std::string_view source, bool with_knobs) {
  std::string sql;
  if (!with_knobs) {
    sql = "SELECT ";
    sql += columns;
    sql += " FROM ";
    sql += table;
    sql += " WHERE ";
    sql += key;
    sql += " = ?1";
    return sql;
  }
  sql =
      "WITH RECURSIVE busy(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM busy "
      "WHERE demo_clock_us() < ?2) SELECT ";
  for (std::size_t start = 0; start < columns.size();) {  // qualify each column with t.
    std::size_t comma = columns.find(',', start);
    if (comma == std::string_view::npos) comma = columns.size();
    std::string_view col = columns.substr(start, comma - start);
    while (!col.empty() && col.front() == ' ') col.remove_prefix(1);
    sql += "t.";
    sql += col;
    sql += ", ";
    start = comma + 1;
  }
  sql += "CASE WHEN ?3 THEN demo_fail('";
  sql += source;
  sql += "') END FROM (SELECT count(*) FROM busy) AS b LEFT JOIN ";
  sql += table;
  sql += " AS t ON t.";
  sql += key;
  sql += " = ?1";
  return sql;
}

// Runs a SQLite source's lookup; `to_json` turns the row into the answer.
template <class ToJson>
SourceResult sqlite_lookup(const tether::Context& ctx, sq::Pool& connections,
                           const std::string& plain_sql, const std::string& knob_sql,
                           const SourceRequest& request, ToJson to_json) {
  auto conn = connections.acquire(ctx);
  if (!conn && is_context_error(conn.error().code))
    return context_ended(ctx, conn.error().code, false);  // no statement had started
  if (!conn) return {Outcome::failed, nullptr, conn.error().message, false};
  const bool knobs = request.latency.count() > 0 || request.fail;
  const bool started_alive = !ctx.err();
  auto rows =
      knobs ? (*conn)->query(ctx, knob_sql, request.user_id,
                             demo_clock_us() + request.latency.count() * 1000, request.fail ? 1 : 0)
            : (*conn)->query(ctx, plain_sql, request.user_id);
  if (!rows) {
    if (is_context_error(rows.error().code))
      return context_ended(ctx, rows.error().code, started_alive);
    return {Outcome::failed, nullptr, rows.error().message, false};
  }
  if (rows->empty() || rows->at(0).is_null(0)) return {Outcome::not_found, nullptr, "", false};
  return {Outcome::ok, to_json(rows->at(0)), "", false};
}

}  // namespace

SourceResult context_ended(const tether::Context& ctx, std::error_code code, bool started_alive) {
  SourceResult r;
  r.outcome =
      code == tether::errc::deadline_exceeded ? Outcome::deadline_exceeded : Outcome::interrupted;
  r.detail = ctx.err() ? tether::cause(ctx).message() : code.message();
  r.stopped_mid_run = started_alive;
  return r;
}

SourceResult ProfileSource::fetch(const tether::Context& ctx, const SourceRequest& request) {
  static const std::string plain =
      lookup_sql("id, name, email, city, joined", "profiles", "id", "profile", false);
  static const std::string knobs =
      lookup_sql("id, name, email, city, joined", "profiles", "id", "profile", true);
  return sqlite_lookup(ctx, connections_, plain, knobs, request, [](const sq::Row& row) {
    return nlohmann::ordered_json{{"id", row.get<std::int64_t>(0)},
                                  {"name", row.get<std::string>(1)},
                                  {"email", row.get<std::string>(2)},
                                  {"city", row.get<std::string>(3)},
                                  {"joined", row.get<std::string>(4)}};
  });
}

SourceResult SqlitePreferences::fetch(const tether::Context& ctx, const SourceRequest& request) {
  static const std::string plain = lookup_sql("theme, language, newsletter, timezone",
                                              "preferences", "user_id", "preferences", false);
  static const std::string knobs = lookup_sql("theme, language, newsletter, timezone",
                                              "preferences", "user_id", "preferences", true);
  return sqlite_lookup(ctx, connections_, plain, knobs, request, [](const sq::Row& row) {
    return nlohmann::ordered_json{{"theme", row.get<std::string>(0)},
                                  {"language", row.get<std::string>(1)},
                                  {"newsletter", row.get<bool>(2)},
                                  {"timezone", row.get<std::string>(3)}};
  });
}

std::string HttpActivity::url_for(const SourceRequest& request) const {
  std::string url = base_url_ + "/activity/" + std::to_string(request.user_id);
  if (request.latency.count() > 0 || request.fail)
    url += "?latency_ms=" + std::to_string(request.latency.count()) +
           "&fail=" + (request.fail ? "1" : "0");
  return url;
}

SourceResult HttpActivity::outcome_of(
    const tether::Context& ctx,
    const tether::Result<tether::http::Response, tether::http::Error>& r, bool started_alive) {
  if (const auto* answer = tether::http::response_of(r); answer && answer->status == 504) {
    // The activity service gave up first: the deadline we propagated (grpc-timeout, minus
    // the client's margin) passed on its side. The client reports it as deadline_exceeded.
    return {Outcome::deadline_exceeded, nullptr,
            "activity service answered 504 (the propagated deadline passed)", false};
  }
  if (!r) {
    if (is_context_error(r.error().code)) return context_ended(ctx, r.error().code, started_alive);
    return {Outcome::failed, nullptr, "activity service: " + r.error().message, false};
  }
  const int status = r->status;
  if (status == 404) return {Outcome::not_found, nullptr, "", false};
  if (status != 200)
    return {Outcome::failed, nullptr, "activity service answered " + std::to_string(status), false};
  auto body = nlohmann::ordered_json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_array())
    return {Outcome::failed, nullptr, "activity service: malformed JSON", false};
  return {Outcome::ok, std::move(body), "", false};
}

SourceResult HttpActivity::fetch(const tether::Context& ctx, const SourceRequest& request) {
  const bool started_alive = !ctx.err();
  return outcome_of(ctx, client_.get(ctx, url_for(request)), started_alive);
}

boost::asio::awaitable<SourceResult> HttpActivity::co_fetch(tether::Context ctx,
                                                            SourceRequest request) {
  const bool started_alive = !ctx.err();
  auto r = co_await client_.co_get(ctx, url_for(request));
  co_return outcome_of(ctx, r, started_alive);
}

}  // namespace tether_demo
