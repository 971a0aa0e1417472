// Example 4 — process_items: check the context per item, return partial results.
//
// Go (the tutorial's ProcessItems):
//   for _, item := range items {
//     if err := ctx.Err(); err != nil { return results, err }   // partial results
//     timer := time.NewTimer(perItemWork)
//     select {
//     case <-ctx.Done(): timer.Stop(); return results, ctx.Err()
//     case <-timer.C: results = append(results, "processed_"+item)
//     }
//   }
#include <tether/context.hpp>
#include <tether/sync/sleep.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

struct Processed {
  std::vector<std::string> results;
  std::error_code err;
};

Processed process_items(const tether::Context& ctx, const std::vector<std::string>& items) {
  constexpr auto per_item_work = 40ms;
  Processed out;
  for (const auto& item : items) {
    // Check cancellation before processing each item.
    if (auto ec = ctx.err()) {
      out.err = ec;
      return out;  // partial results
    }
    // The work itself waits on the context too (select on ctx.Done() and the timer).
    if (auto ec = tether::sleep_for(ctx, per_item_work)) {
      out.err = ec;
      return out;
    }
    out.results.push_back("processed_" + item);
  }
  return out;
}

void print(const char* title, const Processed& p, std::size_t total) {
  std::printf("%s: %zu of %zu items:", title, p.results.size(), total);
  for (const auto& r : p.results) std::printf(" %s", r.c_str());
  std::printf("\n%s: %s\n", title, p.err ? p.err.message().c_str() : "all done");
}

int main() {
  const std::vector<std::string> items{"a", "b", "c", "d", "e"};

  // Enough time: every item is processed.
  auto [relaxed, cancel1] = tether::with_timeout(tether::background(), 1s);
  print("with 1 s", process_items(relaxed, items), items.size());

  // 150 ms for 5 × 40 ms of work: a clean stop with partial results.
  auto [tight, cancel2] = tether::with_timeout(tether::background(), 150ms);
  Processed partial = process_items(tight, items);
  print("with 150 ms", partial, items.size());
  std::printf("partial: %s\n",
              !partial.results.empty() && partial.results.size() < items.size() ? "yes" : "no");
}
