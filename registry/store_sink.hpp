#pragma once
// Blob sinks that write into the content store: bytes go through a
// core::BlobWriter (partial file + running hash), resume where an earlier
// run stopped, and become a blob only after the digest matched.

#include "core/store.hpp"
#include "registry/blob_sink.hpp"

namespace gantry::registry {

class StoreSinkFactory final : public BlobSinkFactory {
 public:
  explicit StoreSinkFactory(core::ContentStore& store) : store_(store) {}
  // present when the store has the blob, busy while another process holds
  // its lock, else a sink resuming from the partial file (which the store
  // re-hashes first: see BlobSinkFactory::open for where that runs).
  [[nodiscard]] Opened open(const core::Descriptor& blob) override;

 private:
  core::ContentStore& store_;
};

}  // namespace gantry::registry
