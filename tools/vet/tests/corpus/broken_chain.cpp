// tether-vet corpus: broken-chain — a function that has a context starts a new root
// (background()/todo()/Context{}) instead of deriving from the one it was given.
// Each expectation sits on the line of its finding: no reformatting.
// clang-format off
#include <tether/context.hpp>
#include <tether/sync/group.hpp>
#include <tether/sync/sleep.hpp>

#include <chrono>
#include <string>

using namespace std::chrono_literals;

std::error_code fetch(const tether::Context& ctx, const std::string& url) {
  return url.empty() ? std::make_error_code(std::errc::invalid_argument) : ctx.err();
}

// WRONG: "a function that starts from Background() in the middle of a request".
std::error_code handle(const tether::Context& ctx, const std::string& url) {
  if (ctx.err()) return ctx.err();
  auto [tctx, cancel] = tether::with_timeout(tether::background(), 2s);  // expect: tether-broken-chain
  return fetch(tctx, url);
}
// WRONG: TODO calcified in request code.
std::error_code handle_todo(const tether::Context& ctx, const std::string& url) {
  if (ctx.err()) return ctx.err();
  return fetch(tether::todo(), url);  // expect: tether-broken-chain
}
// WRONG: a default-constructed Context is background().
std::error_code handle_default(const tether::Context& ctx, const std::string& url) {
  if (ctx.err()) return ctx.err();
  return fetch(tether::Context{}, url);  // expect: tether-broken-chain
}

// RIGHT: derive from the request's context.
std::error_code handle_right(const tether::Context& ctx, const std::string& url) {
  auto [tctx, cancel] = tether::with_timeout(ctx, 2s);
  return fetch(tctx, url);
}
// RIGHT: work that must outlive the request keeps its values, drops its cancel.
std::error_code handle_detached(const tether::Context& ctx, const std::string& url) {
  return fetch(tether::without_cancel(ctx), url);
}

// RIGHT: main (no context to pass) is where roots are made.
int main_like() {
  auto [ctx, cancel] = tether::with_timeout(tether::background(), 1s);
  return handle_right(ctx, "https://example.com") ? 1 : 0;
}

// Lambdas inside a function with a context belong to its request.
std::error_code fan_out(const tether::Context& ctx) {
  tether::Group g(ctx);
  g.go([](const tether::Context& gctx) { return fetch(gctx, "a"); });
  auto later = [] { return fetch(tether::background(), "b"); };  // expect: tether-broken-chain
  g.go([&later](const tether::Context&) { return later(); });
  return g.wait();
}
// Seen from the lambda and from the function around it: reported once.
std::error_code nested_lambda(const tether::Context& ctx) {
  auto inner = [](const tether::Context& c) {
    return c.err() ? c.err() : fetch(tether::todo(), "n");  // expect: tether-broken-chain
  };
  return inner(ctx);
}
// A lambda with its own Context parameter is a function of its own.
auto task = [](const tether::Context& ctx) {
  if (ctx.err()) return ctx.err();
  return fetch(tether::todo(), "c");  // expect: tether-broken-chain
};

// Member functions; a Context member is not a root.
class Client {
 public:
  std::error_code get(const tether::Context& ctx, const std::string& url) {
    if (url.empty()) return fetch(tether::background(), "/");  // expect: tether-broken-chain
    return fetch(ctx, url);
  }
  std::error_code get_stored(const tether::Context& ctx) {
    if (ctx.err()) return ctx.err();
    return fetch(stored_, "/");
  }

 private:
  tether::Context stored_ = tether::background();  // no Context parameter in sight
};

// A struct holding a Context, default-initialised: its member is not spelled here.
struct Holder {
  tether::Context ctx;
  int n = 0;
};
int holders(const tether::Context& ctx) {
  Holder a{};
  Holder b;
  Holder c{ctx, 1};
  tether::Context d;  // expect: tether-broken-chain
  return a.n + b.n + c.n + (d.err() ? 1 : 0);
}

// Templates.
template <class F>
std::error_code with_retry(const tether::Context& ctx, F f) {
  if (auto ec = f(ctx)) return f(tether::background());  // expect: tether-broken-chain
  return {};
}
std::error_code use(const tether::Context& ctx) {
  return with_retry(ctx, [](const tether::Context& c) { return fetch(c, "x"); });
}

// A local class's member function is not the enclosing function's.
std::error_code local_class(const tether::Context& ctx) {
  struct Local {
    static std::error_code run() { return fetch(tether::background(), "l"); }
  };
  return ctx.err() ? ctx.err() : Local::run();
}

// Suppressed with a reason.
std::error_code audit(const tether::Context& ctx) {
  if (ctx.err()) return ctx.err();
  // tether-vet: ignore[broken-chain] the audit record must be written even if the client left
  return fetch(tether::background(), "audit");
}
