#include "engine/stale.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

namespace gantry::engine {

std::string owned_name(std::string_view marker) {
  std::string name(marker);
  name += std::to_string(::getpid());
  return name;
}

bool left_by_dead_process(std::string_view name, std::string_view marker) {
  const auto at = name.rfind(marker);
  if (at == std::string_view::npos) return false;
  const std::string_view digits = name.substr(at + marker.size());
  int pid = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  if (ec != std::errc() || end != digits.data() + digits.size() || pid <= 0) return false;
  // EPERM: it exists (another user's); only ESRCH says it is gone.
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

}  // namespace gantry::engine
