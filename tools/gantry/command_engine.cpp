#include "tools/gantry/command_engine.hpp"

#include "tools/gantry/common_options.hpp"
#include "tools/gantry/progress_output.hpp"

namespace gantry::tools {

CommandEngine::CommandEngine(const ParsedArgs& args, engine::EngineOptions options, registry::Options client,
                             JsonStream json)
    : store_(store_root(args)),
      events_(make_progress_output(args, json)),
      client_(std::move(client), &events_),
      engine_(client_, store_, std::move(options), events_) {}

engine::UnpackReport CommandEngine::carry_out(engine::ImageRequest request) {
  return engine_.submit(std::move(request)).get();
}

double CommandEngine::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

}  // namespace gantry::tools
