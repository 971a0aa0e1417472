// tether/registry.hpp — an opt-in registry of live contexts, for debug pages and leak checks.
//
// A service that wants to show what it is doing right now — every in-flight request, the
// contexts derived beneath it, how long each has left, which were cancelled and why —
// tracks the contexts it cares about and takes snapshots:
//
//   tether::registry::enable(true);                      // once, at start-up
//   ...
//   Response handle(const tether::Context& ctx, const Request& r) {
//     auto tracked = tether::registry::track(ctx, "GET " + r.target);  // RAII
//     ...                                                 // derive, query, call out
//   }                                                     // untracked here
//   ...
//   for (const tether::registry::Entry& e : tether::registry::snapshot())
//     print(e.label, e.context.time_left, e.context.children.size());
//   std::string json = tether::registry::to_json(tether::registry::snapshot());
//
// What a snapshot shows: for every tracked context, a tree. Its root is the tracked context;
// its children are the cancellable contexts (with_cancel, with_deadline, with_timeout)
// derived from it that are still registered, found by walking the same intrusive children
// lists that cancellation walks — so nothing is recorded per derivation, and a context that
// was derived but never tracked still shows up under its tracked ancestor. Value contexts are
// not nodes of the tree: each node lists the values added between its parent node and itself.
// A cancelled context detaches its subtree (that is how cancellation works), so a done node
// shows its state and cause but no children.
//
// Cost. Off (the default), track() is one relaxed atomic load and returns an empty handle;
// nothing else in tether ever looks at the registry — deriving, cancelling and destroying
// contexts are the same code with or without it. On, track() allocates one entry and takes
// one mutex twice (insert, erase). snapshot() locks each visited context briefly, one at a
// time, as a cancel would; it never blocks cancellation for longer than that.
//
// Thread safety: every function may be called from any thread. A Tracked handle is a
// move-only value owned by one thread at a time.
// What blocks: snapshot() and to_json() take locks briefly; nothing waits for work.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tether/context.hpp"

namespace tether::registry {

/// Turns tracking on or off (off at start). Turning it off does not untrack contexts already
/// tracked; their handles untrack them as usual.
void enable(bool on) noexcept;
/// Whether track() currently records contexts.
bool enabled() noexcept;

/// Keeps a context in the registry until destroyed (or reset()). Holds a reference to the
/// context, so the tree stays inspectable while tracked. Empty when tracking was off.
class Tracked {
 public:
  Tracked() noexcept = default;
  Tracked(Tracked&& other) noexcept : entry_(std::exchange(other.entry_, nullptr)) {}
  Tracked& operator=(Tracked&& other) noexcept;
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() { reset(); }

  /// Removes the context from the registry now. Idempotent.
  void reset() noexcept;
  /// True if this handle keeps a context in the registry.
  explicit operator bool() const noexcept { return entry_ != nullptr; }

  struct Rep;

 private:
  explicit Tracked(Rep* entry) noexcept : entry_(entry) {}
  friend Tracked track(const Context& ctx, std::string label);
  Rep* entry_ = nullptr;
};

/// Adds `ctx` to the registry under `label` (free text: "GET /users/42") if tracking is on;
/// returns an empty handle otherwise. The same context may be tracked more than once.
[[nodiscard]] Tracked track(const Context& ctx, std::string label);

/// A context's state in a snapshot.
enum class State { active, canceled, deadline_exceeded };
/// "active", "canceled", "deadline_exceeded".
const char* to_string(State state) noexcept;

/// One context of a snapshot tree.
struct ContextNode {
  /// "Background", "TODO", "WithCancel", "WithDeadline", "WithoutCancel" (Go's names).
  std::string kind;
  State state = State::active;
  /// Deadline minus now() when the snapshot was taken (negative when past); empty if none.
  std::optional<std::chrono::nanoseconds> time_left;
  /// The cause's message once done (cause(ctx).message()); empty while active.
  std::string cause;
  /// The W3C trace id (32 hex digits) under tether::trace_key, if the context carries one.
  std::string trace_id;
  /// Values added between the parent node and this one, newest first: {key name, value as
  /// describe() prints it}. For the root: every value the tracked context carries.
  std::vector<std::pair<std::string, std::string>> values;
  /// after_func registrations waiting on this context (hooks of queries and calls in flight).
  std::size_t callbacks = 0;
  /// Cancellable contexts registered beneath this one, newest first.
  std::vector<ContextNode> children;
  /// True when the walk stopped here because the tree was deeper or larger than a snapshot
  /// reports (64 levels, 4096 nodes per tracked context); children are then incomplete.
  bool truncated = false;
};

/// One tracked context.
struct Entry {
  std::uint64_t id = 0;  ///< unique per track() call, increasing
  std::string label;
  std::chrono::nanoseconds age{0};  ///< time since track(), on tether's clock
  ContextNode context;
};

/// Every tracked context with its tree, oldest first. Consistent per node (each node is read
/// under its own lock), not across the whole tree: work keeps running while it is taken.
std::vector<Entry> snapshot();

/// How many contexts are tracked right now. One mutex; cheap.
std::size_t size() noexcept;

/// A snapshot as JSON: {"contexts":[{"id":1,"label":"…","age_ns":…,"context":{"kind":…,
/// "state":…,"time_left_ns":…,"cause":…,"trace_id":…,
/// "values":[{"key":…,"value":…}],"callbacks":…,"truncated":…,"children":[…]}}]}
/// (time_left_ns is null when there is no deadline). Strings are escaped per RFC 8259.
std::string to_json(const std::vector<Entry>& entries);

}  // namespace tether::registry
