#pragma once
// From a reference to one image: the manifest (through an index for the
// platform) and the config, each checked against its digest, its size and
// the limits of core/manifest.hpp. Documents already in a store are read
// from it: a digest needs no request at all, a tag only a HEAD.

#include "core/store.hpp"
#include "registry/client.hpp"
#include "registry/detail/session.hpp"

namespace gantry::registry::detail {

class Resolver {
 public:
  explicit Resolver(Session& session) : session_(session) {}

  // `store` may be null (inspect: everything from the registry).
  asio::awaitable<ResolvedImage> resolve(const core::Reference& reference, const core::ContentStore* store);

 private:
  struct Document {
    std::string bytes;
    std::string media_type;
    core::Digest digest;
  };

  // What `reference` names, or the index entry `entry` when given.
  asio::awaitable<Document> manifest(const core::Reference& reference, const core::Descriptor* entry,
                                     const core::ContentStore* store);
  asio::awaitable<std::string> config(const core::Reference& reference, const core::Descriptor& descriptor,
                                      const core::ContentStore* store);

  Session& session_;
};

}  // namespace gantry::registry::detail
