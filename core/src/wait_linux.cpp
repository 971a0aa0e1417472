// Done::fd()'s descriptor on Linux: one eventfd (futexes are inline in internal/futex.hpp).
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

#include "internal/futex.hpp"

namespace tether::internal {

NotifierFds open_notifier() {
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  return {fd, fd};
}

void signal_notifier(NotifierFds fds) noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(fds.write, &one, sizeof one);
}

void close_notifier(NotifierFds fds) noexcept { ::close(fds.read); }

}  // namespace tether::internal
