// The one translation unit with toml++ in it: the configuration directory's
// hosts.toml and gantry.toml files into registry::Options.
#include "registry/hosts_config.hpp"

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "core/error.hpp"
#include "core/reference.hpp"
#include "registry/detail/url.hpp"

namespace gantry::registry {

namespace {

namespace fs = std::filesystem;
using detail::Url;

constexpr std::string_view kHostKeys = "server, ca, client, skip_verify, capabilities, override_path, [host.\"URL\"]";
constexpr std::string_view kDefaultsKeys = "jobs, jobs_per_host, max_rate, stall_timeout";

std::string type_name(const toml::node& node) {
  std::ostringstream out;
  out << node.type();
  return out.str();
}

// One configuration file being read: every error is one line naming the
// file and, where toml++ knows it, the line.
class File {
 public:
  explicit File(fs::path path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const toml::source_region& where, std::string_view what) const {
    std::string at = path_.string();
    if (where.begin.line != 0) at += ":" + std::to_string(where.begin.line);
    throw core::Error(core::ErrorKind::bad_input, at + ": " + std::string(what));
  }

  toml::table parse() const {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream text;
    if (in) text << in.rdbuf();
    if (!in || in.bad()) throw core::errno_error(errno, "cannot read the configuration file", path_.string());
    try {
      return toml::parse(text.str(), path_.string());
    } catch (const toml::parse_error& e) {
      fail(e.source(), "malformed TOML: " + std::string(e.description()));
    }
  }

  const std::string& string_of(const toml::node& node, std::string_view key) const {
    if (const auto* s = node.as_string()) return s->get();
    fail(node.source(), std::string(key) + ": expected a string, got " + type_name(node));
  }

  bool bool_of(const toml::node& node, std::string_view key) const {
    if (const auto* b = node.as_boolean()) return b->get();
    fail(node.source(), std::string(key) + ": expected true or false, got " + type_name(node));
  }

  std::int64_t integer_of(const toml::node& node, std::string_view key, std::int64_t min, std::int64_t max) const {
    const auto* i = node.as_integer();
    if (i == nullptr || i->get() < min || i->get() > max) {
      fail(node.source(), std::string(key) + ": expected a whole number from " + std::to_string(min) + " to " +
                              std::to_string(max) + ", got " + (i ? std::to_string(i->get()) : type_name(node)));
    }
    return i->get();
  }

  // A file named by `key`, relative ones from this file's directory (as
  // containerd reads them); it must exist now, not at the first connection.
  std::string file_of(const toml::node& node, std::string_view key) const {
    const std::string& text = string_of(node, key);
    if (text.empty()) fail(node.source(), std::string(key) + ": an empty path");
    fs::path path = fs::path(text).is_absolute() ? fs::path(text) : path_.parent_path() / text;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) fail(node.source(), std::string(key) + ": no such file: " + path.string());
    return path.lexically_normal().string();
  }

 private:
  fs::path path_;
};

// --- hosts.toml ---------------------------------------------------------------

// A file or a list of files (containerd's `ca`).
std::vector<std::string> ca_files(const File& file, const toml::node& node) {
  std::vector<std::string> out;
  if (node.is_string()) {
    out.push_back(file.file_of(node, "ca"));
  } else if (const auto* list = node.as_array()) {
    for (const toml::node& item : *list) out.push_back(file.file_of(item, "ca"));
  } else {
    file.fail(node.source(), "ca: expected a file or a list of files, got " + type_name(node));
  }
  return out;
}

// containerd's `client`: a file holding certificate and key, a list of
// such files, or a list of [certificate, key] pairs ("" for the key: in
// the certificate's file). OpenSSL presents one certificate per key type,
// so gantry takes exactly one.
ClientCertificate client_certificate(const File& file, const toml::node& node) {
  std::vector<ClientCertificate> found;
  auto one = [&](const toml::node& item) {
    if (item.is_string()) {
      std::string both = file.file_of(item, "client");
      found.push_back(ClientCertificate{.cert_file = both, .key_file = both});
      return;
    }
    const auto* pair = item.as_array();
    if (pair == nullptr || pair->size() != 2 || !(*pair)[0].is_string() || !(*pair)[1].is_string()) {
      file.fail(item.source(), "client: expected a file, or a [certificate, key] pair of files");
    }
    std::string cert = file.file_of((*pair)[0], "client");
    std::string key = file.string_of((*pair)[1], "client").empty() ? cert : file.file_of((*pair)[1], "client");
    found.push_back(ClientCertificate{.cert_file = cert, .key_file = key});
  };
  if (const auto* list = node.as_array()) {
    for (const toml::node& item : *list) one(item);
  } else {
    one(node);
  }
  if (found.size() != 1) {
    file.fail(node.source(), "client: gantry presents one client certificate per host, " +
                                 std::to_string(found.size()) +
                                 " given (a certificate and its key in two files are [[\"CERT\", \"KEY\"]])");
  }
  return found.front();
}

// A host without "resolve" would serve blobs only (containerd's public
// mirror): gantry asks every host it is given for tags and blobs alike, so
// it takes hosts that do both. "push" and "referrers" are accepted; gantry
// does neither.
void check_capabilities(const File& file, const toml::node& node) {
  const auto* list = node.as_array();
  if (list == nullptr) file.fail(node.source(), "capabilities: expected a list of strings, got " + type_name(node));
  bool pull = false;
  bool resolve = false;
  for (const toml::node& item : *list) {
    std::string name = file.string_of(item, "capabilities");
    std::ranges::transform(name, name.begin(), [](char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; });
    if (name == "pull") {
      pull = true;
    } else if (name == "resolve") {
      resolve = true;
    } else if (name != "push" && name != "referrers") {
      file.fail(item.source(), "capabilities: unknown capability \"" + name + "\" (pull, resolve, push, referrers)");
    }
  }
  if (!pull || !resolve) {
    file.fail(node.source(), "capabilities: a host without both \"pull\" and \"resolve\" is not supported (gantry "
                             "resolves tags and fetches blobs from the same hosts)");
  }
}

// One key a host table may hold (the top level for the server, or a
// [host."URL"] table), into that host's TLS settings.
void read_host_key(const File& file, const toml::key& key, const toml::node& node, HostTls& tls) {
  std::string name(key.str());
  if (name == "ca") {
    tls.ca_files = ca_files(file, node);
  } else if (name == "client") {
    tls.client = client_certificate(file, node);
  } else if (name == "capabilities") {
    check_capabilities(file, node);
  } else if (name == "skip_verify") {
    if (file.bool_of(node, name)) {
      file.fail(node.source(), "skip_verify = true is refused: gantry always verifies a registry's certificate "
                               "(trust its CA with ca = \"FILE\")");
    }
  } else if (name == "override_path") {
    if (file.bool_of(node, name)) {
      file.fail(node.source(), "override_path = true is not supported: gantry asks every host at /v2/");
    }
  } else if (name == "header" || name == "dial_timeout") {
    file.fail(key.source(), name + " is not supported by gantry");
  } else {
    file.fail(key.source(), "unknown key \"" + name + "\" (gantry reads " + std::string(kHostKeys) + ")");
  }
}

// A host's URL: http or https, host[:port], and no path but containerd's
// default /v2 (a path prefix is for registries gantry does not speak to).
// Without a scheme it is https, as in containerd.
Url host_url(const File& file, const toml::node& where, std::string text) {
  if (text.find("://") == std::string::npos) text = "https://" + text;
  Url url;
  try {
    url = Url::parse(text);
  } catch (const core::Error& e) {
    file.fail(where.source(), e.message());
  }
  if (url.target != "/" && url.target != "/v2" && url.target != "/v2/") {
    file.fail(where.source(),
              "\"" + text + "\": a path in a host URL is not supported (gantry asks every host at /v2/)");
  }
  return url;
}

// Records how `url` is reached (plain HTTP, or its own TLS) and returns
// the host[:port] that endpoints name it by.
std::string add_host(const File& file, const toml::node& where, const Url& url, const HostTls& tls, Options& options) {
  bool own_tls = tls != HostTls{};
  if (url.scheme == "http") {
    // containerd would try TLS first for such a host; gantry never falls
    // back between the two, so the file must say which.
    if (own_tls) file.fail(where.source(), url.string() + ": ca and client need an https URL");
    options.plain_http_hosts.insert(url.authority());
  } else if (own_tls) {
    auto [it, added] = options.host_tls.emplace(url.origin(), tls);
    if (!added && it->second != tls) {
      file.fail(where.source(), url.authority() + ": another hosts.toml gives this host other ca or client settings");
    }
  }
  return url.authority();
}

// The [host."URL"] tables in the file's order (toml++ keeps a table's keys
// sorted; their source positions say where each was written).
std::vector<std::pair<const toml::key*, const toml::table*>> hosts_in_order(const File& file, const toml::node& node) {
  const auto* hosts = node.as_table();
  if (hosts == nullptr) file.fail(node.source(), "host: expected [host.\"URL\"] tables, got " + type_name(node));
  std::vector<std::pair<const toml::key*, const toml::table*>> out;
  for (auto&& [key, value] : *hosts) {
    const auto* table = value.as_table();
    if (table == nullptr) file.fail(value.source(), "host.\"" + std::string(key.str()) + "\": expected a table");
    out.emplace_back(&key, table);
  }
  std::ranges::sort(out, [](const auto& a, const auto& b) {
    const toml::source_position& x = a.first->source().begin;
    const toml::source_position& y = b.first->source().begin;
    return std::pair(x.line, x.column) < std::pair(y.line, y.column);
  });
  return out;
}

// One certs.d/<registry>/hosts.toml into `options`. `own_host` is where the
// registry is reached without a server ("" for _default: each registry's own).
void read_hosts_file(const File& file, const std::string& registry, const std::string& own_host, Options& options) {
  toml::table root = file.parse();
  RegistryHosts entry;
  HostTls origin_tls;
  const toml::node* server = nullptr;
  for (auto&& [key, node] : root) {
    if (key.str() == "server") {
      server = &node;
    } else if (key.str() == "host") {
      for (const auto& [url_key, table] : hosts_in_order(file, node)) {
        Url url = host_url(file, *table, std::string(url_key->str()));
        HostTls tls;
        for (auto&& [host_key, value] : *table) read_host_key(file, host_key, value, tls);
        entry.mirrors.push_back(add_host(file, *table, url, tls, options));
      }
    } else {
      read_host_key(file, key, node, origin_tls);
    }
  }
  if (server != nullptr) {
    Url url = host_url(file, *server, file.string_of(*server, "server"));
    entry.server = add_host(file, *server, url, origin_tls, options);
  } else if (origin_tls != HostTls{}) {
    if (own_host.empty()) {
      file.fail(toml::source_region{}, "ca and client at the top of _default/hosts.toml need a server; for a "
                                       "registry's own host, set them in its own hosts.toml");
    }
    (void)add_host(file, root, Url::from_host("https", own_host, "/"), origin_tls, options);
  }
  options.registry_hosts[registry] = std::move(entry);
}

// The registry a certs.d directory configures, as references name it, and
// the host it is reached at: "_default", "host[:port]", or containerd's
// "host_port_" spelling of the latter (which it looks up first).
struct Namespace {
  std::string registry;
  std::string own_host;  // "" for _default
  bool underscore_port = false;
};

Namespace namespace_of(const fs::path& directory) {
  std::string name = directory.filename().string();
  if (name == kDefaultRegistryHosts) return Namespace{.registry = name, .own_host = ""};
  std::string host = name;
  bool underscore_port = false;
  if (name.size() > 2 && name.back() == '_') {
    auto sep = name.rfind('_', name.size() - 2);
    std::string port = sep == std::string::npos ? "" : name.substr(sep + 1, name.size() - sep - 2);
    if (!port.empty() && std::ranges::all_of(port, [](char c) { return c >= '0' && c <= '9'; })) {
      host = name.substr(0, sep) + ":" + port;
      underscore_port = true;
    }
  }
  std::optional<core::Reference> probe;
  try {
    probe = core::Reference::parse(host + "/probe");
  } catch (const core::Error&) {
  }
  if (!probe || probe->registry != host) {
    throw core::Error(core::ErrorKind::bad_input,
                      directory.string() + ": not a registry as references name it (host[:port], host_port_ or "
                                           "_default)");
  }
  return Namespace{.registry = host, .own_host = probe->endpoint_host(), .underscore_port = underscore_port};
}

// containerd falls back to Docker's certs.d files (*.crt, *.cert, *.key)
// where there is no hosts.toml; gantry reads hosts.toml only, and says so
// rather than ignore certificates someone put there.
void refuse_docker_cert_files(const fs::path& directory) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(directory, ec)) {
    std::string ext = entry.path().extension().string();
    if (ext == ".crt" || ext == ".cert" || ext == ".key") {
      throw core::Error(core::ErrorKind::bad_input,
                        directory.string() + ": Docker's certificate files without a hosts.toml are not read by "
                                             "gantry: write a hosts.toml with ca and client");
    }
  }
}

// Every certs.d/<registry>/hosts.toml by registry; "host_port_" wins over
// "host:port", as in containerd's lookup.
std::map<std::string, std::pair<Namespace, fs::path>> hosts_files(const fs::path& certs) {
  std::map<std::string, std::pair<Namespace, fs::path>> out;
  std::error_code ec;
  if (!fs::exists(certs, ec)) return out;
  if (!fs::is_directory(certs, ec)) {
    throw core::Error(core::ErrorKind::bad_input, certs.string() + ": not a directory");
  }
  fs::directory_iterator entries(certs, ec);
  if (ec) throw core::errno_error(ec.value(), "cannot list the hosts directory", certs.string());
  for (const auto& entry : entries) {
    if (!entry.is_directory(ec)) continue;
    fs::path file = entry.path() / "hosts.toml";
    if (!fs::exists(file, ec)) {
      refuse_docker_cert_files(entry.path());
      continue;
    }
    Namespace ns = namespace_of(entry.path());
    auto it = out.find(ns.registry);
    if (it == out.end() || ns.underscore_port) out.insert_or_assign(ns.registry, std::pair(ns, file));
  }
  return out;
}

// --- gantry.toml --------------------------------------------------------------

void read_defaults(const File& file, Options& options) {
  toml::table root = file.parse();
  for (auto&& [key, node] : root) {
    std::string name(key.str());
    if (name == "jobs") {
      options.jobs = static_cast<int>(file.integer_of(node, name, 1, kMaxJobs));
    } else if (name == "jobs_per_host") {
      options.jobs_per_host = static_cast<int>(file.integer_of(node, name, 1, kMaxJobs));
    } else if (name == "max_rate") {
      options.max_rate = file.integer_of(node, name, 1, std::int64_t{1} << 50);  // bytes per second
    } else if (name == "stall_timeout") {
      std::optional<double> seconds = node.is_number() ? node.value<double>() : std::nullopt;
      if (!seconds || !(*seconds > 0 && *seconds <= static_cast<double>(kMaxStallTimeout.count()))) {
        file.fail(node.source(), "stall_timeout: expected seconds from 0 to " +
                                     std::to_string(kMaxStallTimeout.count()) + ", got " +
                                     (seconds ? std::to_string(*seconds) : type_name(node)));
      }
      options.stall_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*seconds * 1000));
    } else {
      file.fail(key.source(), "unknown key \"" + name + "\" (gantry.toml has " + std::string(kDefaultsKeys) + ")");
    }
  }
}

}  // namespace

Options load_config(const std::filesystem::path& dir) {
  Options options;
  for (const auto& [registry, found] : hosts_files(dir / "certs.d")) {
    read_hosts_file(File(found.second), registry, found.first.own_host, options);
  }
  fs::path defaults = dir / "gantry.toml";
  std::error_code ec;
  if (fs::exists(defaults, ec)) read_defaults(File(defaults), options);
  return options;
}

}  // namespace gantry::registry
