#include "tether/harness/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

extern char** environ;

namespace tether::harness {

namespace {
[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}
}  // namespace

ChildProcess ChildProcess::spawn(const std::string& program, const std::vector<std::string>& args,
                                 const std::string& stderr_path,
                                 const std::vector<std::string>& env) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno(errno, "pipe2");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  if (!stderr_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw_errno(rc, "posix_spawn " + program);
  }
  return ChildProcess(pid, fds[0]);
}

ChildProcess ChildProcess::start(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env) {
  if (argv.empty()) throw std::invalid_argument("ChildProcess::start: empty argv");
  return spawn(argv[0], {argv.begin() + 1, argv.end()}, "", env);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      status_(std::exchange(other.status_, 0)),
      stdout_buffer_(std::move(other.stdout_buffer_)) {}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) kill_and_reap();
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

int ChildProcess::take_stdout() noexcept { return std::exchange(stdout_fd_, -1); }

std::optional<std::string> ChildProcess::line_with(std::string_view what,
                                                   std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (auto nl = stdout_buffer_.find('\n'); nl != std::string::npos;
         nl = stdout_buffer_.find('\n')) {
      std::string line = stdout_buffer_.substr(0, nl);
      stdout_buffer_.erase(0, nl + 1);
      std::fprintf(stderr, "  child %d: %s\n", static_cast<int>(pid_), line.c_str());
      if (line.find(what) != std::string::npos) return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (stdout_fd_ < 0 || left.count() <= 0) return std::nullopt;
    pollfd p{stdout_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[512];
    const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    stdout_buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

bool ChildProcess::signal(int sig) const noexcept {
  if (pid_ <= 0 || status_) return false;
  return ::kill(pid_, sig) == 0;
}

std::optional<int> ChildProcess::try_reap() noexcept {
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) return status_ = status;
    if (r == 0) return std::nullopt;
    if (errno != EINTR) return status_ = -1;  // not our child any more: nothing to wait for
  }
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (status_ || pid_ <= 0) return status_;
  // Readable once the child has exited. (A syscall: Debian 12's <sys/pidfd.h> declares
  // pidfd_open without C linkage.)
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  const auto until = std::chrono::steady_clock::now() + timeout;
  std::optional<int> status;
  for (;;) {
    status = try_reap();
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (status || left.count() <= 0) break;
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
    } else {  // no pidfd (a kernel before 5.3): look again shortly
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(5)));
    }
  }
  if (pidfd >= 0) ::close(pidfd);
  return status;
}

void ChildProcess::kill_and_reap() noexcept {
  if (pid_ <= 0 || status_) return;
  ::kill(pid_, SIGKILL);
  try {
    wait_exit(std::chrono::seconds(5));
  } catch (...) {
  }
}

std::string describe_wait_status(int status) {
  if (status == -1) return "unknown (not our child)";
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return "killed by signal " + std::to_string(sig) + " (" + ::strsignal(sig) + ")";
  }
  return "status " + std::to_string(status);
}

bool exited_cleanly(int status) noexcept {
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace tether::harness
