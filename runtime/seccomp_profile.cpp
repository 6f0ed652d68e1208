#include "runtime/seccomp_profile.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "runtime/detail/seccomp_default_profile.hpp"

namespace gantry::runtime {

namespace {

using core::Error;
using core::ErrorKind;
using json = nlohmann::json;

constexpr std::size_t kMaxProfileSize = 4 << 20;
// The kernel caps SECCOMP_RET_ERRNO's data at MAX_ERRNO.
constexpr std::uint64_t kMaxErrno = 4095;

constexpr std::array<std::pair<SeccompAction, std::string_view>, 8> kActions{{
    {SeccompAction::kill_thread, "SCMP_ACT_KILL_THREAD"},  // first: the name written
    {SeccompAction::kill_thread, "SCMP_ACT_KILL"},         // runc: the same
    {SeccompAction::kill_process, "SCMP_ACT_KILL_PROCESS"},
    {SeccompAction::trap, "SCMP_ACT_TRAP"},
    {SeccompAction::errno_return, "SCMP_ACT_ERRNO"},
    {SeccompAction::trace, "SCMP_ACT_TRACE"},
    {SeccompAction::allow, "SCMP_ACT_ALLOW"},
    {SeccompAction::log, "SCMP_ACT_LOG"},
}};

constexpr std::array<std::pair<SeccompCompare, std::string_view>, 7> kCompares{{
    {SeccompCompare::not_equal, "SCMP_CMP_NE"},
    {SeccompCompare::less, "SCMP_CMP_LT"},
    {SeccompCompare::less_equal, "SCMP_CMP_LE"},
    {SeccompCompare::equal, "SCMP_CMP_EQ"},
    {SeccompCompare::greater_equal, "SCMP_CMP_GE"},
    {SeccompCompare::greater, "SCMP_CMP_GT"},
    {SeccompCompare::masked_equal, "SCMP_CMP_MASKED_EQ"},
}};

// runtime-spec's architectures (config-linux.md#seccomp).
constexpr std::array<std::string_view, 23> kArchitectures{
    "SCMP_ARCH_X86",        "SCMP_ARCH_X86_64",      "SCMP_ARCH_X32",     "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",    "SCMP_ARCH_MIPS",        "SCMP_ARCH_MIPS64",  "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",     "SCMP_ARCH_MIPSEL64",    "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",      "SCMP_ARCH_PPC64LE",     "SCMP_ARCH_S390",    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",     "SCMP_ARCH_PARISC64",    "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",       "SCMP_ARCH_SH",          "SCMP_ARCH_SHEB"};

// Flags gantry run can honour: TSYNC means nothing to a process of one
// thread; WAIT_KILLABLE_RECV needs a notifier, which gantry does not have.
constexpr std::array<std::string_view, 3> kFlags{"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                                 "SECCOMP_FILTER_FLAG_SPEC_ALLOW"};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

// Where a value sits in the profile, for errors: `FILE: syscalls[3].args[0].op: ...`.
class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what,
                         ErrorKind kind = ErrorKind::bad_input) const {
    throw Error(kind, "seccomp profile " + origin_ + ": " + where + ": " + what);
  }

  // The member `key` of the object at `where` ("" for the document), as
  // Go's encoding/json finds it for Docker: ignoring case (ASCII here), and
  // absent and null alike "not set". Two keys that differ only in case are
  // refused: which one Go keeps depends on their order, which is lost here.
  const json* member(const json& object, std::string_view key, const std::string& where) const {
    const json* found = nullptr;
    for (const auto& [name, value] : object.items()) {
      if (!equal_ignoring_case(name, key)) continue;
      if (found != nullptr) {
        fail(where.empty() ? std::string(key) : where + "." + std::string(key), "given twice, in different cases");
      }
      found = &value;
    }
    return found == nullptr || found->is_null() ? nullptr : found;
  }

  const json& object(const json& value, const std::string& where) const {
    if (!value.is_object()) fail(where, std::string("expected an object, got ") + value.type_name());
    return value;
  }

  std::string text(const json& value, const std::string& where) const {
    if (!value.is_string()) fail(where, std::string("expected a string, got ") + value.type_name());
    return value.get<std::string>();
  }

  std::vector<std::string> strings(const json* value, const std::string& where) const {
    if (value == nullptr) return {};
    if (!value->is_array()) fail(where, std::string("expected an array, got ") + value->type_name());
    std::vector<std::string> out;
    out.reserve(value->size());
    for (std::size_t i = 0; i < value->size(); ++i) out.push_back(text((*value)[i], where + "[" + std::to_string(i) + "]"));
    return out;
  }

  std::uint64_t unsigned_number(const json& value, const std::string& where, std::uint64_t max) const {
    if (!value.is_number_unsigned() || value.get<std::uint64_t>() > max) {
      fail(where, "expected an integer from 0 to " + std::to_string(max) + ", got " + value.dump());
    }
    return value.get<std::uint64_t>();
  }

  std::optional<unsigned> errno_number(const json* value, const std::string& where) const {
    if (value == nullptr) return std::nullopt;
    return static_cast<unsigned>(unsigned_number(*value, where, kMaxErrno));
  }

  template <class Enum, std::size_t N>
  Enum named(const std::array<std::pair<Enum, std::string_view>, N>& names, const json& value,
             const std::string& where, const char* what) const {
    const std::string name = text(value, where);
    for (const auto& [e, n] : names) {
      if (n == name) return e;
    }
    fail(where, std::string("unknown ") + what + " \"" + name + "\"");
  }

  SeccompAction action(const json& value, const std::string& where) const {
    if (value.is_string() && value.get<std::string>() == "SCMP_ACT_NOTIFY") {
      fail(where, "SCMP_ACT_NOTIFY needs a seccomp agent, which gantry does not have", ErrorKind::unsupported);
    }
    return named(kActions, value, where, "action");
  }

  std::string architecture(const json& value, const std::string& where) const {
    std::string name = text(value, where);
    if (std::find(kArchitectures.begin(), kArchitectures.end(), name) == kArchitectures.end()) {
      fail(where, "unknown architecture \"" + name + "\"");
    }
    return name;
  }

  std::vector<std::string> architectures(const json* value, const std::string& where) const {
    std::vector<std::string> out = strings(value, where);
    for (std::size_t i = 0; i < out.size(); ++i) (void)architecture((*value)[i], where + "[" + std::to_string(i) + "]");
    return out;
  }

  // moby's KernelVersion: "<kernel>.<major>", each at most 255, not 0.0.
  KernelVersion kernel_version(const json& value, const std::string& where) const {
    const std::string version = text(value, where);
    unsigned kernel = 0, major = 0;
    int used = 0;
    if (std::sscanf(version.c_str(), "%3u.%3u%n", &kernel, &major, &used) != 2 ||
        static_cast<std::size_t>(used) != version.size() || version.find_first_of("+- ") != std::string::npos ||
        kernel > 255 || major > 255 || (kernel == 0 && major == 0)) {
      fail(where, "invalid kernel version \"" + version + "\", expected \"<kernel>.<major>\"");
    }
    return {kernel, major};
  }

  std::optional<SeccompFilterCondition> condition(const json* value, const std::string& where) const {
    if (value == nullptr) return std::nullopt;
    object(*value, where);
    SeccompFilterCondition out{.caps = strings(member(*value, "caps", where), where + ".caps"),
                               .arches = strings(member(*value, "arches", where), where + ".arches")};
    if (const json* version = member(*value, "minKernel", where)) {
      // moby: an empty version is no condition.
      if (!(version->is_string() && version->get_ref<const std::string&>().empty())) {
        out.min_kernel = kernel_version(*version, where + ".minKernel");
      }
    }
    return out;
  }

  SeccompArg arg(const json& value, const std::string& where) const {
    object(value, where);
    auto required = [&](const char* key) -> const json& {
      const json* field = member(value, key, where);
      if (field == nullptr) fail(where + "." + key, "required field is missing");
      return *field;
    };
    SeccompArg out;
    out.index = static_cast<unsigned>(unsigned_number(required("index"), where + ".index", 5));
    out.value = unsigned_number(required("value"), where + ".value", UINT64_MAX);
    if (const json* two = member(value, "valueTwo", where)) out.value_two = unsigned_number(*two, where + ".valueTwo", UINT64_MAX);
    out.op = named(kCompares, required("op"), where + ".op", "comparison");
    return out;
  }

  SeccompProfileRule rule(const json& value, const std::string& where) const {
    object(value, where);
    SeccompProfileRule out{.rule = {.names = strings(member(value, "names", where), where + ".names")}};
    if (const json* name = member(value, "name", where)) {
      if (!out.rule.names.empty()) fail(where, "both \"name\" and \"names\" are given; use either");
      out.rule.names.push_back(text(*name, where + ".name"));
    }
    const json* action_value = member(value, "action", where);
    if (action_value == nullptr) fail(where + ".action", "required field is missing");
    out.rule.action = action(*action_value, where + ".action");
    out.rule.errno_ret = errno_number(member(value, "errnoRet", where), where + ".errnoRet");
    if (const json* args = member(value, "args", where)) {
      if (!args->is_array()) fail(where + ".args", std::string("expected an array, got ") + args->type_name());
      for (std::size_t i = 0; i < args->size(); ++i) {
        out.rule.args.push_back(arg((*args)[i], where + ".args[" + std::to_string(i) + "]"));
      }
    }
    out.includes = condition(member(value, "includes", where), where + ".includes");
    out.excludes = condition(member(value, "excludes", where), where + ".excludes");
    return out;
  }

  std::optional<SeccompProfile> profile(std::string_view text) const {
    json doc;
    try {
      doc = json::parse(text.begin(), text.end());
    } catch (const json::parse_error& error) {
      // nlohmann counts bytes from 1, and the end of input as one past the last.
      throw Error(ErrorKind::bad_input, "seccomp profile " + origin_ + ": invalid JSON at byte " +
                                            std::to_string(error.byte) +
                                            (error.byte > text.size() ? " (unexpected end of input)" : ""));
    }
    object(doc, "the document");
    const json* default_action = member(doc, "defaultAction", "");
    const json* syscalls = member(doc, "syscalls", "");
    if (syscalls != nullptr && !syscalls->is_array()) {
      fail("syscalls", std::string("expected an array, got ") + syscalls->type_name());
    }
    // moby's setupSeccomp: neither is "seccomp disabled".
    if (default_action == nullptr && (syscalls == nullptr || syscalls->empty())) return std::nullopt;
    if (default_action == nullptr) fail("defaultAction", "required field is missing");

    SeccompProfile out;
    out.default_action = action(*default_action, "defaultAction");
    out.default_errno_ret = errno_number(member(doc, "defaultErrnoRet", ""), "defaultErrnoRet");
    out.architectures = architectures(member(doc, "architectures", ""), "architectures");
    if (const json* arch_map = member(doc, "archMap", "")) {
      if (!out.architectures.empty()) fail("archMap", "both \"architectures\" and \"archMap\" are given; use either");
      if (!arch_map->is_array()) fail("archMap", std::string("expected an array, got ") + arch_map->type_name());
      for (std::size_t i = 0; i < arch_map->size(); ++i) {
        const std::string where = "archMap[" + std::to_string(i) + "]";
        const json& entry = object((*arch_map)[i], where);
        const json* arch = member(entry, "architecture", where);
        if (arch == nullptr) fail(where + ".architecture", "required field is missing");
        out.arch_map.push_back({architecture(*arch, where + ".architecture"),
                                architectures(member(entry, "subArchitectures", where), where + ".subArchitectures")});
      }
    }
    out.flags = strings(member(doc, "flags", ""), "flags");
    for (std::size_t i = 0; i < out.flags.size(); ++i) {
      if (std::find(kFlags.begin(), kFlags.end(), out.flags[i]) == kFlags.end()) {
        fail("flags[" + std::to_string(i) + "]", "unsupported flag \"" + out.flags[i] + "\"", ErrorKind::unsupported);
      }
    }
    for (std::size_t i = 0; syscalls != nullptr && i < syscalls->size(); ++i) {
      out.syscalls.push_back(rule((*syscalls)[i], "syscalls[" + std::to_string(i) + "]"));
    }
    return out;
  }

 private:
  std::string origin_;
};

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// moby's setupSeccomp, rule by rule: every `includes` condition must hold,
// no `excludes` condition may.
bool applies(const SeccompProfileRule& rule, const std::vector<std::string>& caps, const SeccompHost& host) {
  if (const auto& ex = rule.excludes) {
    if (contains(ex->arches, host.arch)) return false;
    for (const auto& cap : ex->caps) {
      if (contains(caps, cap)) return false;
    }
    if (ex->min_kernel && host.kernel >= *ex->min_kernel) return false;
  }
  if (const auto& in = rule.includes) {
    if (!in->arches.empty() && !contains(in->arches, host.arch)) return false;
    for (const auto& cap : in->caps) {
      if (!contains(caps, cap)) return false;
    }
    if (in->min_kernel && host.kernel < *in->min_kernel) return false;
  }
  return true;
}

KernelVersion running_kernel() {
  struct utsname name {};
  unsigned kernel = 0, major = 0;
  if (::uname(&name) != 0 || std::sscanf(name.release, "%u.%u", &kernel, &major) != 2) {
    throw Error(ErrorKind::io, "cannot read the kernel's version (uname)");
  }
  return {kernel, major};
}

// The build's architecture in Go's names (moby's goToNative) and libseccomp's.
#if defined(__x86_64__)
constexpr std::string_view kArch = "amd64", kScmpArch = "SCMP_ARCH_X86_64";
#elif defined(__aarch64__)
constexpr std::string_view kArch = "arm64", kScmpArch = "SCMP_ARCH_AARCH64";
#elif defined(__i386__)
constexpr std::string_view kArch = "x86", kScmpArch = "SCMP_ARCH_X86";
#elif defined(__arm__)
constexpr std::string_view kArch = "arm", kScmpArch = "SCMP_ARCH_ARM";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr std::string_view kArch = "ppc64le", kScmpArch = "SCMP_ARCH_PPC64LE";
#elif defined(__s390x__)
constexpr std::string_view kArch = "s390x", kScmpArch = "SCMP_ARCH_S390X";
#elif defined(__riscv) && __riscv_xlen == 64
constexpr std::string_view kArch = "riscv64", kScmpArch = "SCMP_ARCH_RISCV64";
#else
#error "gantry's seccomp support does not know this architecture"
#endif

}  // namespace

std::string_view to_string(SeccompAction action) {
  for (const auto& [a, name] : kActions) {
    if (a == action) return name;
  }
  return "SCMP_ACT_KILL_PROCESS";
}

std::string_view to_string(SeccompCompare compare) {
  for (const auto& [c, name] : kCompares) {
    if (c == compare) return name;
  }
  return "SCMP_CMP_EQ";
}

const SeccompHost& this_host() {
  static const SeccompHost host{std::string(kArch), std::string(kScmpArch), running_kernel()};
  return host;
}

std::optional<SeccompProfile> parse_seccomp_profile(std::string_view json, std::string_view origin) {
  return Reader(std::string(origin)).profile(json);
}

const SeccompProfile& default_seccomp_profile() {
  static const SeccompProfile profile = *parse_seccomp_profile(detail::default_seccomp_profile_json(), "(Docker's default)");
  return profile;
}

std::optional<SeccompProfile> seccomp_profile_option(const std::string& value) {
  if (value == "unconfined") return std::nullopt;
  std::optional<std::string> text = core::read_file(value, kMaxProfileSize);
  if (!text) throw Error(ErrorKind::io, "seccomp profile " + value + ": no such file");
  return parse_seccomp_profile(*text, value);
}

SeccompFilterSpec resolve_seccomp_profile(const SeccompProfile& profile, const std::vector<std::string>& capabilities,
                                          const SeccompHost& host) {
  SeccompFilterSpec out{.default_action = profile.default_action,
                        .default_errno_ret = profile.default_errno_ret,
                        .architectures = profile.architectures,
                        .flags = profile.flags};
  for (const auto& entry : profile.arch_map) {
    if (entry.architecture != host.scmp_arch) continue;
    out.architectures.push_back(entry.architecture);
    out.architectures.insert(out.architectures.end(), entry.sub_architectures.begin(), entry.sub_architectures.end());
    break;
  }
  for (const auto& rule : profile.syscalls) {
    if (applies(rule, capabilities, host)) out.syscalls.push_back(rule.rule);
  }
  return out;
}

std::string to_runtime_spec_json(const SeccompFilterSpec& filter) {
  using ordered = nlohmann::ordered_json;
  ordered out{{"defaultAction", to_string(filter.default_action)}};
  if (filter.default_errno_ret) out["defaultErrnoRet"] = *filter.default_errno_ret;
  if (!filter.architectures.empty()) out["architectures"] = filter.architectures;
  if (!filter.flags.empty()) out["flags"] = filter.flags;
  ordered syscalls = ordered::array();
  for (const auto& rule : filter.syscalls) {
    ordered entry{{"names", rule.names}, {"action", to_string(rule.action)}};
    if (rule.errno_ret) entry["errnoRet"] = *rule.errno_ret;
    if (!rule.args.empty()) {
      ordered args = ordered::array();
      for (const auto& arg : rule.args) {
        ordered a{{"index", arg.index}, {"value", arg.value}};
        if (arg.value_two != 0) a["valueTwo"] = arg.value_two;
        a["op"] = to_string(arg.op);
        args.push_back(std::move(a));
      }
      entry["args"] = std::move(args);
    }
    syscalls.push_back(std::move(entry));
  }
  out["syscalls"] = std::move(syscalls);
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace gantry::runtime
