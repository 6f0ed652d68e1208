#pragma once
// The container's hostname, checked before it reaches sethostname(2),
// /etc/hostname, /etc/hosts, $HOSTNAME or a bundle's config.json: a name
// with a newline would add lines to /etc/hosts.

#include <cstddef>
#include <string_view>

namespace gantry::runtime {

// The longest hostname the kernel keeps (HOST_NAME_MAX, a UTS nodename).
inline constexpr std::size_t kMaxHostnameLength = 64;

// Error(bad_input) unless `name` is an RFC 1123 host name (section 2.1):
// dot-separated labels of 1 to 63 letters, digits and hyphens, none
// starting or ending with a hyphen, kMaxHostnameLength characters at most.
// Docker's CLI accepted exactly these (its `invalid hostname format`).
void check_hostname(std::string_view name);

}  // namespace gantry::runtime
