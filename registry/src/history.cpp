// The registry's history (tether/registry.hpp, "History"): finished tracked contexts with
// every context of their trees, recorded through core's observer as they are derived,
// cancelled and freed.
//
// One mutex guards the map from observed node to the entry recording it, the entries'
// recorded nodes, the finished list and the counters. The hooks run with no node lock held.
// A node's address may be reused once it is freed: the freed hook erases it first, and an
// entry that finishes erases only what still maps to itself.
#include <algorithm>
#include <atomic>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_map>

#include "rep.hpp"

namespace tether::registry {
namespace {

constexpr std::size_t kMaxContexts = 512;
constexpr double kBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
constexpr std::size_t kBucketCount = sizeof kBuckets / sizeof kBuckets[0];

struct Slot {
  Tracked::Rep* rep;
  std::size_t index;  // in rep->nodes
};

struct History {
  std::mutex mu;
  std::unordered_map<internal::CancelNode*, Slot> observed;
  std::deque<Finished> finished;
  std::size_t capacity = 256;
  std::uint64_t finished_total = 0;
  std::map<std::string, std::uint64_t> cancellations;
  std::uint64_t deadline_counts[kBucketCount + 1] = {};
  double deadline_sum = 0;
};

std::atomic<std::size_t> capacity_now{256};

History& history_state() {
  static History* h = new History;  // never destroyed: hooks may run during exit
  return *h;
}

std::chrono::nanoseconds since(const Tracked::Rep* rep, internal::Nanos t) {
  return std::chrono::nanoseconds(t - rep->started);
}

State state_of(std::uint32_t code) {
  if (code == 0) return State::active;
  return code == static_cast<std::uint32_t>(errc::deadline_exceeded) ? State::deadline_exceeded
                                                                     : State::canceled;
}

void on_created(internal::CancelNode* n) noexcept {
  internal::CancelNode* parent = n->parent->anchor;
  const internal::Nanos now = internal::now_ns();
  History& h = history_state();
  std::lock_guard lock(h.mu);
  auto it = h.observed.find(parent);
  if (it == h.observed.end()) return;
  Tracked::Rep* rep = it->second.rep;
  if (rep->nodes.size() >= kMaxContexts) {
    rep->truncated = true;
    return;
  }
  try {
    FinishedNode f;
    f.parent = it->second.index;
    f.kind = detail::kind_name(n->kind);
    f.created = since(rep, now);
    if (n->deadline != internal::kNoDeadline) f.deadline = since(rep, n->deadline);
    detail::collect_values(n->values, parent->values, f.values);
    rep->nodes.push_back(std::move(f));
    rep->observed.push_back(n);
    h.observed[n] = Slot{rep, rep->nodes.size() - 1};
  } catch (...) {
    rep->truncated = true;  // out of memory: the record is incomplete, the work goes on
  }
}

void on_done(internal::CancelNode* n) noexcept {
  const internal::Nanos now = internal::now_ns();
  std::string message;
  try {
    internal::retain(n);
    message = cause(internal::Access::context(n)).message();
  } catch (...) {
  }
  const State state = state_of(internal::code_of(n->state.load(std::memory_order_acquire)));
  History& h = history_state();
  std::lock_guard lock(h.mu);
  auto it = h.observed.find(n);
  if (it == h.observed.end()) return;
  try {
    ++h.cancellations[message];
  } catch (...) {
  }
  FinishedNode& f = it->second.rep->nodes[it->second.index];
  f.ended = since(it->second.rep, now);
  f.state = state;
  f.cause = std::move(message);
}

void on_freed(internal::CancelNode* n) noexcept {
  const internal::Nanos now = internal::now_ns();
  History& h = history_state();
  std::lock_guard lock(h.mu);
  auto it = h.observed.find(n);
  if (it == h.observed.end()) return;
  FinishedNode& f = it->second.rep->nodes[it->second.index];
  if (!f.ended) {
    f.ended = since(it->second.rep, now);
    f.released = true;
  }
  h.observed.erase(it);
}

void on_callback(internal::CancelNode* n) noexcept {
  History& h = history_state();
  std::lock_guard lock(h.mu);
  auto it = h.observed.find(n);
  if (it != h.observed.end()) ++it->second.rep->nodes[it->second.index].callbacks;
}

constexpr internal::Observer kObserver{on_created, on_done, on_freed, on_callback};

void count_deadline_left(History& h, std::chrono::nanoseconds left) {
  const double s = std::chrono::duration<double>(left).count();
  std::size_t b = 0;
  while (b < kBucketCount && s > kBuckets[b]) ++b;
  ++h.deadline_counts[b];
  h.deadline_sum += s;
}

/// The root's record: the tracked context's nearest cancellable context, seen from `ctx`.
FinishedNode root_node(const Context& ctx, const Tracked::Rep* rep) {
  internal::Node* node = internal::Access::node(ctx);
  const internal::Node* base = node;
  while (base->kind == internal::Kind::kValue) base = base->parent;
  FinishedNode root;
  root.kind = detail::kind_name(base->kind);
  internal::CancelNode* anchor = node->anchor;
  if (anchor->deadline != internal::kNoDeadline) root.deadline = since(rep, anchor->deadline);
  detail::collect_values(node->values, nullptr, root.values);
  return root;
}

}  // namespace

namespace detail {

void history_begin(Tracked::Rep* rep) {
  if (capacity_now.load(std::memory_order_relaxed) == 0) return;
  static const bool installed = (internal::set_observer(&kObserver), true);
  (void)installed;
  internal::CancelNode* anchor = internal::Access::node(rep->ctx)->anchor;
  rep->nodes.push_back(root_node(rep->ctx, rep));
  rep->recording = true;
  History& h = history_state();
  std::lock_guard lock(h.mu);
  if (rep->nodes[0].deadline) count_deadline_left(h, *rep->nodes[0].deadline);
  if (anchor->kind == internal::Kind::kNever) return;  // never cancelled: nothing beneath
  h.observed[anchor] = Slot{rep, 0};  // a newer entry of the same context takes it over
  rep->observed.push_back(anchor);
  internal::observe(anchor);
}

void history_end(Tracked::Rep* rep) {
  if (!rep->recording) return;
  const internal::Nanos now = internal::now_ns();
  Finished f;
  f.id = rep->id;
  f.label = std::move(rep->label);
  f.trace_id = trace_id_of(internal::Access::node(rep->ctx)->values);
  f.result = std::move(rep->result);
  f.started_unix_ns = internal::wall_ns_at(rep->started);
  f.duration = since(rep, now);
  if (auto err = rep->ctx.err()) {
    f.state = err == errc::deadline_exceeded ? State::deadline_exceeded : State::canceled;
    f.cause = cause(rep->ctx).message();
  }
  History& h = history_state();
  std::lock_guard lock(h.mu);
  for (internal::CancelNode* n : rep->observed) {
    auto it = h.observed.find(n);
    if (it != h.observed.end() && it->second.rep == rep) h.observed.erase(it);
  }
  f.contexts = std::move(rep->nodes);
  f.truncated = rep->truncated;
  ++h.finished_total;
  if (h.capacity == 0) return;
  while (h.finished.size() >= h.capacity) h.finished.pop_front();
  h.finished.push_back(std::move(f));
}

}  // namespace detail

void set_history(std::size_t n) {
  History& h = history_state();
  std::lock_guard lock(h.mu);
  h.capacity = n;
  capacity_now.store(n, std::memory_order_relaxed);
  while (h.finished.size() > n) h.finished.pop_front();
}

std::size_t history_capacity() noexcept { return capacity_now.load(std::memory_order_relaxed); }

std::vector<Finished> history() {
  History& h = history_state();
  std::lock_guard lock(h.mu);
  return {h.finished.begin(), h.finished.end()};
}

std::optional<Finished> find_finished(std::string_view trace_id) {
  History& h = history_state();
  std::lock_guard lock(h.mu);
  for (auto it = h.finished.rbegin(); it != h.finished.rend(); ++it)
    if (it->trace_id == trace_id) return *it;
  return std::nullopt;
}

bool annotate(std::string_view trace_id, std::string result) {
  {
    History& h = history_state();
    std::lock_guard lock(h.mu);
    for (auto it = h.finished.rbegin(); it != h.finished.rend(); ++it) {
      if (it->trace_id == trace_id && it->result.empty()) {
        it->result = std::move(result);
        return true;
      }
    }
  }
  return detail::annotate_live(trace_id, result);
}

Stats stats() {
  Stats s;
  s.tracked = size();
  History& h = history_state();
  std::lock_guard lock(h.mu);
  s.observed_contexts = h.observed.size();
  s.finished = h.finished_total;
  s.cancellations.assign(h.cancellations.begin(), h.cancellations.end());
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b <= kBucketCount; ++b) {
    cumulative += h.deadline_counts[b];
    s.deadline_left.emplace_back(
        b < kBucketCount ? kBuckets[b] : std::numeric_limits<double>::infinity(), cumulative);
  }
  s.deadline_left_sum = h.deadline_sum;
  return s;
}

namespace {
void append_optional_ns(std::string& out, const std::optional<std::chrono::nanoseconds>& v) {
  out += v ? std::to_string(v->count()) : "null";
}

void append_finished_node(std::string& out, const FinishedNode& n) {
  out += "{\"parent\":";
  out += n.parent == FinishedNode::kNoParent ? "-1" : std::to_string(n.parent);
  out += ",\"kind\":";
  detail::append_escaped(out, n.kind);
  out += ",\"state\":";
  detail::append_escaped(out, to_string(n.state));
  out += n.released ? ",\"released\":true" : ",\"released\":false";
  out += ",\"created_ns\":" + std::to_string(n.created.count()) + ",\"ended_ns\":";
  append_optional_ns(out, n.ended);
  out += ",\"deadline_ns\":";
  append_optional_ns(out, n.deadline);
  out += ",\"cause\":";
  detail::append_escaped(out, n.cause);
  out += ",\"values\":[";
  for (std::size_t i = 0; i < n.values.size(); ++i) {
    if (i != 0) out += ',';
    out += "{\"key\":";
    detail::append_escaped(out, n.values[i].first);
    out += ",\"value\":";
    detail::append_escaped(out, n.values[i].second);
    out += '}';
  }
  out += "],\"callbacks\":" + std::to_string(n.callbacks) + '}';
}
}  // namespace

std::string history_to_json(const std::vector<Finished>& finished) {
  std::string out = "{\"capacity\":" + std::to_string(history_capacity()) + ",\"finished\":[";
  for (std::size_t i = 0; i < finished.size(); ++i) {
    const Finished& f = finished[i];
    if (i != 0) out += ',';
    out += "{\"id\":" + std::to_string(f.id) + ",\"label\":";
    detail::append_escaped(out, f.label);
    out += ",\"trace_id\":";
    detail::append_escaped(out, f.trace_id);
    out += ",\"result\":";
    detail::append_escaped(out, f.result);
    out += ",\"started_unix_ns\":" + std::to_string(f.started_unix_ns);
    out += ",\"duration_ns\":" + std::to_string(f.duration.count()) + ",\"state\":";
    detail::append_escaped(out, to_string(f.state));
    out += ",\"cause\":";
    detail::append_escaped(out, f.cause);
    out += f.truncated ? ",\"truncated\":true" : ",\"truncated\":false";
    out += ",\"contexts\":[";
    for (std::size_t j = 0; j < f.contexts.size(); ++j) {
      if (j != 0) out += ',';
      append_finished_node(out, f.contexts[j]);
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

}  // namespace tether::registry
