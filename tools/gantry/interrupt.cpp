#include "tools/gantry/interrupt.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>

namespace gantry::tools {

namespace {

// Leaked on purpose: the waiting thread may still use them while the
// process exits.
std::stop_source& stop_source() {
  static auto* source = new std::stop_source();
  return *source;
}

std::atomic<int> g_signal{0};

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// write(2) of a whole line to stderr, while other threads may be printing.
void say(const std::string& line) {
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

[[noreturn]] void wait_for_signals(sigset_t set) {
  for (;;) {
    int signal = 0;
    if (::sigwait(&set, &signal) != 0) continue;
    int expected = 0;
    if (g_signal.compare_exchange_strong(expected, signal)) {
      // Runs the work's stop callbacks here, on this thread.
      stop_source().request_stop();
      continue;
    }
    // A second signal: the user does not want to wait for the cleanup.
    say("gantry: error: " + interrupted_message(signal) + " again: stopping at once\n");
    ::_exit(128 + signal);
  }
}

}  // namespace

void watch_interrupts() {
  sigset_t set = stop_signals();
  if (int rc = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    throw std::system_error(rc, std::generic_category(), "cannot block SIGINT and SIGTERM");
  }
  std::thread(wait_for_signals, set).detach();
}

std::stop_token interrupt_token() { return stop_source().get_token(); }

int interrupting_signal() { return g_signal.load(); }

std::string interrupted_message(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  return std::string("interrupted by SIG") + (abbrev ? abbrev : std::to_string(signal).c_str());
}

}  // namespace gantry::tools
