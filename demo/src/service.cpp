#include "service.hpp"

#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "activity_service.hpp"
#include "seed.hpp"
#include "sources.hpp"
#include "task_pool.hpp"
#include "tether/debug.hpp"
#include "tether/http.hpp"
#include "tether/registry.hpp"
#include "users_endpoint.hpp"
#ifdef TETHER_DEMO_HAVE_PG
#include "pg_preferences.hpp"
#endif
#ifdef TETHER_DEMO_HAVE_GRPC
#include "grpc_activity.hpp"
#endif

namespace tether_demo {

namespace http = tether::http;

namespace {

// A coroutine route's answer when it is ready at once: computed on the I/O thread (it must
// not block), handed back without suspending.
boost::asio::awaitable<http::Response> answer(http::Response r) { co_return r; }

// Starts `server`, saying in plain words which port could not be bound.
template <class Server>
void listen(Server& server, std::uint16_t port, const char* what) {
  try {
    server.start();
  } catch (const std::system_error& e) {
    throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(port) + " for " + what +
                             ": " + e.code().message());
  }
}

// The start note of a seeded SQLite file.
Fields seed_note(const std::string& file, const SeedReport& r) {
  return {{"file", file}, {"users", r.users}, {"seeded", r.seeded}, {"took_ms", r.took.count()}};
}

}  // namespace

struct Service::Parts {
  // Declared in construction order; destroyed in reverse (the server first).
#ifdef TETHER_DEMO_HAVE_PG
  std::unique_ptr<tether::pg::LocalCluster> local_postgres;
#endif
  std::unique_ptr<ProfileSource> profile;
  std::unique_ptr<PreferencesSource> preferences;
  std::unique_ptr<ActivityService> activity_service;
  std::unique_ptr<ActivitySource> activity;
  std::unique_ptr<TaskPool> pool;
  std::unique_ptr<UsersEndpoint> users;
  std::unique_ptr<http::Server> server;
};

Service::Service(Options options, Log& log)
    : options_(std::move(options)), log_(log), parts_(std::make_unique<Parts>()) {}

Service::~Service() = default;  // ~Server cancels what still runs and waits for it

std::uint16_t Service::port() const noexcept { return parts_->server ? parts_->server->port() : 0; }

std::uint16_t Service::activity_port() const noexcept {
  return parts_->activity_service ? parts_->activity_service->port() : 0;
}

void Service::start(const tether::Context& ctx) {
  tether::registry::enable(options_.registry);
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir, ec);
  if (ec)
    throw std::runtime_error("cannot create --data-dir " + options_.data_dir + ": " + ec.message());
  start_profiles(ctx);
  start_preferences(ctx);
  start_activity();
  // Three sources per request handler may block at once.
  Parts& p = *parts_;
  p.pool = std::make_unique<TaskPool>(3 * static_cast<std::size_t>(options_.workers));
  p.users = std::make_unique<UsersEndpoint>(UsersEndpoint::Parts{
      log_, metrics_, *p.pool, *p.profile, *p.preferences, *p.activity, options_});
  start_server();
}

void Service::start_profiles(const tether::Context& ctx) {
  const std::string profiles_db = options_.data_dir + "/profiles.db";
  auto seeded = seed_profiles(ctx, profiles_db, options_.users);
  if (!seeded) throw std::runtime_error("seeding " + profiles_db + ": " + seeded.error().message);
  notes_.push_back(seed_note(profiles_db, *seeded));
  parts_->profile = std::make_unique<ProfileSource>(profiles_db);
}

void Service::start_preferences(const tether::Context& ctx) {
  Parts& p = *parts_;
  if (options_.postgres) {
#ifdef TETHER_DEMO_HAVE_PG
    auto pg = start_pg_preferences(ctx, *options_.postgres, options_.data_dir + "/pg-template",
                                   options_.users, options_.workers);
    if (!pg) throw std::runtime_error(pg.error().message);
    PgPreferencesStarted& started = *pg;
    p.local_postgres = std::move(started.local);
    p.preferences = std::move(started.source);
    notes_.push_back(std::move(started.note));
    return;
#else
    throw std::runtime_error("--postgres: this build has no PostgreSQL support (libpq missing)");
#endif
  }
  const std::string preferences_db = options_.data_dir + "/preferences.db";
  auto prefs = seed_preferences(ctx, preferences_db, options_.users);
  if (!prefs) throw std::runtime_error("seeding " + preferences_db + ": " + prefs.error().message);
  notes_.push_back(seed_note(preferences_db, *prefs));
  p.preferences = std::make_unique<SqlitePreferences>(preferences_db);
}

void Service::start_activity() {
  Parts& p = *parts_;
  if (!options_.activity_grpc.empty()) {
    // The activity service over gRPC, in its own process (tether-demo-activity). gRPC
    // connects lazily: until it is up, the calls fail and the source is degraded.
#ifdef TETHER_DEMO_HAVE_GRPC
    p.activity = std::make_unique<GrpcActivity>(options_.activity_grpc);
    return;
#else
    throw std::runtime_error("--activity-grpc: this build has no gRPC support (tether::grpc)");
#endif
  }
  // The activity service, in-process on its own port.
  p.activity_service = std::make_unique<ActivityService>(log_, options_.activity_port,
                                                         options_.workers, options_.users);
  listen(*p.activity_service, options_.activity_port, "the activity service");
  p.activity = std::make_unique<HttpActivity>("http://127.0.0.1:" +
                                              std::to_string(p.activity_service->port()));
}

void Service::start_server() {
  http::ServerOptions server_options;
  server_options.port = options_.port;
  server_options.io_threads = 2;
  server_options.workers = options_.workers;
  server_options.max_timeout = options_.timeout;  // a caller may lower the deadline, not raise it
  server_options.access_log = [this](const http::AccessLogEntry& e) {
    on_request_finished(e);  // counted before logged: a reader of the log finds the
                             // metrics already up to date
    log_.info("request", {{"method", e.method},
                          {"path", e.path},
                          {"status", e.status},
                          {"duration_ms", to_ms(e.duration)},
                          {"trace_id", e.trace_id},
                          {"cause", e.cause}});
  };
  // Each request's status goes on its history entry too (/debug/contexts, "History").
  server_options.access_log = tether::debug::recording_status(std::move(server_options.access_log));
  // tether-vet: ignore[broken-chain] the server outlives start(): ctx only bounds the startup
  parts_->server = std::make_unique<http::Server>(tether::background(), server_options);
  add_routes(*parts_->server);
  listen(*parts_->server, options_.port, "the service");
}

void Service::add_routes(http::Server& server) {
  UsersEndpoint& users = *parts_->users;
  server.route("GET", "/users/{id}",
               [this, &users](tether::Context rctx,
                              const http::Request& req) -> boost::asio::awaitable<http::Response> {
                 Metrics::InFlight counted(metrics_);
                 co_return co_await users.handle(std::move(rctx), req);
               },
               {.timeout = options_.timeout});
  // Health, metrics and the debug views never queue behind busy /users handlers: they are
  // coroutine routes, answered on the I/O threads (their work never blocks: a render under
  // brief locks), so they stay responsive while every worker is busy.
  server.route("GET", "/healthz", [](tether::Context, const http::Request&) {
    return answer(http::Response::text(200, "ok"));
  });
  server.route("GET", "/metrics", [this](tether::Context, const http::Request&) {
    http::Response r = http::Response::text(200, metrics_.render(tether::registry::size()));
    r.headers.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return answer(std::move(r));
  });
  // The debug views (tether::debug): live trees, history, timelines. --registry decides
  // whether requests are tracked, so mount() leaves tracking as it is.
  tether::debug::mount(server, {.enable_tracking = false});
}

void Service::on_request_finished(const http::AccessLogEntry& e) {
  metrics_.request_finished(e.status);
  if (!e.cause.empty()) metrics_.cancellation(e.cause);
  if (!draining_.load(std::memory_order_acquire)) return;
  if (e.status == 499 && e.cause_code == http::errc::server_shutdown) {
    dropped_.fetch_add(1);
  } else if (e.status == 499) {
    client_left_.fetch_add(1);
  } else {
    completed_.fetch_add(1);
  }
}

Service::StopReport Service::shutdown(const tether::Context& grace) {
  StopReport report;
  report.in_flight = metrics_.in_flight();
  draining_.store(true, std::memory_order_release);
  if (parts_->server) report.error = parts_->server->shutdown(grace);
  // The activity service last: the demo's requests in flight were still calling it.
  if (parts_->activity_service) {
    std::error_code ec = parts_->activity_service->shutdown(grace);
    if (!report.error) report.error = ec;
  }
  report.in_flight_completed = completed_.load();
  report.dropped = dropped_.load();
  report.client_left = client_left_.load();
  return report;
}

}  // namespace tether_demo
