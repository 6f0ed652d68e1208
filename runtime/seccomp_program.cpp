#include "runtime/seccomp_program.hpp"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>

#include "core/error.hpp"
#include "core/file_handle.hpp"
#include "runtime/detail/seccomp_enosys.hpp"

namespace gantry::runtime {

namespace {

using core::Error;
using core::ErrorKind;

struct ReleaseFilter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Filter = std::unique_ptr<void, ReleaseFilter>;

[[noreturn]] void fail(int rc, const std::string& what) {
  throw Error(ErrorKind::bad_input, "seccomp: " + what + ": " + std::strerror(-rc));
}

std::uint32_t libseccomp_action(SeccompAction action, std::optional<unsigned> errno_ret) {
  switch (action) {
    case SeccompAction::kill_thread: return SCMP_ACT_KILL_THREAD;
    case SeccompAction::kill_process: return SCMP_ACT_KILL_PROCESS;
    case SeccompAction::trap: return SCMP_ACT_TRAP;
    case SeccompAction::errno_return: return SCMP_ACT_ERRNO(errno_ret.value_or(EPERM));
    case SeccompAction::trace: return SCMP_ACT_TRACE(errno_ret.value_or(EPERM));
    case SeccompAction::allow: return SCMP_ACT_ALLOW;
    case SeccompAction::log: return SCMP_ACT_LOG;
  }
  return SCMP_ACT_KILL_PROCESS;
}

scmp_compare libseccomp_compare(SeccompCompare compare) {
  switch (compare) {
    case SeccompCompare::not_equal: return SCMP_CMP_NE;
    case SeccompCompare::less: return SCMP_CMP_LT;
    case SeccompCompare::less_equal: return SCMP_CMP_LE;
    case SeccompCompare::equal: return SCMP_CMP_EQ;
    case SeccompCompare::greater_equal: return SCMP_CMP_GE;
    case SeccompCompare::greater: return SCMP_CMP_GT;
    case SeccompCompare::masked_equal: return SCMP_CMP_MASKED_EQ;
  }
  return SCMP_CMP_EQ;
}

// "SCMP_ARCH_X86_64" is libseccomp's "x86_64".
std::uint32_t libseccomp_arch(const std::string& name) {
  std::string token = name.substr(std::string_view("SCMP_ARCH_").size());
  for (char& c : token) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::uint32_t arch = seccomp_arch_resolve_name(token.c_str());
  if (arch == 0) throw Error(ErrorKind::bad_input, "seccomp: this libseccomp does not know the architecture " + name);
  return arch;
}

void add_rule(scmp_filter_ctx ctx, const std::string& name, std::uint32_t action, const std::vector<SeccompArg>& args) {
  const int number = seccomp_syscall_resolve_name(name.c_str());
  if (number == __NR_SCMP_ERROR) return;  // runc: "unknown seccomp syscall ignored"
  std::vector<scmp_arg_cmp> conditions;
  std::array<int, 6> per_index{};
  bool shared_index = false;
  for (const auto& arg : args) {
    conditions.push_back({arg.index, libseccomp_compare(arg.op), arg.value, arg.value_two});
    shared_index |= ++per_index[arg.index] > 1;
  }
  auto add = [&](const scmp_arg_cmp* first, unsigned count) {
    if (int rc = seccomp_rule_add_array(ctx, action, number, count, first); rc != 0) {
      fail(rc, "cannot add the rule for " + name);
    }
  };
  if (!shared_index) return add(conditions.data(), static_cast<unsigned>(conditions.size()));
  // runc's older behaviour, kept for such profiles: one rule per condition.
  for (const auto& condition : conditions) add(&condition, 1);
}

std::vector<sock_filter> export_bpf(scmp_filter_ctx ctx) {
  core::FileHandle memory(::memfd_create("gantry-seccomp", MFD_CLOEXEC));
  if (!memory) throw core::errno_error(errno, "cannot create a memfd for the seccomp filter");
  if (int rc = seccomp_export_bpf(ctx, memory.get()); rc != 0) fail(rc, "cannot export the filter");
  const off_t size = ::lseek(memory.get(), 0, SEEK_CUR);
  if (size < 0) throw core::errno_error(errno, "cannot size the seccomp filter");
  const auto count = static_cast<std::size_t>(size) / sizeof(sock_filter);
  if (count * sizeof(sock_filter) != static_cast<std::size_t>(size) || count == 0) {
    throw Error(ErrorKind::io, "seccomp: libseccomp exported " + std::to_string(size) + " bytes, not a BPF program");
  }
  std::vector<sock_filter> code(count);
  if (::lseek(memory.get(), 0, SEEK_SET) != 0) throw core::errno_error(errno, "cannot read the seccomp filter");
  if (core::read_full(memory.get(), code.data(), static_cast<std::size_t>(size), "memfd:gantry-seccomp") !=
      static_cast<std::size_t>(size)) {
    throw Error(ErrorKind::io, "seccomp: short read of the exported filter");
  }
  return code;
}

}  // namespace

SeccompProgram compile_seccomp(const SeccompFilterSpec& spec) {
  const std::uint32_t default_action = libseccomp_action(spec.default_action, spec.default_errno_ret);
  Filter filter(seccomp_init(default_action));
  if (!filter) throw Error(ErrorKind::bad_input, "seccomp: libseccomp refuses the default action");
  scmp_filter_ctx ctx = filter.get();
  // gantry sets no_new_privs itself, before the filter.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); rc != 0) fail(rc, "cannot clear the NNP attribute");
  std::vector<std::uint32_t> arches{seccomp_arch_native()};
  for (const auto& arch : spec.architectures) {
    arches.push_back(libseccomp_arch(arch));
    const int rc = seccomp_arch_add(ctx, arches.back());
    if (rc != 0 && rc != -EEXIST) fail(rc, "cannot add the architecture " + arch);
  }
  std::size_t syscalls = 0;
  for (const auto& rule : spec.syscalls) syscalls += rule.names.size();
  // runc: a binary tree of syscalls past 32 (libseccomp <= 2.5.4 misbehaves with it and no rules).
  if (syscalls > 32) {
    if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2); rc != 0) fail(rc, "cannot set the optimization level");
  }
  for (const auto& rule : spec.syscalls) {
    const std::uint32_t action = libseccomp_action(rule.action, rule.errno_ret);
    if (action == default_action) continue;  // runc: redundant; libseccomp would refuse it
    for (const auto& name : rule.names) add_rule(ctx, name, action, rule.args);
  }
  std::vector<sock_filter> code = detail::enosys_stub(spec, arches);
  const std::vector<sock_filter> filter_code = export_bpf(ctx);
  code.insert(code.end(), filter_code.begin(), filter_code.end());
  if (code.size() > BPF_MAXINSNS) {
    throw Error(ErrorKind::bad_input, "seccomp: the filter has " + std::to_string(code.size()) +
                                          " instructions, over the kernel's limit of " + std::to_string(BPF_MAXINSNS));
  }
  return SeccompProgram(std::move(code), seccomp_kernel_flags(spec));
}

unsigned seccomp_kernel_flags(const SeccompFilterSpec& filter) {
  unsigned out = 0;
  for (const auto& flag : filter.flags) {
    if (flag == "SECCOMP_FILTER_FLAG_LOG") out |= SECCOMP_FILTER_FLAG_LOG;
    if (flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") out |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  }
  return out;
}

}  // namespace gantry::runtime
