// A layer's tar stream through the tar reader into the secure applier
// (unpack/tar_reader, unpack/applier), in both modes, each into a fresh
// root inside a fresh private directory (mode 0700: device nodes an input
// makes are reachable by no other user while they exist), removed after.
// The applier confines every entry to its root: anything appearing beside
// the root (an entry that climbed out through "..", a symlink or a
// hardlink) is a finding, and so is a tree gantry cannot remove again.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "core/file_tree.hpp"
#include "fuzz_input.hpp"
#include "unpack/applier.hpp"
#include "unpack/tar_reader.hpp"

using namespace gantry;
namespace fs = std::filesystem;

namespace {

// The input in reads of 4 KiB, as the decoder hands a tar on.
class InputSource final : public unpack::ByteSource {
 public:
  explicit InputSource(std::span<const std::byte> input) : input_(input) {}
  std::span<const std::byte> read() override {
    const auto piece = input_.subspan(pos_, std::min<std::size_t>(4096, input_.size() - pos_));
    pos_ += piece.size();
    return piece;
  }

 private:
  std::span<const std::byte> input_;
  std::size_t pos_ = 0;
};

void apply(std::span<const std::byte> input, const fs::path& root, unpack::ApplyMode mode) {
  fs::create_directory(root);
  fuzz::expect_only_gantry_errors([&] {
    unpack::Applier applier(root, unpack::ApplyOptions{.mode = mode});
    InputSource source(input);
    unpack::read_tar(
        source, [&](const unpack::TarEntry& entry, unpack::EntryData& data) { applier.apply(entry, data); },
        "fuzz");
    applier.finish();
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = fuzz::bytes(data, size);
  std::string base_name = (fs::temp_directory_path() / "gantry-fuzz-XXXXXX").string();
  fuzz::require(::mkdtemp(base_name.data()) != nullptr, "mkdtemp");
  const fs::path base = base_name;
  apply(input, base / "flat", unpack::ApplyMode::flatten);
  apply(input, base / "snap", unpack::ApplyMode::snapshot);
  const auto beside = std::count_if(fs::directory_iterator(base), fs::directory_iterator(), [](const fs::directory_entry& e) {
    return e.path().filename() != "flat" && e.path().filename() != "snap";
  });
  fuzz::require(beside == 0, "nothing is written beside the root");
  core::remove_tree(base);  // throws (a crash here) when something stays
  return 0;
}
