#include "tools/gantry/common_options.hpp"

#include <array>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "core/error.hpp"
#include "core/store.hpp"
#include "tools/gantry/registry_config.hpp"

namespace gantry::tools {

using core::Error;
using core::ErrorKind;

namespace {

constexpr std::array kCommon = {
    OptionSpec{.name = "config", .value_name = "DIR", .help = "configuration: DIR/certs.d/HOST/hosts.toml (containerd's layout), DIR/gantry.toml; flags override it (default $GANTRY_CONFIG, else /etc/gantry if present)"},
    kStoreOption,
    OptionSpec{.name = "platform", .value_name = "OS/ARCH[/VAR]", .help = "platform to pick from an index (default: this host)"},
    OptionSpec{.name = "plain-http", .value_name = "", .help = "talk plain HTTP to every registry (no TLS)"},
    OptionSpec{.name = "plain-http-host", .value_name = "HOST[:PORT]", .help = "talk plain HTTP to this registry only", .repeatable = true},
    OptionSpec{.name = "ca-file", .value_name = "FILE", .help = "PEM CAs trusted in addition to the system's"},
    OptionSpec{.name = "auth-file", .value_name = "FILE", .help = "docker config.json with credentials, the only one read (default: containers-auth.json(5) order, $REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, $DOCKER_CONFIG/config.json or ~/.docker/config.json, ~/.dockercfg)"},
    OptionSpec{.name = "mirror", .value_name = "[REG=]HOST", .help = "pull-through mirror HOST[:PORT] of registry REG only (default docker.io), tried before it; several keep their order", .repeatable = true},
    OptionSpec{.name = "jobs", .value_name = "N", .help = "blob downloads at once (default 4)"},
    OptionSpec{.name = "jobs-per-host", .value_name = "N", .help = "of those, at most N from one registry or mirror (default: no limit)"},
    OptionSpec{.name = "max-rate", .value_name = "RATE", .help = "bytes per second over all downloads, e.g. 500K, 50M (default: no limit)"},
    OptionSpec{.name = "stall-timeout", .value_name = "SECONDS", .help = "retry a download that received nothing for this long (default 30)"},
    OptionSpec{.name = "json", .value_name = "", .help = "one JSON event per line on stdout"},
    kQuietOption,
};

std::string readable_file(const std::string& flag, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(ErrorKind::bad_input, "--" + flag + ": no such file", core::ErrorContext{.path = path});
  }
  return path;
}

int job_count(const std::string& flag, const std::string& text) {
  int count = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (ec != std::errc() || end != text.data() + text.size() || count < 1 || count > registry::kMaxJobs) {
    throw Error(ErrorKind::bad_input, "--" + flag + ": expected a number from 1 to " +
                                          std::to_string(registry::kMaxJobs) + ", got \"" + text + "\"");
  }
  return count;
}

}  // namespace

std::span<const OptionSpec> common_options() { return kCommon; }

std::filesystem::path store_root(const ParsedArgs& args) {
  if (auto dir = args.value("store")) return *dir;
  return core::ContentStore::default_root();
}

std::optional<core::ContentStore> existing_store(const ParsedArgs& args, core::StoreLease lease) {
  const std::filesystem::path root = store_root(args);
  std::error_code ec;
  if (!std::filesystem::exists(root / "index.json", ec)) return std::nullopt;
  return core::ContentStore(root, lease);
}

registry::Options registry_options(const ParsedArgs& args) {
  registry::Options options = configured_registry_options(args);
  if (auto p = args.value("platform")) options.platform = core::Platform::parse(*p);
  options.plain_http_all = args.flag("plain-http");
  for (const std::string& host : args.values("plain-http-host")) options.plain_http_hosts.insert(host);
  if (auto f = args.value("ca-file")) options.ca_file = readable_file("ca-file", *f);
  if (auto f = args.value("auth-file")) options.auth_file = readable_file("auth-file", *f);
  for (const std::string& mirror : args.values("mirror")) options.mirrors.push_back(registry::parse_mirror(mirror));
  if (auto j = args.value("jobs")) options.jobs = job_count("jobs", *j);
  if (auto j = args.value("jobs-per-host")) options.jobs_per_host = job_count("jobs-per-host", *j);
  if (auto r = args.value("max-rate")) options.max_rate = parse_size("max-rate", *r);
  if (auto t = args.value("stall-timeout")) {
    char* end = nullptr;
    double seconds = std::strtod(t->c_str(), &end);
    double most = static_cast<double>(registry::kMaxStallTimeout.count());
    if (t->empty() || *end != '\0' || !(seconds > 0 && seconds <= most)) {
      throw Error(ErrorKind::bad_input, "--stall-timeout: expected seconds from 0 to " +
                                            std::to_string(registry::kMaxStallTimeout.count()) + ", got \"" + *t +
                                            "\"");
    }
    options.stall_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  }
  return options;
}

std::int64_t parse_size(std::string_view flag, const std::string& text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  int shift = unit.empty() ? 0 : unit == "K" ? 10 : unit == "M" ? 20 : unit == "G" ? 30 : unit == "T" ? 40 : -1;
  if (ec != std::errc() || value <= 0 || shift < 0 || value > (std::int64_t{1} << (62 - shift))) {
    throw Error(ErrorKind::bad_input,
                "--" + std::string(flag) + ": expected a size such as 512M or 20G, got \"" + text + "\"");
  }
  return value << shift;
}

engine::PullPolicy pull_policy(const ParsedArgs& args, engine::PullPolicy fallback) {
  const std::optional<std::string> policy = args.value("pull");
  if (!policy) return fallback;
  if (*policy == "missing") return engine::PullPolicy::missing;
  if (*policy == "always") return engine::PullPolicy::always;
  if (*policy == "never") return engine::PullPolicy::never;
  throw Error(ErrorKind::bad_input, "--pull: want missing, always or never, not \"" + *policy + "\"");
}

std::vector<core::Reference> references(const ParsedArgs& args, std::size_t min, std::string_view command) {
  if (args.positionals().size() < min) {
    throw Error(ErrorKind::bad_input,
                "gantry " + std::string(command) + ": missing image reference (see 'gantry " + std::string(command) +
                    " --help')");
  }
  std::vector<core::Reference> refs;
  refs.reserve(args.positionals().size());
  for (const std::string& text : args.positionals()) refs.push_back(core::Reference::parse(text));
  return refs;
}

void refuse_positionals(const ParsedArgs& args, std::string_view command) {
  if (args.positionals().empty()) return;
  const std::string name(command);
  throw core::Error(core::ErrorKind::bad_input, "gantry " + name + ": takes no arguments (see 'gantry " + name + " --help')");
}

}  // namespace gantry::tools
