#pragma once
// What every image command sets up before it submits requests, in the
// order its errors should come: the flags (a bad one fails before the store
// is made), the store, the progress output, the registry client and the
// engine they all feed.

#include <chrono>
#include <memory>

#include "core/progress.hpp"
#include "core/store.hpp"
#include "engine/engine.hpp"
#include "engine/event_stamper.hpp"
#include "registry/client.hpp"
#include "tools/gantry/args.hpp"
#include "tools/gantry/progress_output.hpp"

namespace gantry::tools {

class CommandEngine {
 public:
  // `options`: the engine's, from engine_options() and the command's own
  // flags; `client`: the registry client's, from registry_options() or
  // interruptible_registry_options().
  // `json`: where --json events go (gantry run keeps stdout for the container).
  CommandEngine(const ParsedArgs& args, engine::EngineOptions options, registry::Options client,
                JsonStream json = JsonStream::stdout_stream);

  [[nodiscard]] core::ContentStore& store() noexcept { return store_; }
  [[nodiscard]] engine::Engine& engine() noexcept { return engine_; }
  [[nodiscard]] registry::Client& client() noexcept { return client_; }

  // One request, waited for: its report, or its error rethrown.
  engine::UnpackReport carry_out(engine::ImageRequest request);

  // An event of the command's own (run's `launched`, `exited`), stamped and
  // rendered as the engine's are.
  void emit(const core::progress::Event& event) { events_.on_event(event); }

  // Since the command started.
  [[nodiscard]] double seconds() const;

 private:
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  core::ContentStore store_;
  engine::EventStamper events_;  // the client's sink: stamps events for the output
  registry::Client client_;
  engine::Engine engine_;  // last: it runs on the others
};

}  // namespace gantry::tools
