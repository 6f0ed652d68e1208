#pragma once
// Between the events' sources and the command's renderer (DESIGN.md: the
// timeline and events): every event is stamped with its time since the
// command started, the image whose request it belongs to and, for a blob
// that is one of that image's layers, the layer; and the blob events stamp
// the image's timeline (first byte, last byte, verified). The registry
// client gives it its events on its I/O thread, the engine its own
// (resolved, image_failed) from its workers: one lock serialises them, so
// the renderer gets one event at a time, in the order they happened.

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/progress.hpp"
#include "engine/timeline.hpp"
#include "registry/client.hpp"

namespace gantry::engine {

class EventStamper final : public core::progress::EventSink {
 public:
  // `output`: the command's renderer; none (nothing rendered, the timeline
  // still recorded) with --quiet or in tests.
  explicit EventStamper(std::unique_ptr<core::progress::StampedSink> output = nullptr);

  [[nodiscard]] Timeline& timeline() noexcept { return timeline_; }

  // A request for `reference` (Reference::string()) was submitted: its
  // records. The same reference again: its events go to the later one.
  [[nodiscard]] ImageTimeline track(const std::string& reference);
  // The image is resolved: its layers' records, and its events' "layer".
  void resolved(const ImageTimeline& image, const registry::ResolvedImage& resolved);

  // Any event; its `reference` names the image.
  void on_event(const core::progress::Event& event) override;

 private:
  struct Tracked {
    ImageTimeline timeline;
    std::map<core::Digest, std::size_t> layers;  // digest: its index, bottom first
  };
  void mark_locked(const Tracked& image, std::size_t layer, const core::progress::Event& event,
                   Timeline::Clock::time_point now);

  Timeline timeline_;
  std::unique_ptr<core::progress::StampedSink> output_;
  std::mutex mutex_;
  std::map<std::string, Tracked> images_;
};

}  // namespace gantry::engine
