// tether/pg_local_cluster.hpp — a throwaway local PostgreSQL cluster, for tests and demos.
//
// Testing cancellation against PostgreSQL needs a real server, and a real server should not
// need an administrator. LocalCluster makes one for the lifetime of an object: it creates a
// cluster in a fresh temporary directory (on /dev/shm when it is writable: tmpfs starts and
// stops much faster), starts it with pg_ctl listening on 127.0.0.1 on a free port (and on a
// Unix socket in the same directory), and the destructor stops it and removes the
// directory.
//
//   tether::pg::LocalCluster cluster;               // blocks: initdb + start, seconds
//   if (!cluster.running()) { log(cluster.message()); return; }
//   auto conn = tether::pg::Connection::connect(ctx, cluster.conninfo());
//
// initdb takes seconds; copying an initialized cluster takes milliseconds. With
// Options::template_dir set, the first LocalCluster initializes a template there (renamed
// into place atomically, so concurrent processes race harmlessly) and every later one copies
// it.
//
// The database superuser is `tether` with trust authentication on loopback: a cluster for
// tests and demos, never for data that matters. As root, the server runs as the `postgres`
// system user (through runuser; created if missing), since PostgreSQL refuses to run as
// root.
//
// Abnormal exit: a watchdog process (a shell reading a pipe whose write end only this
// object holds) stops the server and removes the directory when the owning process dies
// for any reason — a crash, an abort, a SIGKILL — so no cluster outlives it.
//
// Outcomes, never exceptions: state() is running, unavailable (the PostgreSQL 15 server
// binaries are not installed: Debian package postgresql-15; message() says so), or failed
// (they are, but the cluster could not be made or started; message() holds the commands'
// output).
//
// Thread safety: one thread at a time per object; different objects are independent.
// What blocks: the constructor (initdb or copy, then start: seconds), start(),
// stop_immediately() and the destructor (pg_ctl stop). pg_ctl's own wait is bounded (30 s).
#pragma once

#include <string>
#include <vector>

namespace tether::pg {

class LocalCluster {
 public:
  struct Options {
    /// Where initdb and pg_ctl are.
    std::string bin_dir = "/usr/lib/postgresql/15/bin";
    /// An initialized cluster to copy instead of running initdb; created there on first use.
    /// Empty: run initdb every time.
    std::string template_dir;
    /// The server's max_connections.
    int max_connections = 40;
  };

  enum class State { running, unavailable, failed };

  /// Creates the cluster and starts it (see the header comment).
  LocalCluster() : LocalCluster(Options{}) {}
  explicit LocalCluster(Options options);
  /// Stops the server at once (pg_ctl -m immediate) and removes the directory.
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  State state() const noexcept { return state_; }
  bool running() const noexcept { return state_ == State::running; }
  /// Why the cluster is unavailable or failed; empty while running.
  const std::string& message() const noexcept { return message_; }

  /// libpq connection string: TCP on 127.0.0.1, user tether, database postgres.
  std::string conninfo() const;
  int port() const noexcept { return port_; }
  /// The temporary directory (data in <dir>/data, server log in <dir>/server.log).
  const std::string& directory() const noexcept { return dir_; }

  /// pg_ctl stop -m immediate: every backend is killed at once, no clean shutdown (a test
  /// of what a client sees when the server dies). Returns true on success.
  bool stop_immediately();
  /// Starts the (stopped) cluster again on the same port; waits until it accepts
  /// connections. Returns true on success.
  bool start();

 private:
  int run(const std::vector<std::string>& argv, bool as_postgres);
  bool make_data_dir();
  std::vector<std::string> as_user(std::vector<std::string> argv) const;
  void fail(std::string message);

  Options options_;
  State state_ = State::failed;
  std::string message_;
  std::string dir_;
  int port_ = 0;
  bool root_ = false;
  int watchdog_fd_ = -1;
  int watchdog_pid_ = -1;
};

}  // namespace tether::pg
