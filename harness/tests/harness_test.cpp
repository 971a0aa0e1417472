// tether_harness: ChildProcess (spawn, env, line_with, exit status, kill on destruction),
// the thread counts, and ResponseParser on a response that arrives in pieces.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <future>
#include <thread>

#include "tether/harness/process.hpp"
#include "tether/harness/raw_http.hpp"
#include "tether/harness/threads.hpp"

namespace {

using namespace std::chrono_literals;
namespace harness = tether::harness;

TEST(HarnessProcess, LineWithSkipsToTheMatchingLineAndEnvReachesTheChild) {
  auto child = harness::ChildProcess::start(
      {"/bin/sh", "-c", "echo first; echo \"value=$HARNESS_X\"; echo last"}, {"HARNESS_X=42"});
  EXPECT_EQ(child.line_with("value="), "value=42");
  EXPECT_EQ(child.line_with("last"), "last");
  EXPECT_EQ(child.line_with("never", 5s), std::nullopt) << "the stream ended";
  auto status = child.wait_exit(10s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(harness::exited_cleanly(*status)) << harness::describe_wait_status(*status);
  EXPECT_FALSE(child.running());
}

TEST(HarnessProcess, WaitExitReportsTheExitCode) {
  auto child = harness::ChildProcess::spawn("/bin/sh", {"-c", "exit 3"});
  auto status = child.wait_exit(10s);
  ASSERT_TRUE(status);
  EXPECT_FALSE(harness::exited_cleanly(*status));
  EXPECT_EQ(harness::describe_wait_status(*status), "exit 3");
}

TEST(HarnessProcess, KillAndReapEndsARunningChild) {
  auto child = harness::ChildProcess::spawn("/bin/sh", {"-c", "exec sleep 1000"});
  EXPECT_EQ(child.wait_exit(0ms), std::nullopt) << "still running";
  EXPECT_TRUE(child.signal(0));
  child.kill_and_reap();
  EXPECT_FALSE(child.running());
  EXPECT_EQ(harness::describe_wait_status(*child.wait_exit(0ms)).rfind("killed by signal 9", 0),
            0u);
  EXPECT_FALSE(child.signal(SIGTERM)) << "reaped: nothing to signal";
}

TEST(HarnessThreads, CountsThisProcessesThreadsAndSeesAJoinedOneGo) {
  std::thread([] {}).join();  // a sanitizer runtime starts a thread of its own with the first
  const std::size_t before = harness::thread_count();
  EXPECT_EQ(harness::thread_count_of(::getpid()), static_cast<int>(before));
  std::promise<void> release;
  std::thread t([f = release.get_future()]() mutable { f.wait(); });
  EXPECT_EQ(harness::thread_count(), before + 1);
  EXPECT_EQ(harness::threads_beyond(before, 0ms), 1u);
  release.set_value();
  t.join();
  EXPECT_EQ(harness::threads_beyond(before, 10s), 0u);
}

TEST(HarnessRawHttp, ParserReadsAResponseArrivingInPieces) {
  harness::ResponseParser parser;
  parser.feed("HTTP/1.1 200 OK\r\nContent-Le");
  parser.feed("ngth: 5\r\nX-Trace: abc \r\n\r\nhel");
  EXPECT_FALSE(parser.complete());
  parser.feed("lo");
  ASSERT_TRUE(parser.complete());
  const harness::RawResponse& r = parser.response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-trace"), "abc") << "names match case-insensitively, values trimmed";
  EXPECT_EQ(r.header("Missing"), std::nullopt);
  EXPECT_EQ(r.body, "hello");
}

TEST(HarnessRawHttp, ParserSaysWhyACutResponseIsIncomplete) {
  harness::ResponseParser parser;
  parser.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  parser.finish("end of stream");
  EXPECT_FALSE(parser.complete());
  EXPECT_EQ(parser.response().error, "end of stream after 3 of 10 body bytes");
}

TEST(HarnessRawHttp, ParserKeepsWhatFollowsAResponseForTheNextOne) {
  harness::ResponseParser first;
  first.feed("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 204 No Content\r\n");
  ASSERT_TRUE(first.complete());
  EXPECT_EQ(first.response().body, "a");
  first.feed("\r\n");  // fed after completion: kept too
  harness::ResponseParser second;
  second.feed(first.take_rest());
  ASSERT_TRUE(second.complete()) << "a 204 has no body";
  EXPECT_EQ(second.response().status, 204);
  EXPECT_EQ(second.response().body, "");
}

TEST(HarnessRawHttp, AResponseToHeadHasNoBodyWhateverItsContentLength) {
  harness::ResponseParser parser(harness::Body::none);
  parser.feed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
  ASSERT_TRUE(parser.complete());
  EXPECT_EQ(parser.response().header("Content-Length"), "3");
  EXPECT_EQ(parser.response().body, "");
}

TEST(HarnessRawHttp, FormatGetClosesUnlessAskedToKeepAlive) {
  const std::string closing = harness::format_get("/x", {{"traceparent", "t"}});
  EXPECT_EQ(closing.rfind("GET /x HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(closing.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_NE(closing.find("\r\ntraceparent: t\r\n"), std::string::npos);
  EXPECT_EQ(closing.substr(closing.size() - 4), "\r\n\r\n");
  const std::string kept = harness::format_get("/x", {}, harness::Connection::keep_alive);
  EXPECT_EQ(kept.find("Connection:"), std::string::npos);
}

}  // namespace
