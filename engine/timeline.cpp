#include "engine/timeline.hpp"

#include <stdexcept>

#include "core/error.hpp"
#include "engine/layer_window.hpp"

namespace gantry::engine {

std::string_view to_string(ImagePhase phase) {
  switch (phase) {
    case ImagePhase::resolve: return "resolve";
    case ImagePhase::auth: return "auth";
    case ImagePhase::manifest: return "manifest";
    case ImagePhase::config: return "config";
  }
  return "unknown";
}

std::string_view to_string(LayerPhase phase) {
  switch (phase) {
    case LayerPhase::queued: return "queued";
    case LayerPhase::first_byte: return "first_byte";
    case LayerPhase::last_byte: return "last_byte";
    case LayerPhase::verified: return "verified";
    case LayerPhase::decoded: return "decoded";
    case LayerPhase::applied: return "applied";
    case LayerPhase::committed: return "committed";
  }
  return "unknown";
}

std::string_view to_string(LayerWait wait) {
  switch (wait) {
    case LayerWait::network: return "network";
    case LayerWait::decoder: return "decoder";
    case LayerWait::applier: return "applier";
  }
  return "unknown";
}

core::progress::ImageTimes times_event(const ImageRecord& record) {
  core::progress::ImageTimes event{.reference = record.reference, .submitted = record.submitted, .at = {}, .layers = {}};
  for (std::size_t i = 0; i < kImagePhases; ++i) {
    if (record.at[i]) event.at.emplace_back(to_string(static_cast<ImagePhase>(i)), *record.at[i]);
  }
  for (const LayerRecord& layer : record.layers) {
    core::progress::ImageTimes::Layer& times = event.layers.emplace_back(
        core::progress::ImageTimes::Layer{.digest = layer.digest, .at = {}, .waited = {}});
    for (std::size_t i = 0; i < kLayerPhases; ++i) {
      if (layer.at[i]) times.at.emplace_back(to_string(static_cast<LayerPhase>(i)), *layer.at[i]);
    }
    for (std::size_t i = 0; i < kLayerWaits; ++i) {
      times.waited.emplace_back(to_string(static_cast<LayerWait>(i)), layer.waited[i]);
    }
  }
  return event;
}

ImageTimeline Timeline::add_image(std::string reference) {
  const double now = seconds(Clock::now());
  std::lock_guard lock(mutex_);
  images_.push_back(ImageRecord{.reference = std::move(reference), .submitted = now, .at = {}, .layers = {}});
  return ImageTimeline(*this, images_.size() - 1);
}

std::vector<ImageRecord> Timeline::images() const {
  std::lock_guard lock(mutex_);
  return {images_.begin(), images_.end()};
}

double Timeline::seconds(Clock::time_point when) const {
  return std::chrono::duration<double>(when - origin_).count();
}

// An id or layer out of range is a bug in the engine's wiring, not an
// outcome of the image: std::out_of_range, never a silent drop.
ImageRecord& Timeline::image_locked(std::size_t id) { return images_.at(id); }

LayerRecord& Timeline::layer_locked(std::size_t id, std::size_t layer) { return image_locked(id).layers.at(layer); }

void ImageTimeline::set_layers(std::span<const core::Descriptor> layers) const {
  if (layers.size() > kMaxLayers) {
    throw core::Error(core::ErrorKind::unsupported, "the timeline keeps at most " + std::to_string(kMaxLayers) +
                                                        " layers, not " + std::to_string(layers.size()));
  }
  std::lock_guard lock(timeline_->mutex_);
  std::vector<LayerRecord>& records = timeline_->image_locked(id_).layers;
  if (!records.empty()) {
    bool same = records.size() == layers.size();
    for (std::size_t i = 0; same && i < layers.size(); ++i) same = records[i].digest == layers[i].digest;
    if (!same) throw std::logic_error("timeline: an image's layers set twice, differently");
    return;
  }
  for (const core::Descriptor& layer : layers) records.push_back(LayerRecord{.digest = layer.digest});
}

void ImageTimeline::mark(ImagePhase phase, Clock::time_point when) const {
  const double at = timeline_->seconds(when);
  std::lock_guard lock(timeline_->mutex_);
  timeline_->image_locked(id_).at[static_cast<std::size_t>(phase)] = at;
}

void ImageTimeline::mark(std::size_t layer, LayerPhase phase, Clock::time_point when) const {
  const double at = timeline_->seconds(when);
  std::lock_guard lock(timeline_->mutex_);
  timeline_->layer_locked(id_, layer).at[static_cast<std::size_t>(phase)] = at;
}

void ImageTimeline::mark_first(std::size_t layer, LayerPhase phase, Clock::time_point when) const {
  const double at = timeline_->seconds(when);
  std::lock_guard lock(timeline_->mutex_);
  std::optional<double>& stamp = timeline_->layer_locked(id_, layer).at[static_cast<std::size_t>(phase)];
  if (!stamp) stamp = at;
}

void ImageTimeline::add_wait(std::size_t layer, LayerWait wait, Clock::duration waited) const {
  const double seconds = std::chrono::duration<double>(waited).count();
  std::lock_guard lock(timeline_->mutex_);
  timeline_->layer_locked(id_, layer).waited[static_cast<std::size_t>(wait)] += seconds;
}

ImageRecord ImageTimeline::record() const {
  std::lock_guard lock(timeline_->mutex_);
  return timeline_->image_locked(id_);
}

}  // namespace gantry::engine
