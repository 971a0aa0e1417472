// Example 7 — assemble_response: three parallel calls under one 500 ms deadline.
//
// Go (the tutorial's "In The Wild" example):
//   ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond); defer cancel()
//   wg.Add(3)
//   go func() { defer wg.Done(); profile, profileErr = profileSvc.Get(ctx, userID) }()
//   go func() { defer wg.Done(); prefs, prefsErr = prefsSvc.Get(ctx, userID) }()
//   go func() { defer wg.Done(); recents, recentsErr = activitySvc.Recent(ctx, userID) }()
//   wg.Wait()
//   if profileErr != nil { return nil, fmt.Errorf("profile: %w", profileErr) }
//   if prefsErr != nil { log.Printf("prefs unavailable for %s: %v", userID, prefsErr) }
//
// A failing non-critical call must not cancel its siblings, so this is a WaitGroup, not an
// errgroup: the tasks return nothing (void) and record their own errors; tether::Group
// serves as the WaitGroup that always joins.
#include <tether/context.hpp>
#include <tether/sync/group.hpp>
#include <tether/sync/sleep.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "tether/harness/threads.hpp"

using namespace std::chrono_literals;

// Simulated downstream services: each answers after `latency`, unless the context ends.
struct Service {
  std::chrono::milliseconds latency;
  std::error_code failure;  // returned after `latency` when set
  std::error_code call(const tether::Context& ctx) const {
    if (auto ec = tether::sleep_for(ctx, latency)) return ec;
    return failure;
  }
};

struct Response {
  std::string profile;
  std::vector<std::string> prefs, recents;
};

std::optional<Response> assemble_response(const tether::Context& parent, const std::string& user,
                                          const Service& profile_svc, const Service& prefs_svc,
                                          const Service& activity_svc, std::string* error) {
  auto [ctx, cancel] = tether::with_timeout(parent, 500ms);
  Response r;
  std::error_code profile_err, prefs_err, recents_err;
  {
    tether::Group wg(ctx);  // a WaitGroup that always joins
    wg.go([&](const tether::Context& c) {
      if (!(profile_err = profile_svc.call(c))) r.profile = "profile of " + user;
    });
    wg.go([&](const tether::Context& c) {
      if (!(prefs_err = prefs_svc.call(c))) r.prefs = {"dark-mode"};
    });
    wg.go([&](const tether::Context& c) {
      if (!(recents_err = activity_svc.call(c))) r.recents = {"login", "search"};
    });
    (void)wg.wait();
  }
  if (profile_err) {
    *error = "profile: " + profile_err.message();
    return std::nullopt;
  }
  // prefs and recents are non-critical: log and continue with empty data.
  if (prefs_err)
    std::printf("log: prefs unavailable for %s: %s\n", user.c_str(), prefs_err.message().c_str());
  if (recents_err)
    std::printf("log: recents unavailable for %s: %s\n", user.c_str(),
                recents_err.message().c_str());
  return r;
}

int main() {
  const auto start = std::chrono::steady_clock::now();
  auto [bound, cancel_bound] = tether::with_timeout(tether::background(), 1500ms);  // safety
  const std::size_t before = tether::harness::thread_count();

  const Service fast{10ms, {}};
  const Service sluggish{5s, {}};  // would take 5 s: cut at the 500 ms deadline
  const Service broken{10ms, std::make_error_code(std::errc::connection_refused)};
  std::string error;

  // 1. The slow prefs call degrades to empty; the response is still built.
  auto r = assemble_response(bound, "u-42", fast, sluggish, fast, &error);
  std::printf("response 1: profile=\"%s\" prefs=%zu recents=%zu\n", r->profile.c_str(),
              r->prefs.size(), r->recents.size());

  // 2. The critical profile call fails: the whole response fails.
  r = assemble_response(bound, "u-43", broken, fast, fast, &error);
  std::printf("response 2: %s\n", r ? "built" : ("error: " + error).c_str());

  const auto elapsed = std::chrono::steady_clock::now() - start;
  std::printf("bounded by the deadline: %s\n", elapsed < 1500ms ? "yes" : "no");
  std::printf("leaked threads: %zu\n",
              tether::harness::threads_beyond(before, std::chrono::seconds(2)));
}
