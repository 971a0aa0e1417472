// tether::pg::LocalCluster — see tether/pg_local_cluster.hpp.
#include "tether/pg_local_cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

extern char** environ;

namespace tether::pg {
namespace {

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(s);
  return port;
}

// Spawns argv with stdin from `in_fd` (or /dev/null) and stdout+stderr appended to `log`.
// Returns the child's pid, or -1.
pid_t spawn(const std::vector<std::string>& argv, int in_fd, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (in_fd >= 0) {
    posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  } else {
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

LocalCluster::LocalCluster(Options options) : options_(std::move(options)) {
  const std::string& bin = options_.bin_dir;
  if (::access((bin + "/initdb").c_str(), X_OK) != 0 ||
      ::access((bin + "/pg_ctl").c_str(), X_OK) != 0) {
    state_ = State::unavailable;
    message_ = "PostgreSQL 15 server binaries not found in " + bin +
               " (apt-get install postgresql-15; scripts/setup.sh does it)";
    return;
  }
  root_ = ::geteuid() == 0;
  if (root_ && ::system("id -u postgres >/dev/null 2>&1") != 0 &&
      ::system("useradd --system --no-create-home postgres >/dev/null 2>&1") != 0) {
    fail("running as root and could not create the 'postgres' user");
    return;
  }

  // tmpfs when there is one: a cluster on it starts and stops much faster.
  std::string tmpl = (::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  tmpl += "/tether-pg-XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    fail("mkdtemp failed");
    return;
  }
  dir_ = tmpl;
  if (root_ && ::system(("chown postgres: " + shell_quoted(dir_)).c_str()) != 0) {
    fail("chown " + dir_ + " failed");
    return;
  }

  // The watchdog: survives signals to our process group, and when our end of the pipe
  // closes (we exited, however) it stops the server and removes the directory.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) == 0) {
    const std::string stop = (root_ ? "runuser -u postgres -- " : std::string()) + bin +
                             "/pg_ctl -D " + shell_quoted(dir_ + "/data") + " -m immediate -w stop";
    const std::string script = "trap '' INT TERM HUP; cat >/dev/null; " + stop +
                               " >/dev/null 2>&1; rm -rf " + shell_quoted(dir_);
    watchdog_pid_ = spawn({"sh", "-c", script}, fds[0], "/dev/null");
    ::close(fds[0]);
    watchdog_fd_ = fds[1];
  }

  if (!make_data_dir()) return;
  // The port is free when free_port() looks, but another process may bind it before the
  // server does: try a few.
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = free_port();
    if (port_ != 0 && start()) {
      state_ = State::running;
      return;
    }
  }
  fail("pg_ctl start failed:\n" + read_file(dir_ + "/commands.log") +
       read_file(dir_ + "/server.log"));
}

void LocalCluster::fail(std::string message) {
  state_ = State::failed;
  message_ = std::move(message);
}

std::vector<std::string> LocalCluster::as_user(std::vector<std::string> argv) const {
  if (!root_) return argv;
  std::vector<std::string> out = {"runuser", "-u", "postgres", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

int LocalCluster::run(const std::vector<std::string>& argv, bool as_postgres) {
  pid_t pid = spawn(as_postgres ? as_user(argv) : argv, -1, dir_ + "/commands.log");
  return pid < 0 ? 127 : wait_exit(pid);
}

bool LocalCluster::make_data_dir() {
  const std::string data = dir_ + "/data";
  const std::string& templ = options_.template_dir;
  const std::string& bin = options_.bin_dir;
  if (templ.empty() || ::access((templ + "/PG_VERSION").c_str(), R_OK) != 0) {
    if (run({bin + "/initdb", "-D", data, "-A", "trust", "-U", "tether", "-N", "--locale=C", "-E",
             "UTF8"},
            true) != 0) {
      fail("initdb failed:\n" + read_file(dir_ + "/commands.log"));
      return false;
    }
    if (!templ.empty()) {
      const std::string staging = templ + ".tmp-" + std::to_string(::getpid());
      if (run({"cp", "-a", data, staging}, false) == 0 &&
          ::rename(staging.c_str(), templ.c_str()) != 0) {
        std::error_code ec;
        std::filesystem::remove_all(staging, ec);  // another process made it first
      }
    }
    return true;
  }
  if (run({"cp", "-a", templ, data}, false) != 0) {
    fail("copying the cluster template failed:\n" + read_file(dir_ + "/commands.log"));
    return false;
  }
  if (root_ && run({"chown", "-R", "postgres:", data}, false) != 0) {
    fail("chown of the cluster failed");
    return false;
  }
  return true;
}

bool LocalCluster::start() {
  const std::string options =
      "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " + dir_ +
      " -c fsync=off -c max_connections=" + std::to_string(options_.max_connections) +
      " -c dynamic_shared_memory_type=mmap";
  return run({options_.bin_dir + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w",
              "-t", "30", "-o", options, "start"},
             true) == 0;
}

bool LocalCluster::stop_immediately() {
  return run({options_.bin_dir + "/pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"},
             true) == 0;
}

LocalCluster::~LocalCluster() {
  if (!dir_.empty()) {
    run({options_.bin_dir + "/pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"},
        true);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  if (watchdog_fd_ >= 0) ::close(watchdog_fd_);  // the watchdog finds nothing left and exits
  if (watchdog_pid_ > 0) wait_exit(watchdog_pid_);
}

std::string LocalCluster::conninfo() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) +
         " user=tether dbname=postgres connect_timeout=10";
}

}  // namespace tether::pg
