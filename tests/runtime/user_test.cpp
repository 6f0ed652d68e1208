// Docker-style user specs resolved against an image's passwd and group
// files, by runc's GetExecUser rules.
#include "runtime/user.hpp"

#include <gtest/gtest.h>

#include "tests/support/errors.hpp"

namespace gantry::runtime {
namespace {

using core::ErrorKind;
using gantry::testing::error_of;

constexpr std::string_view kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment\n"
    "\n"
    "daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
    "broken:x:notanumber:1::/:/bin/sh\n"
    "app:x:1000:1001:App:/home/app:/bin/sh\r\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
constexpr std::string_view kGroup =
    "root:x:0:\n"
    "wheel:x:10:app,daemon\n"
    "app:x:1001:\n"
    "audio:x:29:app\n"
    "staff:x:50:\n";

TEST(ResolveUser, EmptyIsRootWithItsHome) {
  ExecUser u = resolve_user("", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 0u);
  EXPECT_EQ(u.gid, 0u);
  EXPECT_EQ(u.home, "/root");
  EXPECT_TRUE(u.additional_gids.empty());
}

TEST(ResolveUser, ANameGetsItsIdsHomeAndTheGroupsListingIt) {
  ExecUser u = resolve_user("app", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 1001u);
  EXPECT_EQ(u.home, "/home/app");  // a CRLF line still parses
  EXPECT_EQ(u.additional_gids, (std::vector<std::uint32_t>{10, 29}));
}

TEST(ResolveUser, AUidFindsTheEntryOrIsUsedAsIs) {
  EXPECT_EQ(resolve_user("1", kPasswd, kGroup).home, "/usr/sbin");
  ExecUser unknown = resolve_user("4242", kPasswd, kGroup);
  EXPECT_EQ(unknown.uid, 4242u);
  EXPECT_EQ(unknown.gid, 0u);
  EXPECT_EQ(unknown.home, "/");
}

TEST(ResolveUser, AnExplicitGroupByNameOrIdAndNoSupplementaryGroups) {
  ExecUser by_name = resolve_user("app:staff", kPasswd, kGroup);
  EXPECT_EQ(by_name.uid, 1000u);
  EXPECT_EQ(by_name.gid, 50u);
  EXPECT_TRUE(by_name.additional_gids.empty());  // only in the implicit form, as runc
  EXPECT_EQ(resolve_user("app:29", kPasswd, kGroup).gid, 29u);
  EXPECT_EQ(resolve_user("1000:777", kPasswd, kGroup).gid, 777u);
  EXPECT_EQ(resolve_user("5:6", "", "").uid, 5u);
}

TEST(ResolveUser, UnknownNamesAreDockersErrors) {
  auto user = error_of([] { (void)resolve_user("ghost", kPasswd, kGroup); });
  ASSERT_TRUE(user);
  EXPECT_EQ(user->kind(), ErrorKind::bad_input);
  EXPECT_EQ(user->message(), "unable to find user ghost: no matching entries in passwd file");
  auto group = error_of([] { (void)resolve_user("app:ghosts", kPasswd, kGroup); });
  ASSERT_TRUE(group);
  EXPECT_EQ(group->message(), "unable to find group ghosts: no matching entries in group file");
  EXPECT_TRUE(error_of([] { (void)resolve_user("app", "", ""); })) << "no passwd file: names are unknown";
}

TEST(ResolveUser, MalformedSpecsAndIdsOutOfRange) {
  for (const char* spec : {"app:", "2147483648", "0:99999999999", "99999999999999999999999"}) {
    auto err = error_of([&] { (void)resolve_user(spec, kPasswd, kGroup); });
    ASSERT_TRUE(err) << spec;
    EXPECT_EQ(err->kind(), ErrorKind::bad_input) << spec;
  }
  EXPECT_EQ(resolve_user("2147483647", kPasswd, kGroup).uid, 2147483647u);
}

TEST(ResolveUser, ALineWithAnInvalidIdIsSkipped) {
  auto err = error_of([] { (void)resolve_user("broken", kPasswd, kGroup); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->kind(), ErrorKind::bad_input);
}

}  // namespace
}  // namespace gantry::runtime
