#include "tether/harness/threads.hpp"

#include <dirent.h>

#include <fstream>
#include <string>
#include <thread>

namespace tether::harness {

std::size_t thread_count() {
  std::size_t n = 0;
  if (DIR* dir = ::opendir("/proc/self/task")) {
    while (const dirent* e = ::readdir(dir)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(dir);
  }
  return n;
}

std::optional<int> thread_count_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) != 0) continue;
    try {
      return std::stoi(line.substr(8));
    } catch (...) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::size_t threads_beyond(std::size_t baseline, std::chrono::milliseconds bound) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (thread_count() > baseline && std::chrono::steady_clock::now() < until) {
    std::this_thread::yield();
  }
  const std::size_t now = thread_count();
  return now > baseline ? now - baseline : 0;
}

}  // namespace tether::harness
