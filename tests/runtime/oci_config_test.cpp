// config.json for a process: the runtime-spec fields runc needs, the
// defaults of `runc spec` and Docker, and the rootless variant.
#include "runtime/oci_config.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/errors.hpp"

namespace gantry::runtime {
namespace {

using json = nlohmann::json;
using gantry::testing::error_of;

ProcessSpec process() {
  return ProcessSpec{.args = {"/bin/sh", "-c", "echo hi"},
                     .env = {"PATH=/bin", "HOSTNAME=box"},
                     .cwd = "/work",
                     .user = ExecUser{.uid = 1000, .gid = 1001, .additional_gids = {10, 29}, .home = "/home/app"}};
}

std::vector<std::string> namespace_types(const json& config) {
  std::vector<std::string> types;
  for (const auto& ns : config["linux"]["namespaces"]) types.push_back(ns["type"]);
  return types;
}

const json* mount_at(const json& config, std::string_view destination) {
  for (const auto& m : config["mounts"]) {
    if (m["destination"] == destination) return &m;
  }
  return nullptr;
}

TEST(OciConfig, TheProcessAsGiven) {
  json c = json::parse(oci_config_json(process(), BundleOptions{.hostname = "box"}));
  EXPECT_EQ(c["ociVersion"], "1.0.2");
  EXPECT_EQ(c["process"]["args"], json({"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(c["process"]["env"], json({"PATH=/bin", "HOSTNAME=box"}));
  EXPECT_EQ(c["process"]["cwd"], "/work");
  EXPECT_EQ(c["process"]["user"], json({{"uid", 1000}, {"gid", 1001}, {"additionalGids", {10, 29}}}));
  EXPECT_EQ(c["process"]["terminal"], false);
  EXPECT_EQ(c["process"]["noNewPrivileges"], true);
  EXPECT_EQ(c["hostname"], "box");
  EXPECT_EQ(c["root"], json({{"path", "rootfs"}, {"readonly", false}}));
}

TEST(OciConfig, DockersDefaultCapabilitiesAndNamespaces) {
  json c = json::parse(oci_config_json(process(), {}));
  const auto& caps = c["process"]["capabilities"];
  EXPECT_EQ(caps["bounding"].size(), 14u);
  EXPECT_EQ(caps["bounding"], caps["effective"]);
  EXPECT_EQ(caps["bounding"], caps["permitted"]);
  EXPECT_FALSE(caps.contains("ambient"));
  for (const char* absent : {"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE"}) {
    EXPECT_EQ(std::count(caps["bounding"].begin(), caps["bounding"].end(), absent), 0) << absent;
  }
  EXPECT_EQ(namespace_types(c), (std::vector<std::string>{"pid", "ipc", "uts", "mount"}));
  json isolated = json::parse(oci_config_json(process(), BundleOptions{.isolated_network = true}));
  EXPECT_EQ(namespace_types(isolated).back(), "network");
  ASSERT_TRUE(mount_at(c, "/sys"));
  EXPECT_EQ((*mount_at(c, "/sys"))["type"], "sysfs");
  EXPECT_TRUE(mount_at(c, "/proc") && mount_at(c, "/dev") && mount_at(c, "/dev/pts") && mount_at(c, "/dev/shm"));
  EXPECT_FALSE(c["linux"]["maskedPaths"].empty());
}

// As Docker writes it for runc: the rules left for Docker's default
// capabilities on this machine, runtime-spec's field names.
TEST(OciConfig, DockersDefaultSeccompProfileResolvedForTheContainer) {
  json c = json::parse(oci_config_json(process(), {}));
  const json& seccomp = c["linux"]["seccomp"];
  EXPECT_EQ(seccomp["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(seccomp["defaultErrnoRet"], 1);
  ASSERT_FALSE(seccomp["architectures"].empty());
  EXPECT_EQ(seccomp["architectures"][0], this_host().scmp_arch);
  std::vector<std::string> allowed;
  json clone3, personality;
  for (const auto& rule : seccomp["syscalls"]) {
    EXPECT_FALSE(rule.contains("includes") || rule.contains("excludes") || rule.contains("comment")) << rule.dump();
    for (const auto& name : rule["names"]) {
      if (rule["action"] == "SCMP_ACT_ALLOW") allowed.push_back(name);
      if (name == "clone3") clone3 = rule;
      if (name == "personality" && personality.is_null()) personality = rule;
    }
  }
  auto allows = [&](const char* name) { return std::count(allowed.begin(), allowed.end(), name); };
  for (const char* name : {"read", "execve", "chroot"}) EXPECT_EQ(allows(name), 1) << name;
  EXPECT_EQ(allows("socket"), 3);  // below, at and above AF_VSOCK (40), which is denied
  for (const char* name : {"unshare", "mount", "keyctl", "add_key", "bpf"}) EXPECT_EQ(allows(name), 0) << name;
  EXPECT_EQ(clone3, json::parse(R"({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38})"));
  EXPECT_EQ(personality["args"], json::parse(R"([{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}])"));
}

TEST(OciConfig, AGivenSeccompProfileOrNone) {
  BundleOptions options;
  options.seccomp = parse_seccomp_profile(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
       "args": [{"index": 1, "value": 7, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"}]}]})", "test.json");
  json c = json::parse(oci_config_json(process(), options));
  EXPECT_EQ(c["linux"]["seccomp"], json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
       "args": [{"index": 1, "value": 7, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"}]}]})"));
  options.seccomp = std::nullopt;  // --security-opt seccomp=unconfined
  EXPECT_FALSE(json::parse(oci_config_json(process(), options))["linux"].contains("seccomp"));
}

TEST(OciConfig, RootlessMapsTheCallerToRoot) {
  ProcessSpec root = process();
  root.user = ExecUser{};
  json c = json::parse(oci_config_json(root, BundleOptions{.rootless = true, .host_uid = 1234, .host_gid = 5678}));
  EXPECT_EQ(namespace_types(c).back(), "user");
  EXPECT_EQ(c["linux"]["uidMappings"], json::parse(R"([{"containerID":0,"hostID":1234,"size":1}])"));
  EXPECT_EQ(c["linux"]["gidMappings"], json::parse(R"([{"containerID":0,"hostID":5678,"size":1}])"));
  EXPECT_EQ((*mount_at(c, "/sys"))["options"][0], "rbind");
  EXPECT_FALSE(mount_at(c, "/sys/fs/cgroup"));
  for (const auto& option : (*mount_at(c, "/dev/pts"))["options"]) EXPECT_NE(option, "gid=5");
  auto err = error_of([] { (void)oci_config_json(process(), BundleOptions{.rootless = true}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind(), core::ErrorKind::bad_input);
}

}  // namespace
}  // namespace gantry::runtime
