// Docker-format seccomp profiles: the fields read, the conditions by
// capability, architecture and kernel resolved as moby does, and every
// malformed profile refused with the field it concerns.
#include "runtime/seccomp_profile.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "runtime/oci_config.hpp"
#include "tests/support/errors.hpp"
#include "tests/support/files.hpp"

namespace gantry::runtime {
namespace {

using core::ErrorKind;
using gantry::testing::error_of;
using Names = std::vector<std::string>;

SeccompProfile parse(const std::string& json) {
  auto profile = parse_seccomp_profile(json, "test.json");
  if (!profile) throw std::runtime_error("parsed as unconfined");
  return *profile;
}

std::string error_message(const std::string& json) {
  auto error = error_of([&] { (void)parse_seccomp_profile(json, "test.json"); });
  return error ? error->what() : "(no error)";
}

const SeccompHost kAmd64{"amd64", "SCMP_ARCH_X86_64", {6, 1}};
const SeccompHost kArm64{"arm64", "SCMP_ARCH_AARCH64", {4, 4}};

bool allows(const SeccompFilterSpec& spec, const std::string& name) {
  return std::any_of(spec.syscalls.begin(), spec.syscalls.end(), [&](const SeccompRule& rule) {
    return rule.action == SeccompAction::allow && std::find(rule.names.begin(), rule.names.end(), name) != rule.names.end();
  });
}

TEST(SeccompProfile, ReadsEveryField) {
  SeccompProfile p = parse(R"({
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [
      {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "ignored"},
      {"name": "clone3", "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"},
                {"index": 5, "value": 18446744073709551615, "valueTwo": 7, "op": "SCMP_CMP_NE"}],
       "includes": {"arches": ["amd64"], "minKernel": "4.8"}}
    ]})");
  EXPECT_EQ(p.default_action, SeccompAction::errno_return);
  EXPECT_EQ(p.default_errno_ret, 1u);
  ASSERT_EQ(p.arch_map.size(), 2u);
  EXPECT_EQ(p.arch_map[0].sub_architectures, (Names{"SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  EXPECT_TRUE(p.arch_map[1].sub_architectures.empty());
  EXPECT_EQ(p.flags, Names{"SECCOMP_FILTER_FLAG_LOG"});
  ASSERT_EQ(p.syscalls.size(), 3u);
  EXPECT_EQ(p.syscalls[0].rule.names, (Names{"read", "write"}));
  EXPECT_FALSE(p.syscalls[0].rule.errno_ret);
  EXPECT_EQ(p.syscalls[1].rule.names, Names{"clone3"});  // the old "name" form
  EXPECT_EQ(p.syscalls[1].rule.errno_ret, 38u);
  EXPECT_EQ(p.syscalls[1].excludes->caps, Names{"CAP_SYS_ADMIN"});
  const auto& args = p.syscalls[2].rule.args;
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[0].op, SeccompCompare::masked_equal);
  EXPECT_EQ(args[0].value, 2114060288u);
  EXPECT_EQ(args[1].index, 5u);
  EXPECT_EQ(args[1].value, UINT64_MAX);
  EXPECT_EQ(args[1].value_two, 7u);
  EXPECT_EQ(args[1].op, SeccompCompare::not_equal);
  EXPECT_EQ(p.syscalls[2].includes->arches, Names{"amd64"});
  EXPECT_EQ(p.syscalls[2].includes->min_kernel, (KernelVersion{4, 8}));
}

TEST(SeccompProfile, EveryActionAndComparisonHasItsName) {
  for (auto [name, action] : {std::pair{"SCMP_ACT_KILL", SeccompAction::kill_thread},
                              {"SCMP_ACT_KILL_THREAD", SeccompAction::kill_thread},
                              {"SCMP_ACT_KILL_PROCESS", SeccompAction::kill_process},
                              {"SCMP_ACT_TRAP", SeccompAction::trap},
                              {"SCMP_ACT_TRACE", SeccompAction::trace},
                              {"SCMP_ACT_LOG", SeccompAction::log},
                              {"SCMP_ACT_ALLOW", SeccompAction::allow}}) {
    EXPECT_EQ(parse(std::string(R"({"defaultAction": ")") + name + "\"}").default_action, action) << name;
    if (name != std::string("SCMP_ACT_KILL")) {
      EXPECT_EQ(to_string(action), name);  // written as runtime-spec names it
    }
  }
  for (const char* op : {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
                         "SCMP_CMP_MASKED_EQ"}) {
    SeccompProfile p = parse(std::string(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"],
        "action": "SCMP_ACT_LOG", "args": [{"index": 1, "value": 2, "op": ")") + op + "\"}]}]}");
    EXPECT_EQ(to_string(p.syscalls[0].rule.args[0].op), op);
  }
}

// Docker reads profiles with Go's encoding/json, which matches keys
// ignoring case: a profile Docker confines with must not run unconfined here.
TEST(SeccompProfile, KeysMatchIgnoringCaseAndTwoSpellingsAreRefused) {
  SeccompProfile p = parse(R"({"DefaultAction": "SCMP_ACT_ERRNO", "DEFAULTERRNORET": 38,
      "Syscalls": [{"Names": ["read"], "ACTION": "SCMP_ACT_ALLOW", "Args": [{"Index": 1, "Value": 2, "OP": "SCMP_CMP_GT"}]}]})");
  EXPECT_EQ(p.default_action, SeccompAction::errno_return);
  EXPECT_EQ(p.default_errno_ret, 38u);
  ASSERT_EQ(p.syscalls.size(), 1u);
  EXPECT_EQ(p.syscalls[0].rule.names, Names{"read"});
  EXPECT_EQ(p.syscalls[0].rule.args[0].op, SeccompCompare::greater);

  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ALLOW", "DefaultAction": "SCMP_ACT_ERRNO"})"),
            "seccomp profile test.json: defaultAction: given twice, in different cases");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "Names": ["b"],
                              "action": "SCMP_ACT_ALLOW"}]})"),
            "seccomp profile test.json: syscalls[0].names: given twice, in different cases");
}

TEST(SeccompProfile, NoDefaultActionAndNoSyscallsIsUnconfined) {
  EXPECT_FALSE(parse_seccomp_profile("{}", "test.json"));
  EXPECT_FALSE(parse_seccomp_profile(R"({"syscalls": []})", "test.json"));
}

TEST(SeccompProfile, ResolvesConditionsByCapabilityArchitectureAndKernel) {
  SeccompProfile p = parse(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["plain"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["needs_admin"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["needs_two"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_KILL", "CAP_CHOWN"]}},
      {"names": ["not_with_admin"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["amd64_only"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
      {"names": ["not_on_arm64"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["arm64"]}},
      {"names": ["new_kernel"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.10"}},
      {"names": ["old_kernel"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.10"}}
    ]})");
  const SeccompFilterSpec amd = resolve_seccomp_profile(p, {"CAP_KILL", "CAP_CHOWN"}, kAmd64);
  Names on_amd;
  for (const auto& rule : amd.syscalls) on_amd.push_back(rule.names[0]);
  EXPECT_EQ(on_amd, (Names{"plain", "needs_two", "not_with_admin", "amd64_only", "not_on_arm64", "new_kernel"}));

  const SeccompFilterSpec arm = resolve_seccomp_profile(p, {"CAP_SYS_ADMIN", "CAP_KILL"}, kArm64);
  Names on_arm;
  for (const auto& rule : arm.syscalls) on_arm.push_back(rule.names[0]);
  EXPECT_EQ(on_arm, (Names{"plain", "needs_admin", "old_kernel"}));
}

TEST(SeccompProfile, TakesTheHostsArchMapEntryWithItsSubArchitectures) {
  SeccompProfile p = parse(R"({"defaultAction": "SCMP_ACT_ERRNO", "archMap": [
      {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
      {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}]})");
  EXPECT_EQ(resolve_seccomp_profile(p, {}, kAmd64).architectures,
            (Names{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  EXPECT_EQ(resolve_seccomp_profile(p, {}, kArm64).architectures, (Names{"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}));
  const SeccompHost riscv{"riscv64", "SCMP_ARCH_RISCV64", {6, 1}};
  EXPECT_TRUE(resolve_seccomp_profile(p, {}, riscv).architectures.empty());  // the native one only

  SeccompProfile listed = parse(R"({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"]})");
  EXPECT_EQ(resolve_seccomp_profile(listed, {}, kAmd64).architectures, Names{"SCMP_ARCH_X86"});
}

TEST(SeccompProfile, DockersDefaultGivesTheDefaultCapabilitiesNoNamespacesNorKeys) {
  const SeccompFilterSpec spec = resolve_seccomp_profile(default_seccomp_profile(), default_capabilities(), kAmd64);
  EXPECT_EQ(spec.default_action, SeccompAction::errno_return);
  EXPECT_EQ(spec.default_errno_ret, 1u);
  EXPECT_EQ(spec.architectures, (Names{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  for (const char* name : {"read", "execve", "arch_prctl", "modify_ldt", "chroot", "ptrace", "socket", "personality"}) {
    EXPECT_TRUE(allows(spec, name)) << name;
  }
  // CAP_SYS_ADMIN, CAP_SYS_MODULE... are not among Docker's defaults.
  for (const char* name : {"unshare", "setns", "mount", "keyctl", "add_key", "request_key", "bpf", "init_module",
                           "reboot", "open_by_handle_at", "riscv_flush_icache"}) {
    EXPECT_FALSE(allows(spec, name)) << name;
  }
  // clone only without namespace flags; clone3 is ENOSYS, for glibc to fall back to clone.
  auto clone = std::find_if(spec.syscalls.begin(), spec.syscalls.end(),
                            [](const SeccompRule& r) { return r.names == Names{"clone"}; });
  ASSERT_NE(clone, spec.syscalls.end());
  ASSERT_EQ(clone->args.size(), 1u);
  EXPECT_EQ(clone->args[0].index, 0u);
  EXPECT_EQ(clone->args[0].value, 0x7E020000u);
  auto clone3 = std::find_if(spec.syscalls.begin(), spec.syscalls.end(),
                             [](const SeccompRule& r) { return r.names == Names{"clone3"}; });
  ASSERT_NE(clone3, spec.syscalls.end());
  EXPECT_EQ(clone3->errno_ret, 38u);

  // With CAP_SYS_ADMIN the namespace calls are allowed and the conditional clone goes.
  std::vector<std::string> admin = default_capabilities();
  admin.push_back("CAP_SYS_ADMIN");
  const SeccompFilterSpec privileged = resolve_seccomp_profile(default_seccomp_profile(), admin, kAmd64);
  EXPECT_TRUE(allows(privileged, "unshare"));
  EXPECT_TRUE(allows(privileged, "mount"));
  EXPECT_TRUE(std::none_of(privileged.syscalls.begin(), privileged.syscalls.end(),
                           [](const SeccompRule& r) { return r.names == Names{"clone3"}; }));
}

TEST(SeccompProfile, MalformedProfilesNameTheField) {
  EXPECT_EQ(error_message("{\"defaultAction\": "), "seccomp profile test.json: invalid JSON at byte 19 (unexpected end of input)");
  EXPECT_EQ(error_message("[]"), "seccomp profile test.json: the document: expected an object, got array");
  EXPECT_EQ(error_message(R"({"syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW"}]})"),
            "seccomp profile test.json: defaultAction: required field is missing");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_DENY"})"),
            "seccomp profile test.json: defaultAction: unknown action \"SCMP_ACT_DENY\"");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000})"),
            "seccomp profile test.json: defaultErrnoRet: expected an integer from 0 to 4095, got 5000");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_VAX"]})"),
            "seccomp profile test.json: architectures[0]: unknown architecture \"SCMP_ARCH_VAX\"");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
                              "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]})"),
            "seccomp profile test.json: archMap: both \"architectures\" and \"archMap\" are given; use either");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"]}]})"),
            "seccomp profile test.json: syscalls[0].action: required field is missing");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO",
                              "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]})"),
            "seccomp profile test.json: syscalls[0]: both \"name\" and \"names\" are given; use either");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"],
                              "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]})"),
            "seccomp profile test.json: syscalls[0].args[0].index: expected an integer from 0 to 5, got 6");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"],
                              "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]})"),
            "seccomp profile test.json: syscalls[0].args[0].value: expected an integer from 0 to "
            "18446744073709551615, got -1");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"],
                              "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_IN"}]}]})"),
            "seccomp profile test.json: syscalls[0].args[0].op: unknown comparison \"SCMP_CMP_IN\"");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"],
                              "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "SCMP_CMP_EQ"}]}]})"),
            "seccomp profile test.json: syscalls[0].args[0].value: required field is missing");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [1],
                              "action": "SCMP_ACT_ALLOW"}]})"),
            "seccomp profile test.json: syscalls[0].names[0]: expected a string, got number");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"],
                              "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8.1"}}]})"),
            "seccomp profile test.json: syscalls[0].includes.minKernel: invalid kernel version \"4.8.1\", "
            "expected \"<kernel>.<major>\"");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"],
                              "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "0.0"}}]})"),
            "seccomp profile test.json: syscalls[0].excludes.minKernel: invalid kernel version \"0.0\", "
            "expected \"<kernel>.<major>\"");
  EXPECT_EQ(error_message(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}})"),
            "seccomp profile test.json: syscalls: expected an array, got object");
}

TEST(SeccompProfile, WhatGantryCannotHonourIsUnsupported) {
  auto notify = error_of([] { (void)parse_seccomp_profile(R"({"defaultAction": "SCMP_ACT_NOTIFY"})", "n.json"); });
  ASSERT_TRUE(notify);
  EXPECT_EQ(notify->kind(), ErrorKind::unsupported);
  auto flag = error_of([] {
    (void)parse_seccomp_profile(R"({"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]})",
                                "f.json");
  });
  ASSERT_TRUE(flag);
  EXPECT_EQ(flag->kind(), ErrorKind::unsupported);
  EXPECT_STREQ(flag->what(), "seccomp profile f.json: flags[0]: unsupported flag \"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"");
}

TEST(SeccompProfile, TheOptionReadsAFileOrIsUnconfined) {
  EXPECT_FALSE(seccomp_profile_option("unconfined"));
  const std::filesystem::path file = std::filesystem::temp_directory_path() / "gantry-seccomp-option-test.json";
  gantry::testing::spit(file, R"({"defaultAction": "SCMP_ACT_LOG"})");
  auto profile = seccomp_profile_option(file.string());
  std::filesystem::remove(file);
  ASSERT_TRUE(profile);
  EXPECT_EQ(profile->default_action, SeccompAction::log);
  auto missing = error_of([&] { (void)seccomp_profile_option(file.string()); });
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->kind(), ErrorKind::io);
}

}  // namespace
}  // namespace gantry::runtime
