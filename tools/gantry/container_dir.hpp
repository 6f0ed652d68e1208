#pragma once
// Where `gantry run` keeps a container: STORE/containers/<id>.running-<pid>/
// while it runs (the upper and work dirs, or the flattened copy). Removed
// when it exits, or, with --keep, renamed to STORE/containers/<id>/ (naming
// its image for gc). <id> is random, or the --name given, which no other
// container, running or kept, may have. Those a killed gantry left are
// removed by the next run (their overlay mount detached first, if the kill
// came between mount and exec).

#include <filesystem>
#include <optional>
#include <string>

#include "core/digest.hpp"
#include "core/store.hpp"

namespace gantry::tools {

// --name as docker takes it: [a-zA-Z0-9][a-zA-Z0-9_.-]+, and never one that
// reads as a running container's directory (".running-"). Error(bad_input).
void check_container_name(const std::string& name);

class ContainerDir {
 public:
  // `image`: the digest its reference records, which keeps a kept container
  // from gc as long as the reference does. Error(bad_input) when `name` is
  // a kept container's or a running one's.
  ContainerDir(const core::ContentStore& store, bool keep, const core::Digest& image,
               const std::optional<std::string>& name);
  ~ContainerDir();
  ContainerDir(const ContainerDir&) = delete;
  ContainerDir& operator=(const ContainerDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::string id_;
  bool keep_;
};

}  // namespace gantry::tools
