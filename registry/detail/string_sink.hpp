#pragma once
// A small blob kept in memory rather than in a store: the config of an
// image resolved without one (inspect), fetched like any blob so that it
// gets the fetcher's retries, size checks and mirror fallback.

#include <string>

#include "registry/blob_sink.hpp"

namespace gantry::registry::detail {

// Every sink it opens writes into `out` (emptied first); finish() checks the
// digest, and empties `out` again on a mismatch.
class StringSinkFactory final : public BlobSinkFactory {
 public:
  explicit StringSinkFactory(std::string& out) : out_(out) {}
  [[nodiscard]] Opened open(const core::Descriptor& blob) override;

 private:
  std::string& out_;
};

}  // namespace gantry::registry::detail
