// sources.hpp — the three data sources of GET /users/{id}, each a real call that stops when
// its context does.
//
//   profile      SQLite (profiles.db), critical: without it there is no answer;
//   preferences  SQLite (preferences.db) or PostgreSQL, non-critical;
//   activity     a call to the activity service, non-critical: over HTTP (tether::http::Client)
//                to the in-process one, or over gRPC (tether::grpc) to tether-demo-activity.
//
// Each fetch() takes the source's own context and a SourceRequest: the user id plus this
// request's artificial latency and injected failure. Latency is work the context
// interrupts, never a sleep beside it: in SQLite a recursive CTE that runs until the latency
// has passed (see sqlite_connections.hpp), in PostgreSQL pg_sleep() inside the query
// (stopped by tether::pg's PQcancel), and for activity the activity service's handler,
// which waits on its own request context — cancelled when tether::http::Client closes the
// connection, or when tether::grpc cancels the call. An injected failure is an SQL error
// raised by the database (demo_fail()), or a 503 (HTTP) / UNAVAILABLE (gRPC) from the
// activity service.
//
// fetch() never throws for an expected failure and never logs: it returns a SourceResult,
// which the endpoint logs ("source" lines) and counts (metrics).
//
// Thread safety: fetch() may be called concurrently from any number of threads.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "outcome.hpp"
#include "sqlite_connections.hpp"
#include "tether/context.hpp"
#include "tether/http.hpp"

namespace tether_demo {

/// What one source is asked for.
struct SourceRequest {
  std::int64_t user_id = 0;
  std::chrono::milliseconds latency{0};  ///< artificial latency of this call
  bool fail = false;                     ///< inject a failure into this call
};

/// How one source call ended.
struct SourceResult {
  Outcome outcome = Outcome::ok;
  nlohmann::ordered_json data;  ///< the source's answer when ok; null otherwise
  /// Why it did not succeed: the database's or the service's error, or the context's cause.
  std::string detail;
  /// The statement (SQL) or the call (HTTP) had started while the context was alive, and the
  /// context stopped it mid-run: "query_interrupted" / "call_interrupted" in the log.
  bool stopped_mid_run = false;
};

/// The profile, from profiles.db.
class ProfileSource {
 public:
  explicit ProfileSource(std::string path) : connections_(demo_sqlite_pool(std::move(path))) {}
  SourceResult fetch(const tether::Context& ctx, const SourceRequest& request);

 private:
  tether::sqlite::Pool connections_;
};

/// The preferences: a SQLite file, or PostgreSQL (PgPreferences, pg_preferences.hpp).
class PreferencesSource {
 public:
  virtual ~PreferencesSource() = default;
  virtual SourceResult fetch(const tether::Context& ctx, const SourceRequest& request) = 0;
};

/// The outcome of a call that returned its context's error `code`: interrupted or
/// deadline_exceeded, with the context's cause; stopped mid-run if it started while `ctx` was
/// still alive.
SourceResult context_ended(const tether::Context& ctx, std::error_code code, bool started_alive);

class SqlitePreferences final : public PreferencesSource {
 public:
  explicit SqlitePreferences(std::string path) : connections_(demo_sqlite_pool(std::move(path))) {}
  SourceResult fetch(const tether::Context& ctx, const SourceRequest& request) override;

 private:
  tether::sqlite::Pool connections_;
};

/// The recent activity: the in-process HTTP service (HttpActivity, the default) or the
/// gRPC one in another process (GrpcActivity, grpc_activity.hpp, `--activity-grpc`).
class ActivitySource {
 public:
  virtual ~ActivitySource() = default;
  virtual SourceResult fetch(const tether::Context& ctx, const SourceRequest& request) = 0;
  /// Whether co_fetch() exists: then a coroutine handler awaits the call on its own
  /// executor, holding no thread, instead of running fetch() on the task pool.
  virtual bool awaitable() const noexcept { return false; }
  /// fetch() for coroutines (only when awaitable()). Takes its arguments by value: they
  /// live in the coroutine frame across its suspensions.
  // tether-vet: ignore[context-ignored] a source without an awaitable call never uses it
  virtual boost::asio::awaitable<SourceResult> co_fetch(tether::Context, SourceRequest) {
    throw std::logic_error("ActivitySource::co_fetch: this source has none");
  }
};

/// The activity service at `base_url` ("http://127.0.0.1:PORT"), over HTTP: fetch() with
/// the blocking client call, co_fetch() with its awaitable co_get.
class HttpActivity final : public ActivitySource {
 public:
  explicit HttpActivity(std::string base_url) : base_url_(std::move(base_url)) {}
  SourceResult fetch(const tether::Context& ctx, const SourceRequest& request) override;
  bool awaitable() const noexcept override { return true; }
  boost::asio::awaitable<SourceResult> co_fetch(tether::Context ctx,
                                                SourceRequest request) override;

 private:
  std::string url_for(const SourceRequest& request) const;
  // The call's outcome; `started_alive`: ctx was not done when the call started.
  static SourceResult outcome_of(
      const tether::Context& ctx,
      const tether::Result<tether::http::Response, tether::http::Error>& r, bool started_alive);

  std::string base_url_;
  tether::http::Client client_;
};

}  // namespace tether_demo
