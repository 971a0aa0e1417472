// Example 9 — trace ids: typed keys carry a trace id into every log line of a call chain.
//
// Go:
//   type contextKey string
//   const traceIDKey contextKey = "traceID"
//   ctx = context.WithValue(ctx, traceIDKey, "abc-123")
//   traceID, ok := ctx.Value(traceIDKey).(string)
//
// tether::Key<T> is the typed key: its identity is its address, so no other library can
// collide with it, and a lookup can only ever find a std::string — no failed cast.
#include <tether/context.hpp>

#include <cstdio>
#include <string>

inline const tether::Key<std::string> trace_id{"trace_id"};
inline const tether::Key<std::string> user_id{"user_id"};

void log(const tether::Context& ctx, const char* msg) {
  const std::string* trace = ctx.value(trace_id);
  const std::string* user = ctx.value(user_id);
  std::printf("[trace=%s user=%s] %s\n", trace ? trace->c_str() : "-", user ? user->c_str() : "-",
              msg);
}

void query_db(const tether::Context& ctx) { log(ctx, "db: SELECT * FROM users"); }

void load_user(const tether::Context& ctx) {
  log(ctx, "load_user: start");
  query_db(ctx);
}

void handle_request(const tether::Context& ctx, const char* trace, const char* user) {
  // The entry point attaches the request-scoped metadata once...
  auto rctx = tether::with_value(ctx, trace_id, std::string(trace));
  rctx = tether::with_value(rctx, user_id, std::string(user));
  // ...and every function below finds it, with a deadline or cancel layered in between.
  auto [cctx, cancel] = tether::with_cancel(rctx);
  log(cctx, "handle_request");
  load_user(cctx);
}

int main() {
  log(tether::background(), "startup (no request)");
  handle_request(tether::background(), "abc-123", "alice");
  handle_request(tether::background(), "def-456", "bob");
}
