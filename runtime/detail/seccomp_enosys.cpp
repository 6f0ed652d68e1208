#include "runtime/detail/seccomp_enosys.hpp"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <map>
#include <optional>

#include "core/error.hpp"

namespace gantry::runtime::detail {

namespace {

// x32 shares AUDIT_ARCH_X86_64 and marks its calls with this bit
// (arch/x86/include/uapi/asm/unistd.h).
constexpr std::uint32_t kX32SyscallBit = 0x40000000;

// The highest numbers the profile names on one kernel architecture: x86_64
// has two ABIs under one AUDIT_ARCH value, every other one a single ABI.
struct ArchLimits {
  std::optional<std::uint32_t> native;  // or the only ABI
  std::optional<std::uint32_t> x32;
};

// A small assembler: jumps name labels, resolved to offsets at the end.
class Stub {
 public:
  int label() {
    positions_.push_back(-1);
    return static_cast<int>(positions_.size()) - 1;
  }
  void bind(int label) { positions_[static_cast<std::size_t>(label)] = static_cast<int>(code_.size()); }

  void load(std::uint32_t offset) { emit(BPF_LD | BPF_W | BPF_ABS, offset); }
  void ret(std::uint32_t action) { emit(BPF_RET | BPF_K, action); }
  void jump(int target) { emit(BPF_JMP | BPF_JA, 0, target); }
  // `op` (BPF_JEQ, BPF_JGT, BPF_JSET) against k: `yes` or `no` (-1: the next instruction).
  void branch(std::uint16_t op, std::uint32_t k, int yes, int no = -1) { emit(BPF_JMP | op | BPF_K, k, yes, no); }

  // Every label bound; one bound at the end is the program after the stub.
  std::vector<sock_filter> finish() {
    std::vector<sock_filter> out;
    for (std::size_t i = 0; i < code_.size(); ++i) {
      const Insn& insn = code_[i];
      auto offset = [&](int target) -> std::uint32_t {
        if (target < 0) return 0;
        const int position = positions_[static_cast<std::size_t>(target)];
        return static_cast<std::uint32_t>(position - static_cast<int>(i) - 1);
      };
      sock_filter f{insn.code, 0, 0, insn.k};
      if (insn.code == (BPF_JMP | BPF_JA)) {
        f.k = offset(insn.yes);
      } else if (BPF_CLASS(insn.code) == BPF_JMP) {
        const std::uint32_t yes = offset(insn.yes), no = offset(insn.no);
        // A stub of a few arches is far shorter than a conditional jump's 255.
        if (yes > 255 || no > 255) throw core::Error(core::ErrorKind::bad_input, "seccomp: too many architectures for the ENOSYS stub");
        f.jt = static_cast<std::uint8_t>(yes);
        f.jf = static_cast<std::uint8_t>(no);
      }
      out.push_back(f);
    }
    return out;
  }

 private:
  struct Insn {
    std::uint16_t code;
    std::uint32_t k;
    int yes, no;
  };
  void emit(std::uint16_t code, std::uint32_t k, int yes = -1, int no = -1) { code_.push_back({code, k, yes, no}); }

  std::vector<Insn> code_;
  std::vector<int> positions_;
};

bool lets_calls_through(const SeccompFilterSpec& filter) {
  switch (filter.default_action) {
    case SeccompAction::allow:
    case SeccompAction::log:
    case SeccompAction::trace:  // runc: a tracer handles new syscalls itself
      return true;
    case SeccompAction::errno_return:
      return filter.default_errno_ret == static_cast<unsigned>(ENOSYS);
    default:
      return false;
  }
}

std::map<std::uint32_t, ArchLimits> limits_of(const SeccompFilterSpec& filter, const std::vector<std::uint32_t>& arches) {
  std::map<std::uint32_t, ArchLimits> out;
  for (std::uint32_t arch : arches) {
    std::optional<std::uint32_t> highest;
    for (const auto& rule : filter.syscalls) {
      for (const auto& name : rule.names) {
        const int number = seccomp_syscall_resolve_name_arch(arch, name.c_str());
        if (number < 0) continue;  // not a call of this arch, or unknown to libseccomp
        highest = std::max(highest.value_or(0), static_cast<std::uint32_t>(number));
      }
    }
    if (!highest) continue;
    // libseccomp's SCMP_ARCH_* are the kernel's AUDIT_ARCH_*, but for x32.
    if (arch == SCMP_ARCH_X32) {
      out[AUDIT_ARCH_X86_64].x32 = highest;
    } else {
      out[arch].native = highest;
    }
  }
  return out;
}

}  // namespace

std::vector<sock_filter> enosys_stub(const SeccompFilterSpec& filter, const std::vector<std::uint32_t>& arches) {
  if (lets_calls_through(filter)) return {};
  const std::map<std::uint32_t, ArchLimits> limits = limits_of(filter, arches);
  if (limits.empty()) return {};

  Stub stub;
  const int pass = stub.label(), enosys = stub.label();
  std::vector<std::pair<int, const ArchLimits*>> sections;
  stub.load(offsetof(seccomp_data, arch));
  for (const auto& [audit_arch, arch_limits] : limits) {
    sections.emplace_back(stub.label(), &arch_limits);
    stub.branch(BPF_JEQ, audit_arch, sections.back().first);
  }
  stub.jump(pass);  // another arch: the program's own bad-arch action
  auto it = limits.begin();
  for (const auto& [start, arch_limits] : sections) {
    const std::uint32_t audit_arch = (it++)->first;
    stub.bind(start);
    stub.load(offsetof(seccomp_data, nr));
    // s390: an unknown number reaches the filter as 0, setup(2) (runc).
    if (audit_arch == AUDIT_ARCH_S390 || audit_arch == AUDIT_ARCH_S390X) stub.branch(BPF_JEQ, 0, enosys);
    int x32_part = -1;
    if (audit_arch == AUDIT_ARCH_X86_64) {
      x32_part = arch_limits->x32 ? stub.label() : pass;
      stub.branch(BPF_JSET, kX32SyscallBit, x32_part);
    }
    if (arch_limits->native) {
      stub.branch(BPF_JGT, *arch_limits->native, enosys, pass);
    } else {
      stub.jump(pass);
    }
    if (audit_arch == AUDIT_ARCH_X86_64 && arch_limits->x32) {
      stub.bind(x32_part);
      stub.branch(BPF_JGT, *arch_limits->x32, enosys, pass);
    }
  }
  const int program = stub.label();  // libseccomp's, right after the stub
  stub.bind(pass);
  stub.jump(program);
  stub.bind(enosys);
  stub.ret(SECCOMP_RET_ERRNO | ENOSYS);
  stub.bind(program);
  return stub.finish();
}

}  // namespace gantry::runtime::detail
