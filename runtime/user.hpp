#pragma once
// Who the container's process runs as: a Docker-style user spec resolved
// against the image's own /etc/passwd and /etc/group, by the rules of runc's
// libcontainer/user GetExecUser (which Docker and containerd use too).
//
//   ""             root (uid 0, gid 0)
//   NAME | UID     the passwd entry; an unknown UID is used as is, with gid 0
//   USER:GROUP     GROUP by name or GID from /etc/group (an unknown GID is used as is)
//
// Supplementary groups are the groups that list the user by name, and only
// when no group was given (as runc does).

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace gantry::runtime {

struct ExecUser {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::vector<std::uint32_t> additional_gids{};
  std::string home = "/";
};

// `passwd` and `group` are the files' contents (empty when absent).
// Error(bad_input) "unable to find user NAME: no matching entries in passwd
// file" (Docker's words), the same for a group, and for an id outside
// 0..2147483647.
[[nodiscard]] ExecUser resolve_user(std::string_view spec, std::string_view passwd, std::string_view group);

// The same against the files of `rootfs`, read with every path resolved
// inside it (an image's /etc/passwd may be a symlink to anywhere).
[[nodiscard]] ExecUser resolve_user_in(const std::filesystem::path& rootfs, std::string_view spec);

}  // namespace gantry::runtime
