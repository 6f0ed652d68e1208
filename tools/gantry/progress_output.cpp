#include "tools/gantry/progress_output.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.hpp"

namespace gantry::tools {

namespace progress = core::progress;

std::string human_bytes(std::int64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char out[32];
  std::snprintf(out, sizeof out, unit == 0 ? "%.0f %s" : "%.1f %s", value, kUnits[unit]);
  return out;
}

std::string short_digest(const core::Digest& d) { return d.string().substr(0, 7 + 12); }

namespace {

// --json: one object per event (docs/events.md), "event" first, then the
// stamp, on stdout, flushed per line so a consumer sees events as they happen.
class JsonLines final : public progress::StampedSink {
 public:
  // `out`: stdout or stderr, never closed.
  explicit JsonLines(std::FILE* out) : out_(out) {}
  // A file of its own, closed with it.
  explicit JsonLines(const std::string& path) : file_(std::fopen(path.c_str(), "we")), out_(file_.get()) {
    if (!file_) throw core::errno_error(errno, "cannot open the --json-file", path);
  }

  void on_event(const progress::Stamp& stamp, const progress::Event& event) override {
    nlohmann::ordered_json j;
    j["event"] = progress::name(event);
    j["v"] = progress::kEventsVersion;
    j["t"] = stamp.t;
    j["image"] = stamp.image.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(stamp.image);
    if (stamp.layer) j["layer"] = stamp.layer->string();
    std::visit([&](const auto& e) { fill(j, e); }, event);
    std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
  }

 private:
  struct Close {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::unique_ptr<std::FILE, Close> file_;
  std::FILE* out_;

  static void fill(nlohmann::ordered_json& j, const progress::Resolved& e) {
    j["reference"] = e.reference;
    j["digest"] = e.manifest_digest.string();
    if (e.index_digest) j["index_digest"] = e.index_digest->string();
    j["media_type"] = e.media_type;
    j["platform"] = e.platform.string();
    j["layers"] = e.layers;
    j["total_bytes"] = e.total_bytes;
  }
  static void fill(nlohmann::ordered_json& j, const progress::BlobStarted& e) {
    j["digest"] = e.digest.string();
    j["size"] = e.size;
    j["resumed_from"] = e.resumed_from;
  }
  static void fill(nlohmann::ordered_json& j, const progress::BlobProgress& e) {
    j["digest"] = e.digest.string();
    j["bytes"] = e.bytes;
    j["size"] = e.size;
  }
  static void fill(nlohmann::ordered_json& j, const progress::BlobDone& e) {
    j["digest"] = e.digest.string();
    j["fetched"] = e.fetched;
    j["cached"] = e.cached;
  }
  static void fill(nlohmann::ordered_json& j, const progress::Retry& e) {
    j["what"] = e.what;
    j["attempt"] = e.attempt;
    j["delay_ms"] = e.delay.count();
    j["reason"] = e.reason;
  }
  static void fill(nlohmann::ordered_json& j, const progress::ImageFailed& e) {
    j["kind"] = e.kind;
    j["error"] = e.error;
  }
  static nlohmann::ordered_json marks(const progress::ImageTimes::Marks& marks) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (const auto& [name, seconds] : marks) j[std::string(name)] = seconds;
    return j;
  }
  static void fill(nlohmann::ordered_json& j, const progress::ImageTimes& e) {
    j["submitted"] = e.submitted;
    j["at"] = marks(e.at);
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const auto& layer : e.layers) {
      layers.push_back({{"digest", layer.digest.string()}, {"at", marks(layer.at)}, {"waited", marks(layer.waited)}});
    }
    j["layers"] = std::move(layers);
  }
  static void fill(nlohmann::ordered_json& j, const progress::Launched& e) {
    j["pid"] = e.pid;
    j["mount_seconds"] = e.mount_seconds;
    j["exec_seconds"] = e.exec_seconds;
    j["monotonic_origin"] = e.monotonic_origin;
  }
  static void fill(nlohmann::ordered_json& j, const progress::Exited& e) {
    j["status"] = e.status;
    j["user_seconds"] = e.user_seconds;
    j["sys_seconds"] = e.sys_seconds;
    j["max_rss_bytes"] = e.max_rss_bytes;
  }
  static void fill(nlohmann::ordered_json& j, const progress::Done& e) {
    j["bytes_fetched"] = e.bytes_fetched;
    j["blobs_fetched"] = e.blobs_fetched;
    j["blobs_cached"] = e.blobs_cached;
    j["seconds"] = e.seconds;
  }
};

// Not a terminal: one line per step worth knowing, nothing redrawn.
class PlainLog final : public progress::StampedSink {
 public:
  void on_event(const progress::Stamp& stamp, const progress::Event& event) override {
    if (const auto* r = std::get_if<progress::Resolved>(&event)) {
      const std::string of_index = r->index_digest ? " of index " + r->index_digest->string() : "";
      std::fprintf(stderr, "resolved %s -> %s (%s%s, %zu layer%s, %s)\n", r->reference.c_str(),
                   r->manifest_digest.string().c_str(), r->platform.string().c_str(), of_index.c_str(), r->layers,
                   r->layers == 1 ? "" : "s", human_bytes(r->total_bytes).c_str());
    } else if (const auto* s = std::get_if<progress::BlobStarted>(&event); s && s->resumed_from > 0) {
      std::fprintf(stderr, "resuming %s at %s of %s\n", short_digest(s->digest).c_str(),
                   human_bytes(s->resumed_from).c_str(), human_bytes(s->size).c_str());
    } else if (const auto* d = std::get_if<progress::BlobDone>(&event)) {
      std::fprintf(stderr, "%s %s%s\n", d->cached ? "present " : "fetched ", short_digest(d->digest).c_str(),
                   d->cached ? "" : (" (" + human_bytes(d->fetched) + ")").c_str());
    } else if (const auto* t = std::get_if<progress::Retry>(&event)) {
      std::fprintf(stderr, "retry %d of %s in %lld ms: %s\n", t->attempt, t->what.c_str(),
                   static_cast<long long>(t->delay.count()), t->reason.c_str());
    } else if (const auto* failed = std::get_if<progress::ImageFailed>(&event)) {
      std::fprintf(stderr, "failed %s: %s\n", stamp.image.c_str(), failed->error.c_str());
    } else if (const auto* done = std::get_if<progress::Done>(&event)) {
      // With several images (prewarm, pull A B) each done line says whose.
      const std::string whose = stamp.image.empty() ? "" : " " + stamp.image;
      std::fprintf(stderr, "done%s: %s fetched, %zu blobs fetched, %zu present, %.2f s\n", whose.c_str(),
                   human_bytes(done->bytes_fetched).c_str(), done->blobs_fetched, done->blobs_cached, done->seconds);
    }
  }
};

// A terminal: one live line per blob in flight, redrawn at most 10 times a
// second; finished blobs and other events scroll above it.
class TerminalDisplay final : public progress::StampedSink {
 public:
  void on_event(const progress::Stamp& stamp, const progress::Event& event) override {
    auto now = std::chrono::steady_clock::now();
    if (const auto* p = std::get_if<progress::BlobProgress>(&event)) {
      auto& line = active_[p->digest.string()];
      line.bytes = p->bytes;
      line.size = p->size;
      if (now - last_draw_ < std::chrono::milliseconds(100)) return;
      clear();
    } else if (const auto* s = std::get_if<progress::BlobStarted>(&event)) {
      active_[s->digest.string()] = Line{s->resumed_from, s->size, now, s->resumed_from};
      clear();
    } else {
      clear();
      if (const auto* d = std::get_if<progress::BlobDone>(&event)) active_.erase(d->digest.string());
      log_.on_event(stamp, event);
    }
    draw(now);
  }

 private:
  struct Line {
    std::int64_t bytes = 0;
    std::int64_t size = 0;
    std::chrono::steady_clock::time_point started{};
    std::int64_t start_bytes = 0;
  };

  void clear() {
    for (std::size_t i = 0; i < drawn_; ++i) std::fputs("\x1b[1A\x1b[2K", stderr);
    drawn_ = 0;
  }

  void draw(std::chrono::steady_clock::time_point now) {
    for (const auto& [digest, line] : active_) {
      double secs = std::chrono::duration<double>(now - line.started).count();
      double rate = secs > 0 ? static_cast<double>(line.bytes - line.start_bytes) / secs : 0;
      int filled = line.size > 0 ? static_cast<int>(30 * line.bytes / line.size) : 0;
      std::string bar(static_cast<std::size_t>(filled), '=');
      bar.resize(30, ' ');
      std::fprintf(stderr, "%s [%s] %s / %s  %s/s\n", digest.substr(0, 19).c_str(), bar.c_str(),
                   human_bytes(line.bytes).c_str(), human_bytes(line.size).c_str(),
                   human_bytes(static_cast<std::int64_t>(rate)).c_str());
      ++drawn_;
    }
    std::fflush(stderr);
    last_draw_ = now;
  }

  std::map<std::string, Line> active_;
  std::size_t drawn_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
  PlainLog log_;
};

}  // namespace

std::unique_ptr<progress::StampedSink> make_progress_output(const ParsedArgs& args, JsonStream json) {
  if (auto path = args.value("json-file")) return std::make_unique<JsonLines>(*path);
  if (args.flag("json")) return std::make_unique<JsonLines>(json == JsonStream::stdout_stream ? stdout : stderr);
  if (args.flag("quiet")) return nullptr;
  if (::isatty(STDERR_FILENO)) return std::make_unique<TerminalDisplay>();
  return std::make_unique<PlainLog>();
}

}  // namespace gantry::tools
