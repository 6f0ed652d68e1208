#include "engine/event_stamper.hpp"

#include <variant>

namespace gantry::engine {

namespace progress = core::progress;

namespace {

const std::string& reference_of(const progress::Event& event) {
  return std::visit([](const auto& e) -> const std::string& { return e.reference; }, event);
}

// The blob an event is about, if any.
const core::Digest* digest_of(const progress::Event& event) {
  return std::visit([](const auto& e) -> const core::Digest* {
    if constexpr (requires { e.digest; }) {
      return &e.digest;
    } else {
      return nullptr;
    }
  }, event);
}

}  // namespace

EventStamper::EventStamper(std::unique_ptr<progress::StampedSink> output) : output_(std::move(output)) {}

ImageTimeline EventStamper::track(const std::string& reference) {
  ImageTimeline image = timeline_.add_image(reference);
  std::lock_guard lock(mutex_);
  images_.insert_or_assign(reference, Tracked{.timeline = image, .layers = {}});
  return image;
}

void EventStamper::resolved(const ImageTimeline& image, const registry::ResolvedImage& resolved) {
  image.set_layers(resolved.manifest.layers);
  std::lock_guard lock(mutex_);
  auto tracked = images_.find(resolved.reference.string());
  if (tracked == images_.end()) return;
  for (std::size_t i = 0; i < resolved.manifest.layers.size(); ++i) {
    tracked->second.layers.emplace(resolved.manifest.layers[i].digest, i);  // a layer twice: its lowest
  }
}

void EventStamper::mark_locked(const Tracked& image, std::size_t layer, const progress::Event& event,
                               Timeline::Clock::time_point now) {
  if (std::holds_alternative<progress::BlobProgress>(event)) {
    image.timeline.mark_first(layer, LayerPhase::first_byte, now);
  } else if (const auto* done = std::get_if<progress::BlobDone>(&event)) {
    // The fetcher announces a download done once its digest matched: the
    // last byte came just before (the sync of the blob file between).
    if (!done->cached) {
      image.timeline.mark_first(layer, LayerPhase::first_byte, now);
      image.timeline.mark(layer, LayerPhase::last_byte, now);
    }
    image.timeline.mark(layer, LayerPhase::verified, now);
  }
}

void EventStamper::on_event(const progress::Event& event) {
  const auto now = Timeline::Clock::now();
  std::lock_guard lock(mutex_);
  progress::Stamp stamp{.t = timeline_.seconds(now), .image = reference_of(event)};
  if (auto tracked = images_.find(stamp.image); tracked != images_.end()) {
    if (const core::Digest* digest = digest_of(event)) {
      if (auto layer = tracked->second.layers.find(*digest); layer != tracked->second.layers.end()) {
        stamp.layer = *digest;
        mark_locked(tracked->second, layer->second, event, now);
      }
    }
  }
  if (output_) output_->on_event(stamp, event);
}

}  // namespace gantry::engine
