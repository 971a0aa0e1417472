#include "service_log.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <system_error>

namespace tether::demo_tour {

std::string LogLine::string_field(const char* name) const {
  if (!fields.is_object()) return {};
  auto it = fields.find(name);
  if (it == fields.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::optional<double> LogLine::number_field(const char* name) const {
  if (!fields.is_object()) return std::nullopt;
  auto it = fields.find(name);
  if (it == fields.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

bool LogLine::flag(const char* name) const {
  if (!fields.is_object()) return false;
  auto it = fields.find(name);
  return it != fields.end() && it->is_boolean() && it->get<bool>();
}

ServiceLog::ServiceLog(int fd, const std::string& mirror_path) : fd_(fd) {
  if (::pipe2(wake_, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(fd_);
    throw std::system_error(err, std::generic_category(), "pipe2");
  }
  if (!mirror_path.empty()) mirror_.open(mirror_path, std::ios::out | std::ios::trunc);
  reader_ = std::thread([this] { run(); });
}

ServiceLog::~ServiceLog() {
  char byte = 1;
  [[maybe_unused]] auto n = ::write(wake_[1], &byte, 1);
  reader_.join();
  ::close(wake_[0]);
  ::close(wake_[1]);
  ::close(fd_);
}

void ServiceLog::run() {
  std::string pending;
  char buf[16384];
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int r = ::poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;  // stop requested
    if (fds[0].revents == 0) continue;
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // end of the pipe (or an error: treated the same)
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      LogLine line;
      line.text = pending.substr(start, nl - start);
      line.received = std::chrono::steady_clock::now();
      line.fields = nlohmann::json::parse(line.text, nullptr, /*allow_exceptions=*/false);
      if (line.fields.is_discarded()) line.fields = nullptr;
      if (mirror_.is_open()) mirror_ << line.text << '\n' << std::flush;
      std::lock_guard lock(mu_);
      lines_.push_back(std::move(line));
      cv_.notify_all();
    }
    pending.erase(0, start);
  }
  std::lock_guard lock(mu_);
  ended_ = true;
  cv_.notify_all();
}

std::optional<LogLine> ServiceLog::wait_for(const Predicate& pred,
                                            std::chrono::milliseconds timeout,
                                            std::size_t from) const {
  const auto until = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  std::size_t next = from;
  for (;;) {
    for (; next < lines_.size(); ++next) {
      if (pred(lines_[next])) return lines_[next];
    }
    if (ended_) return std::nullopt;
    if (cv_.wait_until(lock, until) == std::cv_status::timeout && next == lines_.size()) {
      return std::nullopt;
    }
  }
}

std::size_t ServiceLog::size() const {
  std::lock_guard lock(mu_);
  return lines_.size();
}

std::vector<LogLine> ServiceLog::lines() const {
  std::lock_guard lock(mu_);
  return lines_;
}

bool ServiceLog::ended() const {
  std::lock_guard lock(mu_);
  return ended_;
}

std::string ServiceLog::tail(std::size_t n) const {
  std::lock_guard lock(mu_);
  std::ostringstream out;
  std::size_t first = lines_.size() > n ? lines_.size() - n : 0;
  for (std::size_t i = first; i < lines_.size(); ++i) out << "  " << lines_[i].text << '\n';
  return out.str();
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& text) {
  int year, month, day, hour, minute, second, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                  &second, &consumed) != 6) {
    return std::nullopt;
  }
  std::size_t i = static_cast<std::size_t>(consumed);
  std::chrono::nanoseconds fraction{0};
  if (i < text.size() && text[i] == '.') {
    long long scale = 100'000'000;
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      fraction += std::chrono::nanoseconds((text[i] - '0') * scale);
      scale /= 10;
    }
  }
  std::string zone = text.substr(i);
  if (zone != "Z" && zone != "z" && zone != "+00:00") return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  std::time_t t = ::timegm(&tm);
  return std::chrono::system_clock::from_time_t(t) +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(fraction);
}

}  // namespace tether::demo_tour
