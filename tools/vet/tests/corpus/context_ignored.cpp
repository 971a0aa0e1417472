// tether-vet corpus: context-ignored — "Accepting ctx as a parameter without actually
// checking ctx.Done() is theater."
// Each expectation sits on the line of its finding: no reformatting.
// clang-format off
#include <tether/context.hpp>
#include <tether/sync/sleep.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;

struct User {
  std::string id;
};
User query_row(const std::string& id) { return User{id}; }
User query_row_context(const tether::Context& ctx, const std::string& id) {
  if (ctx.err()) return {};
  return User{id};
}

// WRONG: the signature promises cancellation; the body never looks at the context.
// (`(void)ctx;` only silences the compiler; it is not a use.)
User get_user(const tether::Context& ctx, const std::string& id) {  // expect: tether-context-ignored
  (void)ctx;
  return query_row(id);
}
User get_user_static_cast(const tether::Context& ctx, const std::string& id) {  // expect: tether-context-ignored
  static_cast<void>(ctx);
  return query_row(id);
}
User get_user_maybe_unused([[maybe_unused]] const tether::Context& ctx,  // expect: tether-context-ignored
                           const std::string& id) {
  return query_row(id);
}
// An unnamed Context in a plain function is the same promise, unkept.
User get_user_unnamed(const tether::Context&, const std::string& id) {  // expect: tether-context-ignored
  return query_row(id);
}

// RIGHT: GetUser(ctx, id) with db.QueryRowContext(ctx, ...): passed to a call.
User get_user_right(const tether::Context& ctx, const std::string& id) {
  return query_row_context(ctx, id);
}

// Every kind of use counts: err/done/deadline/value, copy, capture, store, return.
bool uses_err(const tether::Context& ctx) { return !ctx.err(); }
bool uses_done(tether::Context ctx) { return ctx.done().ready(); }
bool uses_deadline(tether::Context&& ctx) { return ctx.deadline().has_value(); }
inline const tether::Key<std::string> trace_id{"trace_id"};
bool uses_value(const tether::Context& ctx) { return ctx.value(trace_id) != nullptr; }
std::function<bool()> captures(const tether::Context& ctx) {
  return [ctx] { return !ctx.err(); };
}
std::function<void()> captures_unused(const tether::Context& ctx) {
  return [ctx] {};  // an explicit capture keeps it alive: a use
}
tether::Context returns(const tether::Context& ctx) { return ctx; }

// A Context stored in a struct: the constructor's member initialiser is a use.
struct Job {
  explicit Job(tether::Context c) : ctx(std::move(c)) {}
  tether::Context ctx;
};
struct Job2 {
  Job2(const tether::Context& c, int n) : n_(n) {}  // expect: tether-context-ignored
  int n_;
};

// Virtual functions: an unnamed Context says "this implementation needs none" (the
// interface imposes the parameter); a named one that is not used is still theater.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual int handle(const tether::Context& ctx, int n) = 0;
};
class Echo : public Handler {
 public:
  int handle(const tether::Context&, int n) override { return n; }
};
class Theater : public Handler {
 public:
  int handle(const tether::Context& ctx, int n) override {  // expect: tether-context-ignored
    (void)ctx;
    return n;
  }
};

// Lambdas: an unnamed parameter fills a callback slot; a named one is checked.
void run_task(const tether::Context& ctx, const std::function<int(const tether::Context&)>& f) {
  f(ctx);
}
void lambdas(const tether::Context& ctx) {
  run_task(ctx, [](const tether::Context&) { return 1; });
  run_task(ctx, [](const tether::Context& c) { return c.err() ? 0 : 1; });
  run_task(ctx, [](const tether::Context& c) {  // expect: tether-context-ignored
    (void)c;
    return 1;
  });
}

// Templates: the body of the template is checked once.
template <class T>
T echo(const tether::Context& ctx, T v) {  // expect: tether-context-ignored
  (void)ctx;
  return v;
}
template <class T>
std::optional<T> echo_right(const tether::Context& ctx, T v) {
  if (ctx.err()) return std::nullopt;
  return v;
}
int use(const tether::Context& ctx) { return echo(ctx, 1) + *echo_right(ctx, 2); }

// A declaration has no body to judge.
void only_declared(const tether::Context& ctx);

// Suppressed, with a reason (on the line before).
// tether-vet: ignore[context-ignored] kept for ABI compatibility; never blocks
int legacy(const tether::Context& ctx, int n) {
  (void)ctx;
  return n;
}
