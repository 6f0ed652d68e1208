#pragma once
// SIGINT and SIGTERM as a request to stop, for the commands that opt in
// (Command::stops_on_signal: pull, unpack, bundle). The signals are blocked
// in every thread and one thread sigwaits for them, so no cleanup ever runs
// in an async signal handler: the first signal requests a stop, which the
// work hears through interrupt_token() (the fetcher ends its downloads at
// the next chunk, keeping the partial files; the layer pipelines fail), and
// the ordinary unwinding removes what was half made. A second signal ends
// the process at once (what stays carries its pid, and the next command
// beside it removes it). `gantry run` does not opt in: it forwards these
// signals to the container (runtime/launcher.cpp).

#include <stop_token>
#include <string>

namespace gantry::tools {

// Blocks SIGINT and SIGTERM in the calling thread, and so in every thread
// started after it, and starts the thread that waits for them. Call once,
// before any other thread starts.
void watch_interrupts();

// Stopped after the first SIGINT or SIGTERM; never stopped without
// watch_interrupts().
[[nodiscard]] std::stop_token interrupt_token();

// The signal that requested the stop, 0 if none came.
[[nodiscard]] int interrupting_signal();

// "interrupted by SIGTERM", for the command's one line.
[[nodiscard]] std::string interrupted_message(int signal);

}  // namespace gantry::tools
