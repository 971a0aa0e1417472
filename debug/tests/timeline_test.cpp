// tether::debug::timeline_svg and metrics_text on hand-made records: bars, colours,
// deadline marks, escaping; the Prometheus text's shape and its helpers
// (tether/debug/prometheus.hpp).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "tether/debug.hpp"
#include "tether/debug/prometheus.hpp"

namespace {

using namespace std::chrono_literals;
namespace registry = tether::registry;

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

registry::Finished deadline_cascade() {
  registry::Finished f;
  f.id = 7;
  f.label = "GET /users/<7>";
  f.result = "504";
  f.duration = 100ms;
  f.state = registry::State::deadline_exceeded;
  f.cause = "context deadline exceeded";
  registry::FinishedNode root;
  root.kind = "WithDeadline";
  root.deadline = 100ms;
  root.ended = 100ms;
  root.state = registry::State::deadline_exceeded;
  root.cause = f.cause;
  registry::FinishedNode done;
  done.parent = 0;
  done.kind = "WithCancel";
  done.values = {{"source", "profile"}};
  done.created = 1ms;
  done.ended = 20ms;
  done.state = registry::State::canceled;
  done.released = true;
  registry::FinishedNode cut = done;
  cut.values = {{"source", "activity"}};
  cut.released = false;
  cut.ended = 100ms;
  cut.state = registry::State::deadline_exceeded;
  cut.cause = f.cause;
  registry::FinishedNode alive = done;
  alive.parent = 2;
  alive.ended.reset();
  alive.released = false;
  f.contexts = {root, done, cut, alive};
  return f;
}

TEST(Timeline, OneBarPerContextColouredByHowItEnded) {
  const std::string svg = tether::debug::timeline_svg(deadline_cascade());
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_EQ(occurrences(svg, "<rect class=\"bar "), 4u);
  EXPECT_EQ(occurrences(svg, "class=\"bar deadline_exceeded\""), 2u);
  EXPECT_EQ(occurrences(svg, "class=\"bar done\""), 1u);  // released after a cancel of its own
  EXPECT_EQ(occurrences(svg, "class=\"bar alive\""), 1u);
  EXPECT_EQ(occurrences(svg, "<line class=\"deadline\""), 1u);
  EXPECT_NE(svg.find("data-cause=\"context deadline exceeded\""), std::string::npos);
  EXPECT_NE(svg.find("source=activity"), std::string::npos);
}

TEST(Timeline, EscapesTextTakenFromContexts) {
  const std::string svg = tether::debug::timeline_svg(deadline_cascade());
  EXPECT_EQ(svg.find("<7>"), std::string::npos);
  EXPECT_NE(svg.find("GET /users/&lt;7&gt;"), std::string::npos);
}

TEST(Timeline, AnEmptyRecordStillDrawsAnAxis) {
  registry::Finished f;
  const std::string svg = tether::debug::timeline_svg(f);
  EXPECT_EQ(occurrences(svg, "<rect class=\"bar "), 0u);
  EXPECT_EQ(occurrences(svg, "class=\"tick\""), 5u);
  EXPECT_EQ(svg.substr(svg.size() - 6), "</svg>");
}

TEST(Metrics, TextHasEveryFamilyWithHelpAndType) {
  const std::string text = tether::debug::metrics_text();
  for (const char* family :
       {"tether_tracked_contexts", "tether_observed_contexts", "tether_tracked_finished_total",
        "tether_context_cancellations_total", "tether_deadline_left_seconds"}) {
    EXPECT_NE(text.find(std::string("# HELP ") + family + " "), std::string::npos) << family;
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
  EXPECT_NE(text.find("tether_deadline_left_seconds_bucket{le=\"0.005\"}"), std::string::npos);
  EXPECT_NE(text.find("tether_deadline_left_seconds_count "), std::string::npos);
}

namespace prometheus = tether::debug::prometheus;

TEST(Prometheus, LabelValueEscapesBackslashQuoteAndNewline) {
  EXPECT_EQ(prometheus::label_value("plain cause"), "plain cause");
  EXPECT_EQ(prometheus::label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(prometheus::label_value(""), "");
}

TEST(Prometheus, NumberWritesInfinitiesNanAndUpToNineDigits) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(prometheus::number(inf), "+Inf");
  EXPECT_EQ(prometheus::number(-inf), "-Inf");
  EXPECT_EQ(prometheus::number(std::nan("")), "NaN");
  EXPECT_EQ(prometheus::number(0.005), "0.005");
  EXPECT_EQ(prometheus::number(3), "3");
  EXPECT_EQ(prometheus::number(1.0 / 3), "0.333333333");
}

TEST(Prometheus, HeaderOpensAFamilyWithHelpThenType) {
  std::string out = "before\n";
  prometheus::header(out, "jobs_total", "counter", "Jobs by queue.");
  EXPECT_EQ(out, "before\n# HELP jobs_total Jobs by queue.\n# TYPE jobs_total counter\n");
}

}  // namespace
