// tether-vet corpus: coroutine-context-ref — a coroutine keeps its parameters in its frame,
// but a reference parameter still points at the caller's object, which may be gone after the
// first suspension (a temporary, a with_timeout child that went out of scope).
// Each expectation sits on the line of its finding: no reformatting.
// clang-format off
#include <tether/context.hpp>
#include <tether/sync/coro.hpp>

#include <coroutine>
#include <exception>

// A minimal eager, fire-and-forget coroutine type.
struct Task {
  struct promise_type {
    Task get_return_object() { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() { std::terminate(); }
  };
};

// WRONG: the tether-specific trap — `const Context&`, the usual parameter, in a coroutine.
Task watch(const tether::Context& ctx) {  // expect: tether-coroutine-context-ref
  co_await ctx.done();
}
Task watch_rvalue(tether::Context&& ctx) {  // expect: tether-coroutine-context-ref
  co_await ctx.done();
}
// RIGHT: by value; the frame owns a handle.
Task watch_right(tether::Context ctx) { co_await ctx.done(); }

// The same function without co_await is not a coroutine: a reference is the convention.
bool check(const tether::Context& ctx) { return ctx.done().ready(); }

// Member functions and templates.
struct Watcher {
  Task run(const tether::Context& ctx) {  // expect: tether-coroutine-context-ref
    co_await ctx.done();
    ++done;
  }
  Task run_right(tether::Context ctx) {
    co_await ctx.done();
    ++done;
  }
  int done = 0;
};
template <class T>
Task watch_t(const tether::Context& ctx, T) {  // expect: tether-coroutine-context-ref
  co_await ctx.done();
}

// Lambdas: a reference parameter, or a Context captured by reference.
void lambdas(tether::Context ctx) {
  auto a = [](const tether::Context& c) -> Task { co_await c.done(); };  // expect: tether-coroutine-context-ref
  auto b = [](tether::Context c) -> Task { co_await c.done(); };
  auto c = [&ctx]() -> Task { co_await ctx.done(); };  // expect: tether-coroutine-context-ref
  auto d = [ctx]() -> Task { co_await ctx.done(); };
  auto e = [&]() -> Task { co_await ctx.done(); };  // expect: tether-coroutine-context-ref
  (void)a;
  (void)b;
  (void)c;
  (void)d;
  (void)e;
}

// Suppressed with a reason.
// tether-vet: ignore[coroutine-context-ref] the caller co_awaits this task at once
Task child(const tether::Context& ctx) { co_await ctx.done(); }
