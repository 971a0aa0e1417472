// Example 11 — the tutorials' ContextManager tests, ported line by line.
//
// "Mastering Context in Go" tests its ContextManager with three tests: cancellation
// propagates into ExecuteWithContext, a timeout context times out, values survive
// derivation. Here they are against tether::ContextManager, with the same timings (the
// unit tests in examples/context_manager_test.cpp run them on a ManualClock).
#include <tether/context.hpp>
#include "context_manager.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "tether/harness/threads.hpp"

using namespace std::chrono_literals;

int failures = 0;
void check(bool ok, const char* test, const char* what) {
  if (!ok) {
    ++failures;
    std::printf("FAIL %s: %s\n", test, what);
  }
}

// func TestExecuteWithContext_Cancellation(t *testing.T)
void test_execute_with_context_cancellation() {
  tether::ContextManager cm;
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  // Long running task (it ignores the context, like the tutorial's).
  auto task = [] {
    std::this_thread::sleep_for(200ms);
    return std::error_code();
  };
  // Cancel after a short delay.
  std::thread canceller([f = cancel.func()] {
    std::this_thread::sleep_for(50ms);
    f();
  });
  std::error_code err = cm.execute_with_context(ctx, task);
  canceller.join();
  check(err == tether::errc::canceled, "TestExecuteWithContext_Cancellation",
        "expected context canceled");
  std::printf("ok   TestExecuteWithContext_Cancellation (%s; abandoned tasks: %zu)\n",
              err.message().c_str(), cm.abandoned_tasks());
  // ~ContextManager joins the task that ignored its context.
}

// func TestCreateTimeoutContext(t *testing.T)
void test_create_timeout_context() {
  tether::ContextManager cm;
  auto [ctx, cancel] = cm.create_timeout_context(tether::background(), 50ms);
  // select { case <-ctx.Done(): ...; case <-time.After(100 * time.Millisecond): t.Fatal }
  bool done = ctx.done().wait_for(1s);
  check(done, "TestCreateTimeoutContext", "context should time out");
  check(ctx.err() == tether::errc::deadline_exceeded, "TestCreateTimeoutContext",
        "expected context deadline exceeded");
  std::printf("ok   TestCreateTimeoutContext (%s)\n", ctx.err().message().c_str());
}

inline const tether::Key<std::string> user{"user"};
inline const tether::Key<std::string> request_id{"requestID"};
inline const tether::Key<std::string> nonexistent{"nonexistent"};

// func TestAddAndGetValue(t *testing.T)
void test_add_and_get_value() {
  tether::ContextManager cm;
  tether::Context ctx = tether::background();
  ctx = cm.add_value(ctx, user, "alice");
  ctx = cm.add_value(ctx, request_id, "12345");
  const std::string* value = cm.get_value(ctx, user);
  check(value != nullptr && *value == "alice", "TestAddAndGetValue",
        "expected user value to exist and equal 'alice'");
  check(cm.get_value(ctx, nonexistent) == nullptr, "TestAddAndGetValue",
        "expected nonexistent value to not exist");
  std::printf("ok   TestAddAndGetValue (user=%s)\n", value ? value->c_str() : "?");
}

int main() {
  auto [bound, cancel_bound] = tether::with_timeout(tether::background(), 1500ms);  // timer up
  const std::size_t before = tether::harness::thread_count();
  test_execute_with_context_cancellation();
  test_create_timeout_context();
  test_add_and_get_value();
  std::printf("%s: %d failure(s)\n", failures == 0 ? "PASS" : "FAIL", failures);
  std::printf("leaked threads: %zu\n",
              tether::harness::threads_beyond(before, std::chrono::seconds(2)));
  return failures == 0 ? 0 : 1;
}
