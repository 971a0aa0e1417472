// tether-vet corpus: context-first. Each finding's line carries `expect: tether-<check>`;
// every other line must produce nothing. Compiled by g++ too (tether_vet_corpus).
//
// The tutorials: "The context always goes as the first parameter to any function that needs
// it ... Trust the convention. First arg, named ctx."
// Each expectation sits on the line of its finding: no reformatting.
// clang-format off
#include <tether/context.hpp>

#include <string>

using ContextAlias = tether::Context;

// WRONG (the tutorials' "ctx not first"): the context after the other arguments.
std::string get_user(const std::string& user_id, const tether::Context& ctx) {  // expect: tether-context-first
  return ctx.err() ? "" : user_id;
}

// RIGHT: GetUser(ctx context.Context, userID string).
std::string get_user_right(const tether::Context& ctx, const std::string& user_id) {
  return ctx.err() ? "" : user_id;
}

// By value and by rvalue reference count the same; so does a typedef.
int by_value(int n, tether::Context ctx) { return ctx.err() ? 0 : n; }  // expect: tether-context-first
int by_rvalue(int n, tether::Context&& ctx) { return ctx.err() ? 0 : n; }  // expect: tether-context-first
int by_alias(int n, const ContextAlias& ctx) { return ctx.err() ? 0 : n; }  // expect: tether-context-first
int alias_first(const ContextAlias& ctx, int n) { return ctx.err() ? 0 : n; }

// Two contexts first (a merge): fine. A context between other parameters: not.
bool both_first(const tether::Context& a, const tether::Context& b, int) {
  return a.err() || b.err();
}
bool second_late(const tether::Context& a, int, const tether::Context& b) {  // expect: tether-context-first
  return a.err() || b.err();
}

// A declaration is checked once: here, not again at the definition below.
int declared(int n, const tether::Context& ctx);  // expect: tether-context-first
int declared(int n, const tether::Context& ctx) { return ctx.err() ? 0 : n; }

// Member functions and constructors.
class Worker {
 public:
  Worker(int id, tether::Context ctx) : id_(id), ctx_(std::move(ctx)) {}  // expect: tether-context-first
  explicit Worker(tether::Context ctx) : ctx_(std::move(ctx)) {}
  int run(int n, const tether::Context& ctx) const { return ctx.err() ? id_ : n; }  // expect: tether-context-first
  int run_right(const tether::Context& ctx, int n) const { return ctx.err() ? id_ : n; }
  virtual int step(int n, const tether::Context& ctx) { return ctx.err() ? 0 : n; }  // expect: tether-context-first
  virtual ~Worker() = default;

 private:
  int id_ = 0;
  tether::Context ctx_;  // a Context stored in a struct: not a parameter, not this check
};

// An override cannot choose its parameter order: only the base is reported.
class Derived : public Worker {
 public:
  using Worker::Worker;
  int step(int n, const tether::Context& ctx) override { return ctx.err() ? 1 : n; }
};

// Lambdas.
auto lambda_wrong = [](int n, const tether::Context& ctx) { return ctx.err() ? 0 : n; };  // expect: tether-context-first
auto lambda_right = [](const tether::Context& ctx, int n) { return ctx.err() ? 0 : n; };

// Templates: the template is checked once, not each instantiation.
template <class T>
T templ(T value, const tether::Context& ctx) {  // expect: tether-context-first
  return ctx.err() ? T{} : value;
}
template <class T>
T templ_right(const tether::Context& ctx, T value) {
  return ctx.err() ? T{} : value;
}
int use_templates(const tether::Context& ctx) {
  return templ(1, ctx) + templ(2L, ctx) + templ_right(ctx, 3);
}

// A template parameter that happens to be a Context is not seen (the pattern's type is T).
template <class C>
bool generic(int, const C& c) {
  return !c.err();
}
bool use_generic(const tether::Context& ctx) { return generic(1, ctx); }

// Operators: their order is the language's.
bool operator==(int n, const tether::Context& ctx) { return n == 0 && !ctx.err(); }

// Suppressed, with a reason.
// tether-vet: ignore[context-first] the signature is a C callback's, the context rides last
int c_callback(void* user, int n, const tether::Context& ctx) {
  return user && !ctx.err() ? n : 0;
}

// A suppression for a parameter may also sit on the line before the declaration.
// tether-vet: ignore[context-first] mirrors an existing API: the I/O object comes first
template <class T>
void async_op(T& io_object,
              const tether::Context& ctx) {
  (void)io_object;
  (void)ctx.err();
}

// A suppression without a reason suppresses nothing, and is reported itself.
// (`expect@+1:` puts the expectation on the next line, which must not carry any other text.)
// expect@+1: tether-suppression
// tether-vet: ignore[context-first]
int no_reason(int n, const tether::Context& ctx) {  // expect: tether-context-first
  return ctx.err() ? 0 : n;
}

// Google Benchmark's BENCHMARK_CAPTURE passes its State first: the context may follow it.
namespace benchmark {
class State {};
}  // namespace benchmark
void bench_ok(benchmark::State& state, const tether::Context& ctx) { (void)state, (void)ctx.err(); }
void bench_wrong(benchmark::State& state, int n, const tether::Context& ctx) {  // expect: tether-context-first
  (void)state, (void)n, (void)ctx.err();
}
