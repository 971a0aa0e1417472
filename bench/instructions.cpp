// bench/instructions.cpp — tether_instructions: the core operations whose instruction
// counts `make bench-instructions` (bench/instructions.py) measures under Callgrind.
//
// Instruction counts do not depend on the machine's load, so unlike the wall-time
// benchmarks they can be checked in CI. Each operation runs kWarmup times (first-use
// allocations, the timer thread's start), then kOps times with Callgrind collecting, then
// Callgrind dumps its counters under the operation's name; instructions.py divides each
// dump by kOps. Everything is single-threaded: the counts are the same on every run.
//
//   valgrind --tool=callgrind --collect-atstart=no build-bench/bench/tether_instructions
//   tether_instructions --list     the operations and their descriptions
//
// Outside Valgrind the client requests do nothing and the program just runs the loops.
#include <valgrind/callgrind.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

#include "tether/context.hpp"

using namespace std::chrono_literals;

namespace {

constexpr int kWarmup = 200;
constexpr int kOps = 1000;

// Keeps the compiler from deleting work whose result is unused.
template <class T>
void keep(T const& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

struct Op {
  const char* name;
  const char* what;
  void (*run)(int n);
  int counted = kOps;  // operations counted per dump (the divisor)
};

// Turns Callgrind's collection off for its lifetime: setup inside a counted run.
struct Uncounted {
  Uncounted() { CALLGRIND_TOGGLE_COLLECT; }
  ~Uncounted() { CALLGRIND_TOGGLE_COLLECT; }
  Uncounted(const Uncounted&) = delete;
  Uncounted& operator=(const Uncounted&) = delete;
};

// ---- the floor: what the standard library charges for the same job -----------------------

void std_floor(int n) {
  for (int i = 0; i < n; i++) {
    std::stop_source source;
    int fired = 0;
    std::stop_callback cb(source.get_token(), [&fired] { ++fired; });
    source.request_stop();
    keep(fired);
  }
}

// ---- derive + cancel ------------------------------------------------------------------------

void with_cancel_cancel(int n) {
  const tether::Context root = tether::background();
  for (int i = 0; i < n; i++) {
    auto [ctx, cancel] = tether::with_cancel(root);
    cancel();
    keep(ctx.err());
  }
}

void with_cancel_under_parent(int n) {
  auto [parent, parent_cancel] = tether::with_cancel(tether::background());
  for (int i = 0; i < n; i++) {
    auto [ctx, cancel] = tether::with_cancel(parent);
    cancel();
    keep(ctx.err());
  }
}

void with_cancel_after_func(int n) {
  const tether::Context root = tether::background();
  for (int i = 0; i < n; i++) {
    auto [ctx, cancel] = tether::with_cancel(root);
    int fired = 0;
    auto registration = tether::after_func(ctx, [&fired] { ++fired; });
    cancel();
    keep(fired);
  }
}

void with_timeout_cancel(int n) {
  const tether::Context root = tether::background();
  for (int i = 0; i < n; i++) {
    auto [ctx, cancel] = tether::with_timeout(root, 1h);
    cancel();
    keep(ctx.err());
  }
}

// Like with_timeout_cancel, with 10 000 other deadlines armed (the heap is not empty).
void with_timeout_cancel_busy_heap(int n) {
  const tether::Context root = tether::background();
  std::vector<tether::CancelFunc> others;
  {
    Uncounted setup;
    for (int i = 0; i < 10'000; i++)
      others.push_back(tether::with_timeout(root, 2h).cancel.release());
  }
  for (int i = 0; i < n; i++) {
    auto [ctx, cancel] = tether::with_timeout(root, 1h);
    cancel();
    keep(ctx.err());
  }
  Uncounted teardown;  // leaves the heap as it found it, for the operations after this one
  for (auto& c : others) c();
  std::vector<tether::CancelFunc>().swap(others);
}

void with_value_drop(int n) {
  static const tether::Key<int> key{"k"};
  const tether::Context root = tether::background();
  for (int i = 0; i < n; i++) {
    tether::Context ctx = tether::with_value(root, key, i);
    keep(ctx.value(key));
  }
}

void after_func_stop(int n) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  for (int i = 0; i < n; i++) {
    auto registration = tether::after_func(ctx, [] {});
    keep(registration.stop());
  }
}

// A parent with 10 children, cancelled: per operation, one parent + 10 children.
void cancel_fan_out_10(int n) {
  for (int i = 0; i < n; i++) {
    auto [parent, cancel] = tether::with_cancel(tether::background());
    tether::CancelFunc children[10];
    for (auto& c : children) c = tether::with_cancel(parent).cancel.release();
    cancel();
    keep(parent.err());
  }
}

// n one-hour timeouts live, then all cancelled oldest first (the order in which requests
// end); only the cancels are counted. Per cancel, whatever n: the instruction side of
// "flat in n" (the wall-time side, with cache misses, is TimeoutsCancel in make bench).
template <int kLive>
void cancel_live_timeouts_oldest_first(int) {
  std::vector<tether::CancelFunc> live;
  {
    Uncounted setup;
    live.resize(kLive);
    for (auto& c : live) c = tether::with_timeout(tether::background(), 1h).cancel.release();
  }
  for (auto& c : live) c();
  Uncounted teardown;
  std::vector<tether::CancelFunc>().swap(live);  // frees the nodes and the array, uncounted
}

void err_check(int n) {
  auto [ctx, cancel] = tether::with_cancel(tether::background());
  for (int i = 0; i < n; i++) keep(ctx.err());
}

// Under Valgrind one thread runs at a time; a blocking call lets the timer thread finish
// whatever it was woken for, so that none of its lock traffic falls into a counted loop.
void let_other_threads_settle() { std::this_thread::sleep_for(20ms); }

const Op kOpsTable[] = {
    {"std_floor", "std::stop_source + std::stop_callback + request_stop (the floor)", std_floor},
    {"with_cancel+cancel", "with_cancel(background) + cancel, then drop", with_cancel_cancel},
    {"with_cancel(parent)+cancel", "with_cancel of a live cancellable parent + cancel",
     with_cancel_under_parent},
    {"with_cancel+after_func+cancel", "the floor's job: derive, register a callback, cancel",
     with_cancel_after_func},
    {"with_timeout+cancel", "with_timeout(background, 1h) + cancel, then drop",
     with_timeout_cancel},
    {"with_timeout+cancel (10k armed)", "the same with 10 000 other deadlines armed",
     with_timeout_cancel_busy_heap},
    {"with_value+drop", "with_value(background, key, int) + one lookup, then drop",
     with_value_drop},
    {"after_func+stop", "after_func on a live context, then stop()", after_func_stop},
    {"cancel fan-out 10", "with_cancel + 10 children + cancel (11 contexts)", cancel_fan_out_10},
    {"err()", "ctx.err() on a live context", err_check},
    {"cancel 1 of 1k live timeouts", "1 000 live, all cancelled oldest first; per cancel",
     cancel_live_timeouts_oldest_first<1000>, 1000},
    {"cancel 1 of 10k live timeouts", "10 000 live, all cancelled oldest first; per cancel",
     cancel_live_timeouts_oldest_first<10000>, 10000},
    {"cancel 1 of 100k live timeouts", "100 000 live, all cancelled oldest first; per cancel",
     cancel_live_timeouts_oldest_first<100000>, 100000},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
    for (const Op& op : kOpsTable) std::printf("%s\t%s\n", op.name, op.what);
    return 0;
  }
  if (argc != 1) {
    std::fprintf(stderr, "usage: tether_instructions [--list] (run it under callgrind)\n");
    return 2;
  }
  // The timer thread must be asleep, with nothing to do, before anything is counted:
  // started by a first deadline (30 min: earlier than every deadline below, so no arm()
  // needs to wake it), then through one firing, then given time to go back to sleep.
  // instructions.py reads only this thread's counts anyway (--separate-threads).
  auto sentinel = tether::with_timeout(tether::background(), 30min);
  tether::with_timeout(tether::background(), 20ms).ctx.done().wait();
  let_other_threads_settle();
  for (const Op& op : kOpsTable) {
    op.run(kWarmup);
    let_other_threads_settle();
    CALLGRIND_ZERO_STATS;
    CALLGRIND_TOGGLE_COLLECT;
    op.run(kOps);
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS_AT(op.name);
    std::printf("ops\t%s\t%d\n", op.name, op.counted);
  }
  return 0;
}
