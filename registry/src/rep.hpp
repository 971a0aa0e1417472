// What registry.cpp and history.cpp share: the tracked entry and the helpers both use.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "internal/tree.hpp"
#include "tether/registry.hpp"

namespace tether::registry {

struct Tracked::Rep {
  Context ctx;
  std::string label;
  std::uint64_t id = 0;
  internal::Nanos started = 0;
  Rep* prev = nullptr;
  Rep* next = nullptr;
  std::string result;  // under the list's mutex (annotate() reads it from other threads)
  // History (history.cpp); recorded only when history was on at track(). The nodes and
  // the pointers of the contexts observed for this entry are guarded by history's mutex.
  bool recording = false;
  std::vector<FinishedNode> nodes;
  std::vector<internal::CancelNode*> observed;
  bool truncated = false;
};

namespace detail {

/// "WithCancel", "WithDeadline", ... (Go's names) for a node kind.
const char* kind_name(internal::Kind k) noexcept;
/// Values from `v` up to (not including) `stop` or `also_stop`, newest first.
void collect_values(const internal::ValueNode* v, const internal::ValueNode* stop,
                    std::vector<std::pair<std::string, std::string>>& out,
                    const internal::ValueNode* also_stop = nullptr);
/// The W3C trace id carried by `values` (empty if none).
std::string trace_id_of(const internal::ValueNode* values);
/// Appends `s` as a JSON string.
void append_escaped(std::string& out, std::string_view s);
/// Sets the result of the newest live entry with `trace_id` whose result is empty.
bool annotate_live(std::string_view trace_id, const std::string& result);

/// history.cpp: begins recording `rep` (called by track() with the entry complete).
void history_begin(Tracked::Rep* rep);
/// history.cpp: ends recording `rep` and keeps it among the finished entries.
void history_end(Tracked::Rep* rep);

}  // namespace detail
}  // namespace tether::registry
