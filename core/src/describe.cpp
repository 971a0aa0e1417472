// Context::describe(): Go's String() form of a context chain, with Go's time and duration
// formats (time.Time.String, time.Duration.String) for deadlines.
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "internal/tree.hpp"
#include "tether/context.hpp"

namespace tether {

namespace {
/// Go's time.Duration.String(): "1h2m3.5s", "1.5s", "250ms", "1.2µs", "0s".
std::string go_duration(std::int64_t d) {
  if (d == 0) return "0s";
  bool negative = d < 0;
  std::uint64_t u = negative ? 0 - static_cast<std::uint64_t>(d) : static_cast<std::uint64_t>(d);
  auto fraction = [](std::uint64_t v, int digits) {
    std::uint64_t scale = 1;
    for (int i = 0; i < digits; ++i) scale *= 10;
    std::string out = std::to_string(v / scale);
    std::uint64_t frac = v % scale;
    if (frac != 0) {
      std::string f = std::to_string(frac);
      f.insert(0, static_cast<std::size_t>(digits) - f.size(), '0');
      while (!f.empty() && f.back() == '0') f.pop_back();
      out += "." + f;
    }
    return out;
  };
  std::string out;
  if (u < 1'000) {
    out = std::to_string(u) + "ns";
  } else if (u < 1'000'000) {
    out = fraction(u, 3) + "\u00b5s";
  } else if (u < 1'000'000'000) {
    out = fraction(u, 6) + "ms";
  } else {
    out = fraction(u % 60'000'000'000, 9) + "s";
    std::uint64_t minutes = u / 60'000'000'000;
    if (minutes > 0) {
      out = std::to_string(minutes % 60) + "m" + out;
      if (minutes >= 60) out = std::to_string(minutes / 60) + "h" + out;
    }
  }
  return negative ? "-" + out : out;
}

/// Go's time.Time.String() for a deadline, in UTC: "2026-11-22 05:04:44.123 +0000 UTC".
std::string go_time(internal::Nanos deadline) {
  std::int64_t ns = internal::wall_ns_at(deadline);
  std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000);
  std::int64_t frac = ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  std::string out = buf;
  if (frac != 0) {
    std::string f = std::to_string(frac);
    f.insert(0, 9 - f.size(), '0');
    while (f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out + " +0000 UTC";
}
}  // namespace

std::string Context::describe() const {
  std::vector<const internal::Node*> chain;
  for (const internal::Node* n = node_; n != nullptr; n = n->parent) chain.push_back(n);
  std::string out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const internal::Node* n = *it;
    switch (n->kind) {
      case internal::Kind::kBackground:
        out += "context.Background";
        break;
      case internal::Kind::kTodo:
        out += "context.TODO";
        break;
      case internal::Kind::kNever:
        break;
      case internal::Kind::kCancel:
        out += ".WithCancel";
        break;
      case internal::Kind::kTimer: {
        internal::Nanos d = static_cast<const internal::TimerNode*>(n)->deadline;
        out += ".WithDeadline(" + go_time(d) + " [" + go_duration(d - internal::now_ns()) + "])";
        break;
      }
      case internal::Kind::kValue: {
        auto* v = static_cast<const internal::ValueNode*>(n);
        out += std::string(".WithValue(") + v->key_name + ", " + v->ops->describe(v->value) + ")";
        break;
      }
      case internal::Kind::kWithoutCancel:
        out += ".WithoutCancel";
        break;
    }
  }
  return out;
}

}  // namespace tether
