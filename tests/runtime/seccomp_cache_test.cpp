// Compiled seccomp filters kept between runs: a verified copy is used, one
// that does not verify is compiled again and replaced.
#include "runtime/seccomp_cache.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>

#include "core/digest.hpp"
#include "runtime/oci_config.hpp"
#include "tests/support/files.hpp"

namespace gantry::runtime {
namespace {

namespace fs = std::filesystem;
using gantry::testing::slurp;
using gantry::testing::spit;

bool same_code(const SeccompProgram& a, const SeccompProgram& b) {
  return a.code().size() == b.code().size() &&
         std::memcmp(a.code().data(), b.code().data(), a.code().size() * sizeof(sock_filter)) == 0;
}

SeccompFilterSpec filter(const char* json) {
  return resolve_seccomp_profile(*parse_seccomp_profile(json, "test.json"), default_capabilities());
}

class SeccompCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/gantry-seccomp-cache-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = fs::path(templ) / "cache";
  }
  void TearDown() override { fs::remove_all(dir_.parent_path()); }

  // The one file the cache holds.
  fs::path entry() const {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir_)) files.push_back(e.path());
    EXPECT_EQ(files.size(), 1u);
    return files.empty() ? fs::path() : files.front();
  }

  fs::path dir_;
  const SeccompFilterSpec deny_mkdir_ = filter(R"({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})");
  const SeccompFilterSpec deny_rmdir_ = filter(R"({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}]})");
};

TEST_F(SeccompCacheTest, TheFirstRunCompilesAndKeepsTheProgramWithItsSeal) {
  const SeccompProgram program = cached_seccomp_program(deny_mkdir_, dir_);
  EXPECT_TRUE(same_code(program, compile_seccomp(deny_mkdir_)));
  const fs::path file = entry();
  EXPECT_EQ(file.extension(), ".bpf");
  const std::string bytes = slurp(file);
  const std::size_t code_size = program.code().size() * sizeof(sock_filter);
  ASSERT_EQ(bytes.size(), code_size + 64);
  EXPECT_EQ(std::memcmp(bytes.data(), program.code().data(), code_size), 0);
  // Each filter has its own entry.
  (void)cached_seccomp_program(deny_rmdir_, dir_);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);
}

TEST_F(SeccompCacheTest, AVerifiedCopyIsUsedAsItIs) {
  (void)cached_seccomp_program(deny_mkdir_, dir_);
  const fs::path file = entry();
  // Another program, sealed for this entry's key as gantry seals it: the
  // cache returns it, so it was read, not compiled.
  const SeccompProgram other = compile_seccomp(deny_rmdir_);
  std::string bytes(reinterpret_cast<const char*>(other.code().data()), other.code().size() * sizeof(sock_filter));
  core::Hasher hasher;
  hasher.update(file.stem().string());
  hasher.update(bytes);
  spit(file, bytes + hasher.finish().hex());
  EXPECT_TRUE(same_code(cached_seccomp_program(deny_mkdir_, dir_), other));
}

TEST_F(SeccompCacheTest, ACopyThatDoesNotVerifyIsCompiledAgainAndReplaced) {
  const SeccompProgram program = cached_seccomp_program(deny_mkdir_, dir_);
  const fs::path file = entry();
  const std::string good = slurp(file);
  for (std::string bad : {good.substr(0, good.size() - 1), good.substr(8), std::string(), good}) {
    if (bad == good) bad[3] ^= 1;  // one bit of the program flipped
    spit(file, bad);
    EXPECT_TRUE(same_code(cached_seccomp_program(deny_mkdir_, dir_), program));
    EXPECT_EQ(slurp(file), good);
  }
  // Another filter's entry under this one's name does not verify either.
  (void)cached_seccomp_program(deny_rmdir_, dir_);
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (e.path() != file) fs::copy_file(e.path(), file, fs::copy_options::overwrite_existing);
  }
  EXPECT_TRUE(same_code(cached_seccomp_program(deny_mkdir_, dir_), program));
}

TEST_F(SeccompCacheTest, NoDirectoryIsNoCache) {
  EXPECT_TRUE(same_code(cached_seccomp_program(deny_mkdir_, {}), compile_seccomp(deny_mkdir_)));
  EXPECT_FALSE(fs::exists(dir_));
}

}  // namespace
}  // namespace gantry::runtime
