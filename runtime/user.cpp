#include "runtime/user.hpp"

#include <charconv>
#include <optional>

#include "core/error.hpp"
#include "runtime/detail/rootfs_file.hpp"

namespace gantry::runtime {

namespace {

using core::Error;
using core::ErrorKind;

// passwd(5) and group(5) files are small; a bigger one is not a real one.
constexpr std::size_t kMaxDatabaseSize = 16 << 20;

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    auto at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

constexpr std::uint64_t kMaxId = 2147483647;  // runc refuses ids beyond int32

// An id in a file of the image; nullopt for anything else (runc skips such lines).
std::optional<std::uint32_t> field_id(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > kMaxId) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

// The user or group part of a spec as an id: nullopt when it is a name.
std::optional<std::uint32_t> spec_id(std::string_view text, std::string_view what) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  auto id = field_id(text);
  if (!id) {
    throw Error(ErrorKind::bad_input, std::string(what) + " id " + std::string(text) + " is out of range 0-2147483647");
  }
  return id;
}

// The entries of a colon-separated database, comments and blank lines skipped.
template <class Visit>
void each_entry(std::string_view file, std::size_t min_fields, Visit visit) {
  for (std::string_view line : split(file, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto fields = split(line, ':');
    if (fields.size() < min_fields) continue;
    if (!visit(fields)) return;
  }
}

}  // namespace

ExecUser resolve_user(std::string_view spec, std::string_view passwd, std::string_view group) {
  const auto colon = spec.find(':');
  const std::string_view user_arg = spec.substr(0, colon);
  const std::string_view group_arg = colon == std::string_view::npos ? std::string_view{} : spec.substr(colon + 1);
  if (colon != std::string_view::npos && group_arg.empty()) {
    throw Error(ErrorKind::bad_input, "invalid user \"" + std::string(spec) + "\": empty group");
  }

  ExecUser user;
  std::string name;
  const std::optional<std::uint32_t> wanted_uid = user_arg.empty() ? std::optional<std::uint32_t>(0)
                                                                    : spec_id(user_arg, "user");
  bool found = false;
  // name:password:uid:gid:gecos:home:shell
  each_entry(passwd, 4, [&](const std::vector<std::string_view>& f) {
    auto uid = field_id(f[2]);
    auto gid = field_id(f[3]);
    if (!uid || !gid) return true;
    const bool match = user_arg.empty() ? *uid == 0 : (f[0] == user_arg || (wanted_uid && *uid == *wanted_uid));
    if (!match) return true;
    user.uid = *uid;
    user.gid = *gid;
    if (f.size() > 5 && !f[5].empty()) user.home = std::string(f[5]);
    name = std::string(f[0]);
    found = true;
    return false;
  });
  if (!found) {
    if (!wanted_uid) {
      throw Error(ErrorKind::bad_input,
                  "unable to find user " + std::string(user_arg) + ": no matching entries in passwd file");
    }
    user.uid = *wanted_uid;
  }

  if (!group_arg.empty()) {
    const std::optional<std::uint32_t> wanted_gid = spec_id(group_arg, "group");
    bool group_found = false;
    // name:password:gid:member,member
    each_entry(group, 3, [&](const std::vector<std::string_view>& f) {
      auto gid = field_id(f[2]);
      if (!gid || !(f[0] == group_arg || (wanted_gid && *gid == *wanted_gid))) return true;
      user.gid = *gid;
      group_found = true;
      return false;
    });
    if (!group_found) {
      if (!wanted_gid) {
        throw Error(ErrorKind::bad_input,
                    "unable to find group " + std::string(group_arg) + ": no matching entries in group file");
      }
      user.gid = *wanted_gid;
    }
  } else if (!name.empty()) {
    each_entry(group, 3, [&](const std::vector<std::string_view>& f) {
      auto gid = field_id(f[2]);
      if (!gid || f.size() < 4) return true;
      for (std::string_view member : split(f[3], ',')) {
        if (member == name) {
          user.additional_gids.push_back(*gid);
          break;
        }
      }
      return true;
    });
  }
  return user;
}

ExecUser resolve_user_in(const std::filesystem::path& rootfs, std::string_view spec) {
  const std::string passwd = detail::read_rootfs_file(rootfs, "etc/passwd", kMaxDatabaseSize).value_or("");
  const std::string group = detail::read_rootfs_file(rootfs, "etc/group", kMaxDatabaseSize).value_or("");
  return resolve_user(spec, passwd, group);
}

}  // namespace gantry::runtime
