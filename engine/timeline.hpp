#pragma once
// What the engine did when, for every image and layer it worked on
// (DESIGN.md: one timeline; `--json`, `run --timing` and `bench` render
// it). Recorded by the engine itself, never by a command. Bounded by
// design: one fixed record per image and one per layer (at most kMaxLayers
// of them), each a fixed set of time stamps and wait counters, however long
// the image takes; no log grows with bytes, chunks or retries.

#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/descriptor.hpp"
#include "core/progress.hpp"

namespace gantry::engine {

// An image's phases, each stamped when it ended.
enum class ImagePhase { resolve, auth, manifest, config };
inline constexpr std::size_t kImagePhases = 4;

// A layer's phases, each stamped when it happened.
enum class LayerPhase { queued, first_byte, last_byte, verified, decoded, applied, committed };
inline constexpr std::size_t kLayerPhases = 7;

// What a layer waited for: bytes from the network (its pipeline's input
// empty), the decoder (its input full), the applier (decoded entries not
// taken yet).
enum class LayerWait { network, decoder, applier };
inline constexpr std::size_t kLayerWaits = 3;

[[nodiscard]] std::string_view to_string(ImagePhase phase);
[[nodiscard]] std::string_view to_string(LayerPhase phase);
[[nodiscard]] std::string_view to_string(LayerWait wait);

// Times are seconds since the timeline's origin (the command's start).
struct LayerRecord {
  core::Digest digest;
  std::array<std::optional<double>, kLayerPhases> at{};
  std::array<double, kLayerWaits> waited{};  // seconds, summed over the layer's waits

  [[nodiscard]] std::optional<double> when(LayerPhase phase) const { return at[static_cast<std::size_t>(phase)]; }
  [[nodiscard]] double seconds_waiting(LayerWait wait) const { return waited[static_cast<std::size_t>(wait)]; }
};

struct ImageRecord {
  std::string reference;
  double submitted = 0;
  std::array<std::optional<double>, kImagePhases> at{};
  std::vector<LayerRecord> layers;  // bottom first, once the manifest is known

  [[nodiscard]] std::optional<double> when(ImagePhase phase) const { return at[static_cast<std::size_t>(phase)]; }
};

class Timeline;

// One image's records: what the engine's steps hold to stamp it. Copyable
// and cheap; the timeline it came from outlives it (the engine owns both
// the timeline and every request it stamps).
class ImageTimeline {
 public:
  using Clock = std::chrono::steady_clock;

  // The image's layers are known (its manifest): one record each. Again
  // (a retried resolve) only if they are the same.
  void set_layers(std::span<const core::Descriptor> layers) const;
  // Stamps a phase, now or at `when`; a phase stamped again keeps the
  // latest time (a retried layer's second pass is the one that counted).
  void mark(ImagePhase phase, Clock::time_point when = Clock::now()) const;
  void mark(std::size_t layer, LayerPhase phase, Clock::time_point when = Clock::now()) const;
  // The same, but a phase stamped already keeps its first time (a first
  // byte is the first pass's).
  void mark_first(std::size_t layer, LayerPhase phase, Clock::time_point when = Clock::now()) const;
  // Adds `waited` to what layer `layer` waited for `wait`.
  void add_wait(std::size_t layer, LayerWait wait, Clock::duration waited) const;

  [[nodiscard]] ImageRecord record() const;

 private:
  friend class Timeline;
  ImageTimeline(Timeline& timeline, std::size_t id) : timeline_(&timeline), id_(id) {}
  Timeline* timeline_;
  std::size_t id_;
};

// Thread-safe: any engine thread stamps any image at once (one short lock
// per stamp; stamps are a few per layer, waits one per blocking push or
// pop, never one per byte).
class Timeline {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Timeline(Clock::time_point origin = Clock::now()) : origin_(origin) {}
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // A new image's records (submitted now).
  [[nodiscard]] ImageTimeline add_image(std::string reference);

  [[nodiscard]] std::vector<ImageRecord> images() const;
  // Seconds from the origin to `when`.
  [[nodiscard]] double seconds(Clock::time_point when) const;
  [[nodiscard]] Clock::time_point origin() const noexcept { return origin_; }

 private:
  friend class ImageTimeline;
  ImageRecord& image_locked(std::size_t id);
  LayerRecord& layer_locked(std::size_t id, std::size_t layer);

  const Clock::time_point origin_;
  mutable std::mutex mutex_;
  std::deque<ImageRecord> images_;  // a deque: records never move once made
};

// The `timeline` event of one image's record (what `--json` shows of it).
[[nodiscard]] core::progress::ImageTimes times_event(const ImageRecord& record);

}  // namespace gantry::engine
