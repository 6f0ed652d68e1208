#pragma once
// What `gantry bench` measured of one run of one tool on one image: the
// time to ready, the sequential phases that add up to it, and (for gantry)
// every layer's steps from the engine's timeline. Times are seconds since
// the run started (the bench spawned the first command of the tool).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gantry::tools::bench {

// One step of the critical path; a run's phases are in order, each starting
// where the one before ended, the first at 0 and the last ending at `ready`.
// gantry's: startup, resolve, layers, mount, exec, ready (the process until
// it was ready); ctr's: pull, run; skopeo-umoci-runc's: pull, unpack, run;
// podman's: run.
struct Phase {
  std::string name;
  double start = 0;
  double end = 0;
};

// A moment on the run's clock, for what is not a step of its own: the
// image's resolve, auth, manifest and config.
struct Mark {
  std::string name;
  double at = 0;
};

// One layer as the engine's timeline saw it (bottom first); a step it did
// not reach in this run (a layer the store had) is absent.
struct LayerSteps {
  std::string digest;  // "sha256:..."
  std::int64_t size = 0;  // compressed, as the manifest declares it
  std::optional<double> queued{}, first_byte{}, last_byte{}, verified{}, decoded{}, applied{}, committed{};
};

// What the tool's process (gantry's own, never the container's) used.
struct Usage {
  double user_seconds = 0;
  double sys_seconds = 0;
  std::int64_t max_rss_bytes = 0;
};

struct RunRecord {
  std::string tool;   // "gantry", "ctr", "podman", "skopeo-umoci-runc"
  bool warm = false;  // a second run on the same store
  int index = 0;      // 0-based: the run's number among the tool's cold (or warm) runs of this image
  double ready = 0;   // seconds from the start to ready
  std::vector<Phase> phases{};
  std::vector<Mark> marks{};
  std::vector<LayerSteps> layers{};  // gantry only
  std::optional<Usage> usage{};      // gantry only
  std::int64_t bytes_fetched = 0;  // gantry only: what crossed the network
};

}  // namespace gantry::tools::bench
