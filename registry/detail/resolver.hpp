#pragma once
// From a reference to one image: the manifest (through an index for the
// platform) and the config, each checked against its digest, its size and
// the limits of core/manifest.hpp. Documents already in a store are read
// from it: a digest needs no request at all, a tag only a HEAD. The config
// is a blob like a layer: with a store it is fetched into it by the
// fetcher, once per digest however many pulls (or processes) want it.
// Errors name the registry, the repository and the document's digest.

#include <chrono>
#include <optional>
#include <vector>

#include "core/store.hpp"
#include "registry/client.hpp"
#include "registry/detail/fetcher.hpp"
#include "registry/detail/session.hpp"

namespace gantry::registry::detail {

class Resolver {
 public:
  Resolver(Session& session, Fetcher& fetcher) : session_(session), fetcher_(fetcher) {}

  // `store` may be null (inspect: everything from the registry, nothing kept).
  // `platform`: the one to pick from an index, else the options' (else the host's).
  asio::awaitable<ResolvedImage> resolve(const core::Reference& reference, core::ContentStore* store,
                                         std::optional<core::Platform> platform = std::nullopt);
  // The platforms of the images the index `reference` names offers, in its
  // order, each once; empty when it names one image manifest.
  asio::awaitable<std::vector<core::Platform>> platforms(const core::Reference& reference,
                                                         const core::ContentStore* store);

 private:
  struct Document {
    std::string bytes;
    std::string media_type;
    core::Digest digest;
  };

  // What `reference` names, or the index entry `entry` when given;
  // `authorized` as Session::request's.
  asio::awaitable<Document> manifest(const core::Reference& reference, const core::Descriptor* entry,
                                     const core::ContentStore* store,
                                     std::optional<std::chrono::steady_clock::time_point>* authorized = nullptr);
  asio::awaitable<std::string> config(const core::Reference& reference, const core::Descriptor& descriptor,
                                      core::ContentStore* store);

  Session& session_;
  Fetcher& fetcher_;
};

}  // namespace gantry::registry::detail
