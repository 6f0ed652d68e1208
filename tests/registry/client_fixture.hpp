#pragma once
// What the registry client tests share: sinks that keep blobs in memory
// (and can play a slow consumer), an event recorder, blob helpers, and a
// registry handler skeleton for ScriptedServer.

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/media_types.hpp"
#include "core/progress.hpp"
#include "registry/blob_sink.hpp"
#include "registry/options.hpp"
#include "scripted_server.hpp"

namespace gantry::registry::testing {

inline std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937_64 random(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(random());
  return out;
}

inline core::Descriptor layer_of(const std::string& bytes) {
  return core::Descriptor{.media_type = std::string(core::media_type::kOciLayerGzip),
                          .digest = core::digest_of(bytes),
                          .size = static_cast<std::int64_t>(bytes.size())};
}

// Plain HTTP to loopback, near-zero backoff so retries cost no test time.
inline Options test_options() {
  Options options;
  options.plain_http_all = true;
  options.backoff_base = std::chrono::milliseconds(1);
  options.backoff_max = std::chrono::milliseconds(4);
  options.max_attempts = 3;
  options.stall_timeout = std::chrono::seconds(10);
  options.connect_timeout = std::chrono::seconds(10);
  return options;
}

// Answers GET /v2/ with 200 and hands every other request to `answer`,
// which returns whether to keep the connection open.
inline ScriptedServer::Handler registry_handler(std::function<bool(const HttpRequest&, Exchange&)> answer) {
  return [answer = std::move(answer)](Exchange& exchange, ScriptedServer& server) {
    while (std::optional<HttpRequest> request = server.next(exchange)) {
      if (request->target == "/v2/") {
        if (!exchange.send(http_response(200, {{"Content-Type", "application/json"}}, "{}"))) return;
        continue;
      }
      if (!answer(*request, exchange)) return;
    }
  };
}

// Serves `blobs` by digest at /v2/<repo>/blobs/<digest>, honouring Range
// like the distribution registry (206 + Content-Range).
inline bool serve_blob(const HttpRequest& request, Exchange& exchange, const std::map<std::string, std::string>& blobs) {
  std::string digest = request.target.substr(request.target.rfind('/') + 1);
  auto it = blobs.find(digest);
  if (it == blobs.end()) {
    return exchange.send(http_response(404, {}, R"({"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]})"));
  }
  const std::string& bytes = it->second;
  std::string range = request.header("range");
  if (range.starts_with("bytes=")) {
    std::size_t from = std::stoul(range.substr(6));
    std::string content_range =
        "bytes " + std::to_string(from) + "-" + std::to_string(bytes.size() - 1) + "/" + std::to_string(bytes.size());
    return exchange.send(http_response(206, {{"Content-Range", content_range}}, bytes.substr(from)));
  }
  return exchange.send(http_response(200, {{"Docker-Content-Digest", digest}}, bytes));
}

// What the sinks of one blob held, seen by the test after the fetch.
struct SinkRecord {
  std::mutex mutex;
  std::string bytes;
  bool finished = false;
  int restarts = 0;
  int pauses = 0;
};

// Keeps blobs in memory; finish() checks the digest as a real sink must.
// With `slow`, every other write answers pause and a helper thread wakes the
// fetcher a moment later: a consumer that cannot keep up.
class MemorySinkFactory final : public BlobSinkFactory {
 public:
  explicit MemorySinkFactory(bool slow = false) : slow_(slow) {}
  ~MemorySinkFactory() override {
    for (std::thread& t : wakers_) t.join();
  }

  // Starts `digest` with bytes already held (an earlier run's partial).
  void preload(const core::Digest& digest, std::string bytes) { record(digest)->bytes = std::move(bytes); }
  std::shared_ptr<SinkRecord> record(const core::Digest& digest) {
    std::lock_guard lock(mutex_);
    auto& slot = records_[digest.string()];
    if (!slot) slot = std::make_shared<SinkRecord>();
    return slot;
  }
  // The next `count` opens answer busy (another process holds the blob).
  void busy_for(int count) { busy_ = count; }
  [[nodiscard]] int opens() const { return opens_; }

  Opened open(const core::Descriptor& blob) override {
    ++opens_;
    if (busy_ > 0) {
      --busy_;
      return {State::busy, nullptr};
    }
    std::shared_ptr<SinkRecord> held = record(blob.digest);
    if (held->finished) return {State::present, nullptr};
    return {State::ready, std::make_unique<Sink>(*this, held, blob.digest)};
  }

 private:
  class Sink final : public BlobSink {
   public:
    Sink(MemorySinkFactory& owner, std::shared_ptr<SinkRecord> held, core::Digest digest)
        : owner_(owner), held_(std::move(held)), digest_(std::move(digest)) {}
    [[nodiscard]] std::int64_t offset() const override { return static_cast<std::int64_t>(held_->bytes.size()); }
    SinkFlow write(std::span<const std::byte> bytes) override {
      held_->bytes.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      if (owner_.slow_ && (++writes_ % 2) == 0) {
        ++held_->pauses;
        return SinkFlow::pause;
      }
      return SinkFlow::more;
    }
    void on_ready(std::function<void()> wake) override {
      std::lock_guard lock(owner_.mutex_);
      owner_.wakers_.emplace_back([wake = std::move(wake)] {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        wake();
      });
    }
    void restart() override {
      held_->bytes.clear();
      ++held_->restarts;
    }
    void finish() override {
      core::Digest got = core::digest_of(held_->bytes, digest_.algorithm());
      if (got != digest_) {
        held_->bytes.clear();
        throw core::Error(core::ErrorKind::digest_mismatch, "digest mismatch: got " + got.string());
      }
      held_->finished = true;
    }

   private:
    MemorySinkFactory& owner_;
    std::shared_ptr<SinkRecord> held_;
    core::Digest digest_;
    int writes_ = 0;
  };

  bool slow_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<SinkRecord>> records_;
  std::vector<std::thread> wakers_;
  std::atomic<int> busy_{0};
  std::atomic<int> opens_{0};
};

struct EventLog final : core::progress::EventSink {
  void on_event(const core::progress::Event& event) override { events.push_back(event); }
  template <class T>
  [[nodiscard]] std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& e : events) {
      if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
    }
    return out;
  }
  std::vector<core::progress::Event> events;
};

}  // namespace gantry::registry::testing
