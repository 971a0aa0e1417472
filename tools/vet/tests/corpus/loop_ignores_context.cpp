// tether-vet corpus: loop-ignores-context — the tutorials' ProcessItems: "a loop over items
// that never notices the cancel".
// Each expectation sits on the line of its finding: no reformatting.
// clang-format off
#include <tether/context.hpp>
#include <tether/sync/sleep.hpp>

#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

struct Item {
  std::string name;
};
std::string expensive_operation(const Item& item) {
  std::this_thread::sleep_for(40ms);  // not in a loop
  return "processed_" + item.name;
}
void save_result(const std::string&) {}

// WRONG: "context accepted but ignored inside the loop". The blocking call here is the
// sleep the tutorial's expensiveOperation stands for.
std::error_code process_items(const tether::Context& ctx, const std::vector<Item>& items) {
  if (ctx.err()) return ctx.err();
  for (const auto& item : items) {  // expect: tether-loop-ignores-context
    std::this_thread::sleep_for(40ms);
    save_result("processed_" + item.name);
  }
  return {};
}

// RIGHT: check the context on each iteration ...
std::error_code process_items_right(const tether::Context& ctx, const std::vector<Item>& items) {
  for (const auto& item : items) {
    if (ctx.done().ready()) return ctx.err();
    std::this_thread::sleep_for(40ms);
    save_result("processed_" + item.name);
  }
  return {};
}
// ... or make the blocking call one that takes the context (the tutorial's second version).
std::error_code process_items_select(const tether::Context& ctx, const std::vector<Item>& items) {
  for (const auto& item : items) {
    if (auto ec = tether::sleep_for(ctx, 40ms)) return ec;
    save_result("processed_" + item.name);
  }
  return {};
}
// A loop without a blocking call is not this check's business.
int sum(const tether::Context& ctx, const std::vector<int>& v) {
  int s = 0;
  for (int x : v) s += x;
  return ctx.err() ? 0 : s;
}

// Every kind of loop; sockets, SQLite.
void reader(const tether::Context& ctx, int fd) {
  if (ctx.err()) return;
  char buf[512];
  while (::read(fd, buf, sizeof buf) > 0) {  // expect: tether-loop-ignores-context
  }
  do {  // expect: tether-loop-ignores-context
  } while (::recv(fd, buf, sizeof buf, 0) > 0);
  for (int i = 0; i < 3; ++i) ::usleep(1000);  // expect: tether-loop-ignores-context
  // RIGHT: the condition consults the context.
  while (!ctx.err() && ::read(fd, buf, sizeof buf) > 0) {
  }
}
int step_all(const tether::Context& ctx, sqlite3_stmt* stmt) {
  int rows = 0;
  while (sqlite3_step(stmt) == SQLITE_ROW) ++rows;  // expect: tether-loop-ignores-context
  return ctx.err() ? -1 : rows;
}

// A derived context (a structured binding) or a stored one counts as consulting.
std::error_code derived(const tether::Context& ctx, int fd) {
  auto [tctx, cancel] = tether::with_timeout(ctx, 1s);
  char buf[16];
  while (!tctx.err()) {
    if (::read(fd, buf, sizeof buf) <= 0) break;
  }
  return tctx.err();
}
struct Request {
  tether::Context ctx;
  int fd;
};
void stored(const tether::Context& ctx, const Request& req) {
  char buf[16];
  while (!req.ctx.err() && ::read(req.fd, buf, sizeof buf) > 0) {
  }
  (void)ctx.err();
}

// Nested loops: each loop is judged on the calls directly in it.
void nested(const tether::Context& ctx, const std::vector<std::vector<Item>>& batches) {
  for (const auto& batch : batches) {
    if (ctx.err()) return;
    for (const auto& item : batch) {  // expect: tether-loop-ignores-context
      std::this_thread::sleep_for(1ms);
      save_result(item.name);
    }
  }
}

// A lambda inside the loop runs elsewhere: its blocking call is not the loop's.
void spawn(const tether::Context& ctx, std::vector<std::thread>& threads) {
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([] { std::this_thread::sleep_for(1ms); });
  }
  (void)ctx.err();
}
// A loop inside a lambda inside a function with a context is checked.
void in_lambda(const tether::Context& ctx, std::vector<std::thread>& threads) {
  threads.emplace_back([] {
    for (int i = 0; i < 3; ++i) std::this_thread::sleep_for(1ms);  // expect: tether-loop-ignores-context
  });
  threads.emplace_back([ctx] {
    for (int i = 0; i < 3 && !ctx.err(); ++i) std::this_thread::sleep_for(1ms);
  });
}

// Member functions and templates; condition variables; a function without a Context is
// out of scope (nothing to consult).
class Queue {
 public:
  void wait_nonempty(const tether::Context& ctx) {
    std::unique_lock lock(mu_);
    while (items_.empty()) cv_.wait(lock);  // expect: tether-loop-ignores-context
    (void)ctx.err();
  }
  void wait_nonempty_right(const tether::Context& ctx) {
    std::unique_lock lock(mu_);
    while (items_.empty() && !ctx.err()) cv_.wait_for(lock, 10ms);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> items_;
};
template <class T>
void drain(const tether::Context& ctx, std::vector<T>& v) {
  while (!v.empty()) {  // expect: tether-loop-ignores-context
    ::usleep(10);
    v.pop_back();
  }
  (void)ctx.err();
}
void no_context(int fd) {
  char b[4];
  while (::read(fd, b, sizeof b) > 0) {
  }
}

// Suppressed with a reason.
void bounded(const tether::Context& ctx) {
  if (ctx.err()) return;
  // tether-vet: ignore[loop-ignores-context] three 1 ms retries, bounded by design
  for (int i = 0; i < 3; ++i) ::usleep(1000);
}
