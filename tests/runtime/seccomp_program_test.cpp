// Compiled seccomp filters, installed in a child process as gantry run's
// container installs them: what each syscall then returns.
#include "runtime/seccomp_program.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>

#include "runtime/oci_config.hpp"
#include "tests/support/errors.hpp"

namespace gantry::runtime {
namespace {

using core::ErrorKind;
using gantry::testing::error_of;

// The errno `call` fails with in a child under `program`; 0 when it succeeds.
int errno_under(const SeccompProgram& program, const std::function<long()>& call) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const sock_fprog prog = program.program();
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, program.flags(), &prog) != 0) {
      ::_exit(255);
    }
    // A raw exit: ASan's _exit makes calls a small profile denies.
    ::syscall(SYS_exit_group, call() < 0 ? errno : 0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

SeccompProgram compile(const std::string& json) {
  return compile_seccomp(resolve_seccomp_profile(*parse_seccomp_profile(json, "test.json"), default_capabilities()));
}

const SeccompProgram& docker_default() {
  static const SeccompProgram program =
      compile_seccomp(resolve_seccomp_profile(default_seccomp_profile(), default_capabilities()));
  return program;
}

TEST(SeccompProgram, DockersDefaultLetsOrdinaryProgramsRun) {
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(SYS_getpid); }), 0);
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(SYS_personality, 0xffffffffUL); }), 0);
  // A plain fork (clone without namespace flags).
  EXPECT_EQ(errno_under(docker_default(), [] {
              const long child = ::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
              if (child == 0) ::_exit(0);
              return child < 0 ? child : ::waitpid(static_cast<pid_t>(child), nullptr, 0);
            }),
            0);
}

TEST(SeccompProgram, DockersDefaultDeniesNamespacesKeysAndPersonalities) {
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(SYS_unshare, CLONE_NEWUSER); }), EPERM);
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(SYS_setns, 0, 0); }), EPERM);
  EXPECT_EQ(errno_under(docker_default(),
                        [] { return ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, nullptr); }),
            EPERM);
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(SYS_keyctl, 0, 0, 0, 0, 0); }), EPERM);
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(SYS_add_key, "user", "k", "v", 1, 0); }), EPERM);
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(SYS_request_key, "user", "k", nullptr, 0); }), EPERM);
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(SYS_personality, ADDR_NO_RANDOMIZE); }), EPERM);
  // glibc falls back to clone when clone3 says ENOSYS.
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(SYS_clone3, nullptr, 0); }), ENOSYS);
}

#if defined(__x86_64__)  // the numbers below are x86_64's
// runc's ENOSYS stub: calls newer than any the profile names (here, by
// number, beyond every kernel's table; and mseal, which this libseccomp does
// not know) say ENOSYS, for C libraries to fall back, on both x86_64 ABIs.
TEST(SeccompProgram, CallsNewerThanTheProfileSayEnosys) {
  constexpr long kX32 = 0x40000000;
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(1000); }), ENOSYS);
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(462 /* mseal */, 0, 0, 0); }), ENOSYS);
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(kX32 | 1000); }), ENOSYS);
  // Known calls the profile denies keep its errno, on both ABIs.
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(kX32 | SYS_keyctl, 0, 0, 0, 0, 0); }), EPERM);
  EXPECT_EQ(errno_under(docker_default(), [] { return ::syscall(SYS_keyctl, 0, 0, 0, 0, 0); }), EPERM);

  // The highest call a profile names sets the line.
  const SeccompProgram small = compile(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["exit_group", "exit", "getpid"], "action": "SCMP_ACT_ALLOW"}]})");
  EXPECT_EQ(errno_under(small, [] { return ::syscall(SYS_getpid); }), 0);
  EXPECT_EQ(errno_under(small, [] { return ::syscall(SYS_getppid); }), EPERM);          // 110: below exit_group's 231
  EXPECT_EQ(errno_under(small, [] { return ::syscall(SYS_tgkill, 0, 0, 0); }), ENOSYS);  // 234: above it
}
#endif

TEST(SeccompProgram, ARuleReturnsItsErrnoAndUnknownNamesAreSkipped) {
  const SeccompProgram program = compile(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["mkdir", "mkdirat", "no_such_syscall_anywhere"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
      {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}]})");
  EXPECT_EQ(errno_under(program, [] { return ::mkdir("/tmp", 0755); }), EACCES);  // not EEXIST: never reached
  EXPECT_EQ(errno_under(program, [] { return ::rmdir("/nonexistent-gantry"); }), EPERM);  // runc's default errno
  EXPECT_EQ(errno_under(program, [] { return ::syscall(SYS_getpid); }), 0);
}

TEST(SeccompProgram, ConditionsOnDifferentArgumentsAllHoldOnTheSameOneAnyDoes) {
  const SeccompProgram both = compile(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["fcntl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
       "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}]}]})");
  EXPECT_EQ(errno_under(both, [] { return ::fcntl(0, F_GETFD); }), EINVAL);
  EXPECT_EQ(errno_under(both, [] { return ::fcntl(0, F_GETFL); }), 0);
  EXPECT_EQ(errno_under(both, [] { return ::fcntl(1, F_GETFD); }), 0);

  const SeccompProgram either = compile(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["fcntl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
       "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 3, "op": "SCMP_CMP_EQ"}]}]})");
  EXPECT_EQ(errno_under(either, [] { return ::fcntl(0, F_GETFD); }), EINVAL);
  EXPECT_EQ(errno_under(either, [] { return ::fcntl(0, F_GETFL); }), EINVAL);
  EXPECT_EQ(errno_under(either, [] { return ::fcntl(0, F_DUPFD_CLOEXEC, 10) < 0 ? -1 : 0; }), 0);

  const SeccompProgram masked = compile(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["fcntl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
       "args": [{"index": 1, "value": 6, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]}]})");
  EXPECT_EQ(errno_under(masked, [] { return ::fcntl(0, F_SETFD, 0); }), EINVAL);  // 2 & 6 == 2
  EXPECT_EQ(errno_under(masked, [] { return ::fcntl(0, F_GETFD); }), 0);          // 1 & 6 == 0
}

TEST(SeccompProgram, ARuleWithTheDefaultActionIsDropped) {
  const SeccompProgram program = compile(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
      {"names": ["exit_group", "exit", "prctl", "seccomp"], "action": "SCMP_ACT_ALLOW"}]})");
  EXPECT_EQ(errno_under(program, [] { return ::syscall(SYS_getpid); }), EPERM);
}

TEST(SeccompProgram, KillActionsKill) {
  const SeccompProgram program = compile(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]})");
  EXPECT_EQ(errno_under(program, [] { return ::syscall(SYS_getppid); }), -SIGSYS);
}

TEST(SeccompProgram, RulesLibseccompRefusesAreErrorsNamingTheSyscall) {
  auto error = error_of([] {
    (void)compile(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
        {"names": ["rmdir"], "action": "SCMP_ACT_KILL", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]})");
  });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->kind(), ErrorKind::bad_input);
  EXPECT_NE(std::string(error->what()).find("the rule for rmdir"), std::string::npos) << error->what();
}

TEST(SeccompProgram, FlagsReachTheKernelCall) {
  const SeccompProgram program = compile(R"({"defaultAction": "SCMP_ACT_ALLOW",
      "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"]})");
  EXPECT_EQ(program.flags(), static_cast<unsigned>(SECCOMP_FILTER_FLAG_LOG));
}

}  // namespace
}  // namespace gantry::runtime
