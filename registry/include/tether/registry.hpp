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
// History. Besides the live view, the registry keeps the last N finished tracked contexts
// (set_history(N); 256 by default, 0 keeps none), each with every cancellable context
// derived beneath it after track(): when it was created and ended (relative to track()),
// its deadline, how it ended (done, deadline, cancelled and the cause) and the after_func
// registrations it had. It is recorded as it happens — the cascade of a hang-up or a
// deadline detaches the subtree, so a snapshot taken at the end would show only the root —
// through a bit core keeps in each observed node's state word: only trees of contexts
// tracked while history is on set it, so a process that never tracks pays nothing for it
// (one test of a bit in a word core has already loaded, on derive, cancel and free). With
// it on, each derivation, cancellation and free beneath a tracked context takes one mutex.
// The recorded tree is the tracked context's nearest cancellable context and what is
// derived beneath it; track a context of its own (a request's context), not a long-lived
// one shared by others. At most 512 contexts per finished entry (then `truncated`).
//
//   tether::registry::set_history(100);
//   auto tracked = tether::registry::track(ctx, "GET /users/7");
//   ...
//   tracked.set_result("504");                         // optional: how the work ended
//   tracked.reset();                                   // now in history()
//   for (const tether::registry::Finished& f : tether::registry::history()) ...
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
#include <string_view>
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

  /// Removes the context from the registry now (and, with history on, records it among the
  /// finished ones). Idempotent.
  void reset() noexcept;
  /// How the tracked work ended, in the caller's vocabulary (an HTTP status: "499"); kept
  /// with the finished entry, for filters. No effect on an empty handle.
  void set_result(std::string result);
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

/// Keeps the last `n` finished tracked contexts (0: none, and nothing is recorded). Shrinking
/// drops the oldest. Entries tracked while it was 0 are not recorded when they finish.
void set_history(std::size_t n);
/// The current bound of history() (256 at start).
std::size_t history_capacity() noexcept;

/// One context of a finished tree, as recorded while it lived.
struct FinishedNode {
  static constexpr std::size_t kNoParent = static_cast<std::size_t>(-1);
  std::size_t parent = kNoParent;  ///< index in Finished::contexts (earlier); root: kNoParent
  std::string kind;                ///< as ContextNode::kind
  /// How it ended; active if it was still alive when the tracked context finished.
  State state = State::active;
  /// Released: its last handle went without a cancel (it ended, not done).
  bool released = false;
  std::chrono::nanoseconds created{0};  ///< since track()
  /// Since track(); empty while alive when the tracked context finished.
  std::optional<std::chrono::nanoseconds> ended;
  std::optional<std::chrono::nanoseconds> deadline;         ///< since track(); empty if none
  std::string cause;                                        ///< cause(ctx).message() once done
  std::vector<std::pair<std::string, std::string>> values;  ///< as ContextNode::values
  std::size_t callbacks = 0;  ///< after_func registrations waiting when it ended
};

/// A finished tracked context.
struct Finished {
  std::uint64_t id = 0;  ///< the id it had while tracked
  std::string label;
  std::string trace_id;                  ///< of the tracked context, if it carries one
  std::string result;                    ///< Tracked::set_result or annotate(); empty if never set
  std::int64_t started_unix_ns = 0;      ///< wall-clock time of track()
  std::chrono::nanoseconds duration{0};  ///< track() to reset()
  State state = State::active;           ///< the tracked context's state at reset()
  std::string cause;                     ///< its cause's message if done
  std::vector<FinishedNode> contexts;    ///< [0] is the root; parents before children
  bool truncated = false;                ///< more contexts than kept (512)
};

/// The finished entries, oldest first (at most history_capacity()).
std::vector<Finished> history();
/// The newest finished entry whose trace id is `trace_id`, if any.
std::optional<Finished> find_finished(std::string_view trace_id);
/// Sets the result of the newest finished (or live) entry with `trace_id` whose result is
/// empty: for callers that learn the outcome later (an access log). False if none matched.
bool annotate(std::string_view trace_id, std::string result);

/// history() as JSON: {"capacity":N,"finished":[{"id":…,"label":…,"trace_id":…,"result":…,
/// "started_unix_ns":…,"duration_ns":…,"state":…,"cause":…,"truncated":…,"contexts":[{
/// "parent":-1|i,"kind":…,"state":…,"released":…,"created_ns":…,"ended_ns":…|null,
/// "deadline_ns":…|null,"cause":…,"values":[{"key":…,"value":…}],"callbacks":…}]}]}.
std::string history_to_json(const std::vector<Finished>& finished);

/// Counters for metrics (cumulative since start, except the gauges).
struct Stats {
  std::size_t tracked = 0;            ///< gauge: tracked contexts now
  std::size_t observed_contexts = 0;  ///< gauge: contexts alive in tracked trees now
  std::uint64_t finished = 0;         ///< tracked contexts finished
  /// Contexts of tracked trees cancelled, by cause message (the tracked roots included).
  std::vector<std::pair<std::string, std::uint64_t>> cancellations;
  /// Deadline left at track() (seconds): upper bounds and cumulative counts, Prometheus
  /// style; the last bound is +Inf. Contexts tracked without a deadline are not counted.
  std::vector<std::pair<double, std::uint64_t>> deadline_left;
  double deadline_left_sum = 0;  ///< seconds
};
Stats stats();

}  // namespace tether::registry
