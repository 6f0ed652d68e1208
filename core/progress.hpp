#pragma once
// The events of a pull, one vocabulary for the terminal display and `--json`
// (one event per line, docs/events.md): registry/ and engine/ emit them,
// engine/ stamps them (time, image, layer), tools/ renders them. Progress
// is throttled where it is produced (a few events a second per blob), never
// one event per network read, so a renderer may do real work per event.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/digest.hpp"
#include "core/platform.hpp"

namespace gantry::core::progress {

// The "v" of every `--json` event: raised when a field changes meaning or
// goes away (new fields and events do not raise it). docs/events.md.
inline constexpr int kEventsVersion = 2;

// A reference resolved to the one image manifest that will be fetched.
struct Resolved {
  std::string reference;        // normalised, as Reference::string()
  Digest manifest_digest;       // the platform's manifest (also when the tag names an index)
  std::optional<Digest> index_digest{};  // the index it came through, which index.json records
  std::string media_type;       // of that manifest
  Platform platform;            // the index entry's, else the config's
  std::size_t layers = 0;
  std::int64_t total_bytes = 0;  // config and layers, as the manifest declares them
};

// A blob download begins (after any wait for another process's download).
// `reference`: the image (as Reference::string()) whose request fetches the
// blob or made the call; set by registry/, read by the engine's stamper.
struct BlobStarted {
  Digest digest;
  std::string reference{};
  std::int64_t size = 0;          // the descriptor's
  std::int64_t resumed_from = 0;  // bytes already held from an earlier run
};

struct BlobProgress {
  Digest digest;
  std::string reference{};
  std::int64_t bytes = 0;  // held so far, resumed bytes included
  std::int64_t size = 0;
};

struct BlobDone {
  Digest digest;
  std::string reference{};
  std::int64_t fetched = 0;  // bytes that crossed the network in this run
  bool cached = false;       // already present: nothing was fetched
};

// A request failed in a way worth another try; the client waits `delay` first.
struct Retry {
  std::string what;    // "GET https://host/v2/x/blobs/sha256:..." or similar
  int attempt = 0;     // the attempt that failed, from 1
  std::chrono::milliseconds delay{0};
  std::string reason;  // one line, as core::Error::what()
  std::string reference{};  // the image whose request it is, where known
};

// The end of one client call (a pull of one or several references).
struct Done {
  std::string reference{};
  std::int64_t bytes_fetched = 0;
  std::size_t blobs_fetched = 0;
  std::size_t blobs_cached = 0;
  double seconds = 0;
};

// An image's request failed (the others go on); emitted by the engine.
struct ImageFailed {
  std::string reference{};
  std::string kind;   // core::ErrorKind's name
  std::string error;  // one line, as core::Error::what()
};

// An image's timeline once its request ended, ok or failed; emitted by the
// engine (engine/timeline.hpp records it). Times are seconds since the
// command started; a phase not reached is absent.
struct ImageTimes {
  using Marks = std::vector<std::pair<std::string_view, double>>;  // phase: when (static names)
  struct Layer {
    Digest digest;
    Marks at;
    Marks waited;  // what the layer waited for: seconds
  };
  std::string reference{};
  double submitted = 0;
  Marks at;
  std::vector<Layer> layers;  // bottom first; at most a manifest's layers
};

// `gantry run`: the container's process was started (its execve succeeded).
struct Launched {
  std::string reference{};
  int pid = 0;                 // the process, as the host's PID namespace sees it
  double mount_seconds = 0;    // preparing the rootfs (overlay mount, /etc files) before the clone
  double exec_seconds = 0;     // from the clone to the successful execve; the event's `t` is its end
  double monotonic_origin = 0;  // CLOCK_MONOTONIC seconds at t = 0, to place the events on another process's clock
};

// `gantry run`: the container's process ended; what gantry itself used
// (its own threads, never the container's).
struct Exited {
  std::string reference{};
  int status = 0;  // gantry run's exit status: the process's, 128+N for signal N
  double user_seconds = 0;
  double sys_seconds = 0;
  std::int64_t max_rss_bytes = 0;
};

using Event = std::variant<Resolved, BlobStarted, BlobProgress, BlobDone, Retry, Done, ImageFailed, ImageTimes,
                           Launched, Exited>;

// The event's name as `--json` spells it in its "event" field.
[[nodiscard]] inline std::string_view name(const Event& event) {
  struct Names {
    std::string_view operator()(const Resolved&) const { return "resolved"; }
    std::string_view operator()(const BlobStarted&) const { return "blob_started"; }
    std::string_view operator()(const BlobProgress&) const { return "blob_progress"; }
    std::string_view operator()(const BlobDone&) const { return "blob_done"; }
    std::string_view operator()(const Retry&) const { return "retry"; }
    std::string_view operator()(const Done&) const { return "done"; }
    std::string_view operator()(const ImageFailed&) const { return "image_failed"; }
    std::string_view operator()(const ImageTimes&) const { return "timeline"; }
    std::string_view operator()(const Launched&) const { return "launched"; }
    std::string_view operator()(const Exited&) const { return "exited"; }
  };
  return std::visit(Names{}, event);
}

// Receives events on the client's I/O thread, in order: keep it quick and do
// not throw (an exception from a sink aborts the pull).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(const Event& event) = 0;
};

// Where and when an event happened, as the engine stamps it.
struct Stamp {
  double t = 0;        // seconds since the command started (monotonic clock)
  std::string image;   // the reference the event belongs to; empty if none
  std::optional<Digest> layer{};  // the image's layer it is about, if any
};

// What the command's renderer receives: every event once stamped, from
// one thread at a time (the stamper serialises them), in order.
class StampedSink {
 public:
  virtual ~StampedSink() = default;
  virtual void on_event(const Stamp& stamp, const Event& event) = 0;
};

}  // namespace gantry::core::progress
