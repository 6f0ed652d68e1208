#pragma once
// Reads a layer's (already decoded) tar stream with libarchive and hands each
// entry to the applier. libarchive only pulls, so the reader runs on its own
// thread and pulls decoded bytes from a source; decoding happens outside it
// (its own gzip filter runs at zlib speed).

#include <functional>
#include <span>
#include <string>

#include "unpack/tar_entry.hpp"

namespace gantry::unpack {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // The next bytes of the stream; an empty span at its end. May throw: the
  // reader rethrows the source's error rather than libarchive's.
  virtual std::span<const std::byte> read() = 0;
};

// Receives each entry with its data (the Applier, in the pipeline).
using EntryHandler = std::function<void(const TarEntry& entry, EntryData& data)>;

// Hands every entry of the tar read from `source` to `on_entry`, until the
// end-of-archive marker (or the end of the stream). Bytes after the marker
// are left in the source for the caller to drain. `layer` names the layer in
// errors. Error(bad_input) for a malformed or truncated tar; the handler's
// errors pass through.
void read_tar(ByteSource& source, const EntryHandler& on_entry, const std::string& layer);

}  // namespace gantry::unpack
