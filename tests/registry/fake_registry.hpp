#pragma once
// A registry of documents by request target and blobs by digest on a
// ScriptedServer, for the tests that pull whole images (the resolver's, the
// engine's), and a store in a temporary directory for them to pull into.

#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client_fixture.hpp"
#include "core/digest.hpp"
#include "core/media_types.hpp"
#include "core/reference.hpp"
#include "scripted_server.hpp"

namespace gantry::registry::testing {

// {"mediaType":..,"digest":..,"size":..} of `bytes`, plus `extra` fields
// (",\"platform\":{...}").
inline std::string descriptor_json(std::string_view type, const std::string& bytes, const std::string& extra = {}) {
  return R"({"mediaType":")" + std::string(type) + R"(","digest":")" + core::digest_of(bytes).string() +
         R"(","size":)" + std::to_string(bytes.size()) + extra + "}";
}

class FakeRegistry {
 public:
  // How a blob is sent: the bytes the registry holds for the requested digest.
  using BlobServer = std::function<bool(const HttpRequest&, Exchange&, const std::string& bytes)>;

  FakeRegistry()
      : server_(registry_handler([this](const HttpRequest& r, Exchange& ex) { return answer(r, ex); })) {}

  void document(const std::string& target, std::string content_type, std::string body,
                std::optional<std::string> docker_content_digest = std::nullopt) {
    std::lock_guard lock(mutex_);
    std::string dcd = docker_content_digest.value_or(core::digest_of(body).string());
    documents_[target] = {std::move(content_type), std::move(body), std::move(dcd)};
  }
  // An OCI image manifest under `tag` and under its digest, and its blobs.
  void image(const std::string& tag, const std::string& manifest, const std::vector<std::string>& blobs) {
    const std::string type(core::media_type::kOciManifest);
    document("/v2/app/manifests/" + tag, type, manifest);
    document("/v2/app/manifests/" + core::digest_of(manifest).string(), type, manifest);
    for (const std::string& bytes : blobs) blob(bytes);
  }
  void blob(const std::string& bytes) { blob_as(core::digest_of(bytes).string(), bytes); }
  // Any bytes under any digest: a registry serving corrupted content.
  void blob_as(const std::string& digest, const std::string& bytes) {
    std::lock_guard lock(mutex_);
    blobs_[digest] = bytes;
  }

  // Called before each answer, outside the registry's lock, so that a test
  // can hold an answer back. Set it before the first request.
  void before_answer(std::function<void(const HttpRequest&)> hook) { hook_ = std::move(hook); }
  // Sends blobs with `serve` instead of serve_blob (a slow registry), outside
  // the registry's lock. Set it before the first request.
  void serve_blobs_with(BlobServer serve) { blob_server_ = std::move(serve); }

  [[nodiscard]] std::string host() const { return server_.host(); }
  [[nodiscard]] const ScriptedServer& server() const { return server_; }
  [[nodiscard]] core::Reference ref(const std::string& tail) const { return core::Reference::parse(host() + "/app" + tail); }

 private:
  struct Document {
    std::string content_type, body, digest;
  };

  bool answer(const HttpRequest& request, Exchange& exchange) {
    if (hook_) hook_(request);
    if (request.target.starts_with("/v2/app/blobs/")) {
      // Sent outside the lock: a client that reads one blob slowly (its
      // consumer is full) must not hold up the others.
      std::map<std::string, std::string> blob;
      {
        std::lock_guard lock(mutex_);
        std::string digest = request.target.substr(request.target.rfind('/') + 1);
        if (auto it = blobs_.find(digest); it != blobs_.end()) blob.insert(*it);
      }
      if (blob_server_ && !blob.empty()) return blob_server_(request, exchange, blob.begin()->second);
      return serve_blob(request, exchange, blob);
    }
    std::lock_guard lock(mutex_);
    auto it = documents_.find(request.target);
    if (it == documents_.end()) {
      return exchange.send(
          http_response(404, {}, R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})"));
    }
    const Document& d = it->second;
    std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", d.content_type},
                                                             {"Docker-Content-Digest", d.digest}};
    if (request.method == "HEAD") {
      headers.emplace_back("Content-Length", std::to_string(d.body.size()));
      return exchange.send(http_response(200, headers, "", /*content_length=*/false));
    }
    return exchange.send(http_response(200, headers, d.body));
  }

  std::mutex mutex_;
  std::map<std::string, Document> documents_;
  std::map<std::string, std::string> blobs_;
  std::function<void(const HttpRequest&)> hook_;
  BlobServer blob_server_;
  ScriptedServer server_;
};

// A store's root in a new temporary directory, removed afterwards.
class TempStore {
 public:
  TempStore() {
    char pattern[] = "/tmp/gantry-store-test-XXXXXX";
    root_ = ::mkdtemp(pattern);
  }
  ~TempStore() { std::filesystem::remove_all(root_); }
  TempStore(const TempStore&) = delete;
  TempStore& operator=(const TempStore&) = delete;
  [[nodiscard]] const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

}  // namespace gantry::registry::testing
