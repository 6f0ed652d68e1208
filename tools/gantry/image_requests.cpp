#include "tools/gantry/image_requests.hpp"

#include <future>
#include <string>

namespace gantry::tools {

std::string Outcome::label() const {
  return platform ? reference.string() + " (" + platform->string() + ")" : reference.string();
}

namespace {

// One round: every outcome submitted, then each awaited in order.
void carry_out_round(CommandEngine& images, std::vector<Outcome>& round, engine::Goal goal,
                     const std::function<void(const Outcome&)>& done) {
  std::vector<std::future<engine::UnpackReport>> requests;
  for (const Outcome& o : round) {
    requests.push_back(images.engine().submit({.reference = o.reference, .goal = goal, .platform = o.platform}));
  }
  for (std::size_t i = 0; i < round.size(); ++i) {
    try {
      round[i].report = requests[i].get();
    } catch (const core::Error& e) {
      round[i].error = e;
    }
    if (done) done(round[i]);
  }
}

}  // namespace

std::vector<Outcome> carry_out_all(CommandEngine& images, const std::vector<core::Reference>& refs,
                                   engine::Goal goal, bool all_platforms,
                                   const std::function<void(const Outcome&)>& done) {
  std::vector<Outcome> out;
  if (!all_platforms) {
    for (const core::Reference& ref : refs) out.push_back({.reference = ref, .platform = {}, .report = {}, .error = {}});
    carry_out_round(images, out, goal, done);
    return out;
  }
  std::vector<std::future<std::vector<core::Platform>>> asking;
  for (const core::Reference& ref : refs) asking.push_back(images.client().start_platforms(ref, images.store()));
  std::vector<std::vector<Outcome>> rounds;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    std::vector<std::optional<core::Platform>> platforms;
    try {
      for (core::Platform& p : asking[i].get()) platforms.emplace_back(std::move(p));
    } catch (const core::Error& e) {
      Outcome failed{.reference = refs[i], .platform = {}, .report = {}, .error = e};
      if (done) done(failed);
      out.push_back(std::move(failed));
      continue;
    }
    if (platforms.empty()) platforms.emplace_back();  // one image manifest: the one image
    for (std::size_t k = 0; k < platforms.size(); ++k) {
      if (rounds.size() <= k) rounds.emplace_back();
      rounds[k].push_back({.reference = refs[i], .platform = platforms[k], .report = {}, .error = {}});
    }
  }
  for (std::vector<Outcome>& round : rounds) {
    carry_out_round(images, round, goal, done);
    for (Outcome& o : round) out.push_back(std::move(o));
  }
  return out;
}

}  // namespace gantry::tools
