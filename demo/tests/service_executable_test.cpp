// tether-demo as a program: what the tour relies on — the first stdout line is "listening"
// with the ports, SIGTERM ends it with "shutting down" then "stopped" (nothing dropped) and
// exit status 0, and a bad flag is exit status 2 with a message on stderr.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "service_fixture.hpp"

#if !defined(TETHER_DEMO_EXE) || !defined(TETHER_DEMO_BASELINE_EXE)
#error "TETHER_DEMO_EXE, TETHER_DEMO_BASELINE_EXE: tether-demo and its baseline (set by CMake)"
#endif

extern char** environ;

namespace {

using namespace tether_demo_test;

// A child process with its stdout (and, separately, stderr) on pipes.
class Child {
 public:
  explicit Child(std::vector<std::string> args, const char* exe = TETHER_DEMO_EXE) {
    args.insert(args.begin(), exe);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    if (posix_spawn(&pid_, exe, &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait_exit();
    }
    if (out_ >= 0) ::close(out_);
    if (err_ >= 0) ::close(err_);
  }

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  /// The next stdout line, waiting at most kBound; nullopt at end of file or time out.
  std::optional<std::string> line() { return read_line(out_, out_buf_); }
  /// All of stderr until end of file (bounded).
  std::string stderr_text() {
    std::string all;
    while (auto l = read_line(err_, err_buf_)) all += *l + "\n";
    return all + err_buf_;
  }

  /// The exit status (128 + signal when killed); waits at most kBound, then kills.
  int wait_exit() {
    const auto until = std::chrono::steady_clock::now() + kBound;
    int status = 0;
    for (;;) {
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (r < 0) return -1;
      if (std::chrono::steady_clock::now() > until) ::kill(pid_, SIGKILL);
      ::usleep(5000);
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  static std::optional<std::string> read_line(int fd, std::string& buf) {
    const auto until = std::chrono::steady_clock::now() + kBound;
    for (;;) {
      if (auto nl = buf.find('\n'); nl != std::string::npos) {
        std::string l = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return l;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char chunk[4096];
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buf.append(chunk, static_cast<std::size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  std::string out_buf_, err_buf_;
};

TEST(ExecutableTest, ListeningIsTheFirstLineAndSigtermStopsItGracefully) {
  TempDir dir;
  Child demo({"--port", "0", "--data-dir", dir.path(), "--users", "200", "--workers", "2"});
  ASSERT_TRUE(demo.started());
  auto first = demo.line();
  ASSERT_TRUE(first);
  Json listening = Json::parse(*first, nullptr, false);
  ASSERT_TRUE(listening.is_object()) << *first;
  EXPECT_EQ(listening["msg"], "listening");
  EXPECT_EQ(listening["pid"], demo.pid());
  const int port = listening["port"];
  EXPECT_GT(port, 0);
  EXPECT_GT(listening["activity_port"].get<int>(), 0);

  tether::http::Client client;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), kBound);
  auto r = client.get(ctx, "http://127.0.0.1:" + std::to_string(port) + "/healthz");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "ok");

  ASSERT_EQ(::kill(demo.pid(), SIGTERM), 0);
  std::vector<Json> lines;
  while (auto l = demo.line()) lines.push_back(Json::parse(*l, nullptr, false));
  EXPECT_EQ(demo.wait_exit(), 0);
  ASSERT_GE(lines.size(), 2u);
  auto shutting = std::find_if(lines.begin(), lines.end(),
                               [](const Json& j) { return j["msg"] == "shutting down"; });
  ASSERT_NE(shutting, lines.end());
  EXPECT_EQ((*shutting)["signal"], "SIGTERM");
  const Json& last = lines.back();
  EXPECT_EQ(last["msg"], "stopped");
  EXPECT_EQ(last["dropped"], 0);
  EXPECT_TRUE(last["in_flight_completed"].is_number_integer());
}

TEST(ExecutableTest, TheBaselineBuildAnswersTheSameRequestsAndSaysItIsTheBaseline) {
  TempDir dir;
  Child demo({"--port", "0", "--data-dir", dir.path(), "--users", "200", "--workers", "2"},
             TETHER_DEMO_BASELINE_EXE);
  ASSERT_TRUE(demo.started());
  auto first = demo.line();
  ASSERT_TRUE(first);
  Json listening = Json::parse(*first, nullptr, false);
  ASSERT_EQ(listening["msg"], "listening") << *first;
  EXPECT_EQ(listening["baseline"], true);
  tether::http::Client client;
  auto [ctx, cancel] = tether::with_timeout(tether::background(), kBound);
  auto r = client.get(
      ctx, "http://127.0.0.1:" + std::to_string(listening["port"].get<int>()) + "/users/42");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Json::parse(r->body)["profile"]["id"], 42);
  ASSERT_EQ(::kill(demo.pid(), SIGTERM), 0);
  EXPECT_EQ(demo.wait_exit(), 0);
}

TEST(ExecutableTest, ABadFlagExitsWithStatus2AndSaysWhy) {
  Child demo({"--timeout", "soon"});
  ASSERT_TRUE(demo.started());
  const std::string err = demo.stderr_text();
  EXPECT_EQ(demo.wait_exit(), 2);
  EXPECT_NE(err.find("--timeout"), std::string::npos) << err;
  EXPECT_FALSE(demo.line());  // nothing on stdout
}

TEST(ExecutableTest, HelpListsTheFlagsAndExitsWithStatus0) {
  Child demo({"--help"});
  ASSERT_TRUE(demo.started());
  std::string out;
  while (auto l = demo.line()) out += *l + "\n";
  EXPECT_EQ(demo.wait_exit(), 0);
  EXPECT_NE(out.find("--postgres[=CONNINFO]"), std::string::npos) << out;
}

}  // namespace
