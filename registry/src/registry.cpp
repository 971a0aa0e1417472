// The opt-in registry of live contexts (tether/registry.hpp).
//
// Tracking is a doubly linked list of entries under one mutex; the trees are not recorded
// anywhere: snapshot() walks the contexts' own children lists, the ones cancellation walks,
// taking each node's lock briefly (never two at once, as the cancel path does). A child is
// read only if it can still be retained (try_retain): one whose last handle is going away
// is skipped, since it is about to unlink itself.
#include "tether/registry.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string_view>

#include "internal/tree.hpp"
#include "rep.hpp"
#include "tether/propagation.hpp"

namespace tether::registry {
namespace detail {

const char* kind_name(internal::Kind k) noexcept {
  switch (k) {
    case internal::Kind::kBackground:
      return "Background";
    case internal::Kind::kTodo:
      return "TODO";
    case internal::Kind::kCancel:
      return "WithCancel";
    case internal::Kind::kTimer:
      return "WithDeadline";
    case internal::Kind::kWithoutCancel:
      return "WithoutCancel";
    case internal::Kind::kNever:
    case internal::Kind::kValue:
      break;
  }
  return "Background";
}

void collect_values(const internal::ValueNode* v, const internal::ValueNode* stop,
                    std::vector<std::pair<std::string, std::string>>& out,
                    const internal::ValueNode* also_stop) {
  for (; v != nullptr && v != stop && v != also_stop; v = v->prev)
    out.emplace_back(v->key_name, v->ops->describe(v->value));
}

std::string trace_id_of(const internal::ValueNode* values) {
  auto* t = static_cast<const TraceContext*>(internal::find_value(values, &trace_key));
  return t != nullptr ? t->trace_id_hex() : std::string();
}

void append_escaped(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

}  // namespace detail

namespace {

using detail::append_escaped;
using detail::collect_values;
using detail::kind_name;
using detail::trace_id_of;

std::atomic<bool> tracking{false};

struct List {
  std::mutex mu;
  Tracked::Rep* head = nullptr;  // oldest
  Tracked::Rep* tail = nullptr;  // newest
  std::size_t size = 0;
  std::uint64_t next_id = 1;
};

List& list() {
  static List* l = new List;  // never destroyed: handles may outlive static destruction
  return *l;
}

constexpr std::size_t kMaxDepth = 64;
constexpr std::size_t kMaxNodes = 4096;

struct Walker {
  internal::Nanos now;
  // The tracked context's values: the root lists them, so its children stop there too.
  const internal::ValueNode* root_values = nullptr;
  std::size_t nodes = 0;

  /// Fills `out` with the state of cancellable node `n` (retained by the caller) and
  /// walks its children.
  void walk(internal::CancelNode* n, ContextNode& out, std::size_t depth) {
    ++nodes;
    const std::uint32_t code = internal::code_of(n->state.load(std::memory_order_acquire));
    out.state = code == 0 ? State::active
                : code == static_cast<std::uint32_t>(errc::deadline_exceeded)
                    ? State::deadline_exceeded
                    : State::canceled;
    if (n->deadline != internal::kNoDeadline)
      out.time_left = std::chrono::nanoseconds(n->deadline - now);
    if (code != 0) {
      internal::retain(n);
      out.cause = cause(internal::Access::context(n)).message();
    }
    out.trace_id = trace_id_of(n->values);

    std::vector<internal::CancelNode*> kids;
    internal::lock(n);
    for (internal::Link* l = n->children; l != nullptr; l = l->next) {
      if (l->type == internal::Link::Type::kCallback) {
        ++out.callbacks;
        continue;
      }
      auto* c = static_cast<internal::CancelNode*>(l);
      if (depth + 1 >= kMaxDepth || nodes + kids.size() >= kMaxNodes) {
        out.truncated = true;
        continue;
      }
      if (internal::try_retain(c)) kids.push_back(c);
    }
    internal::unlock(n);

    for (internal::CancelNode* c : kids) {
      Context hold = internal::Access::context(c);  // adopts the reference try_retain took
      if (nodes >= kMaxNodes) {
        out.truncated = true;
        continue;
      }
      ContextNode& child = out.children.emplace_back();
      child.kind = kind_name(c->kind);
      collect_values(c->values, n->values, child.values, depth == 0 ? root_values : nullptr);
      walk(c, child, depth + 1);
    }
  }
};

ContextNode describe_tracked(const Context& ctx, internal::Nanos now) {
  internal::Node* node = internal::Access::node(ctx);
  ContextNode root;
  const internal::Node* base = node;
  while (base->kind == internal::Kind::kValue) base = base->parent;
  root.kind = kind_name(base->kind);
  internal::CancelNode* anchor = node->anchor;
  if (anchor->kind == internal::Kind::kNever) {
    root.trace_id = trace_id_of(node->values);
  } else {
    Walker w{now, node->values};
    w.walk(anchor, root, 0);
    root.trace_id = trace_id_of(node->values);  // the tracked context may add the trace
  }
  collect_values(node->values, nullptr, root.values);
  return root;
}

void append_node(std::string& out, const ContextNode& n) {
  out += "{\"kind\":";
  append_escaped(out, n.kind);
  out += ",\"state\":";
  append_escaped(out, to_string(n.state));
  out += ",\"time_left_ns\":";
  out += n.time_left ? std::to_string(n.time_left->count()) : "null";
  out += ",\"cause\":";
  append_escaped(out, n.cause);
  out += ",\"trace_id\":";
  append_escaped(out, n.trace_id);
  out += ",\"values\":[";
  for (std::size_t i = 0; i < n.values.size(); ++i) {
    if (i != 0) out += ',';
    out += "{\"key\":";
    append_escaped(out, n.values[i].first);
    out += ",\"value\":";
    append_escaped(out, n.values[i].second);
    out += '}';
  }
  out += "],\"callbacks\":" + std::to_string(n.callbacks);
  out += ",\"truncated\":";
  out += n.truncated ? "true" : "false";
  out += ",\"children\":[";
  for (std::size_t i = 0; i < n.children.size(); ++i) {
    if (i != 0) out += ',';
    append_node(out, n.children[i]);
  }
  out += "]}";
}

}  // namespace

void enable(bool on) noexcept { tracking.store(on, std::memory_order_relaxed); }

bool enabled() noexcept { return tracking.load(std::memory_order_relaxed); }

Tracked track(const Context& ctx, std::string label) {
  if (!tracking.load(std::memory_order_relaxed)) return Tracked();
  auto* rep = new Tracked::Rep;
  rep->ctx = ctx;
  rep->label = std::move(label);
  rep->started = internal::now_ns();
  List& l = list();
  {
    std::lock_guard lock(l.mu);
    rep->id = l.next_id++;
    rep->prev = l.tail;
    if (l.tail != nullptr) {
      l.tail->next = rep;
    } else {
      l.head = rep;
    }
    l.tail = rep;
    ++l.size;
  }
  detail::history_begin(rep);
  return Tracked(rep);
}

Tracked& Tracked::operator=(Tracked&& other) noexcept {
  if (this != &other) {
    reset();
    entry_ = std::exchange(other.entry_, nullptr);
  }
  return *this;
}

void Tracked::reset() noexcept {
  Rep* rep = std::exchange(entry_, nullptr);
  if (rep == nullptr) return;
  List& l = list();
  {
    std::lock_guard lock(l.mu);
    (rep->prev != nullptr ? rep->prev->next : l.head) = rep->next;
    (rep->next != nullptr ? rep->next->prev : l.tail) = rep->prev;
    --l.size;
  }
  detail::history_end(rep);
  delete rep;  // outside the lock: may release the last reference to a context tree
}

void Tracked::set_result(std::string result) {
  if (entry_ == nullptr) return;
  std::lock_guard lock(list().mu);
  entry_->result = std::move(result);
}

namespace detail {
bool annotate_live(std::string_view trace_id, const std::string& result) {
  List& l = list();
  std::lock_guard lock(l.mu);
  for (Tracked::Rep* r = l.tail; r != nullptr; r = r->prev) {
    if (!r->result.empty()) continue;
    const auto* values = internal::Access::node(r->ctx)->values;
    if (trace_id_of(values) == trace_id) {
      r->result = result;
      return true;
    }
  }
  return false;
}
}  // namespace detail

const char* to_string(State state) noexcept {
  switch (state) {
    case State::active:
      return "active";
    case State::canceled:
      return "canceled";
    case State::deadline_exceeded:
      return "deadline_exceeded";
  }
  return "active";
}

std::vector<Entry> snapshot() {
  // Copy the entries (and a reference to each context) under the lock; walk the trees
  // outside it. `now` is read under the lock, so no entry can be younger than it.
  std::vector<std::pair<Context, Entry>> seen;
  internal::Nanos now = 0;
  {
    List& l = list();
    std::lock_guard lock(l.mu);
    now = internal::now_ns();
    seen.reserve(l.size);
    for (Tracked::Rep* r = l.head; r != nullptr; r = r->next)
      seen.emplace_back(r->ctx,
                        Entry{r->id, r->label, std::chrono::nanoseconds(now - r->started), {}});
  }
  std::vector<Entry> out;
  out.reserve(seen.size());
  for (auto& [ctx, entry] : seen) {
    entry.context = describe_tracked(ctx, now);
    out.push_back(std::move(entry));
  }
  return out;
}

std::size_t size() noexcept {
  List& l = list();
  std::lock_guard lock(l.mu);
  return l.size;
}

std::string to_json(const std::vector<Entry>& entries) {
  std::string out = "{\"contexts\":[";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (i != 0) out += ',';
    out += "{\"id\":" + std::to_string(e.id) + ",\"label\":";
    append_escaped(out, e.label);
    out += ",\"age_ns\":" + std::to_string(e.age.count()) + ",\"context\":";
    append_node(out, e.context);
    out += '}';
  }
  out += "]}";
  return out;
}

}  // namespace tether::registry
