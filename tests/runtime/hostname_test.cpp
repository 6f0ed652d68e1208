// RFC 1123 host names only: anything else never reaches /etc/hosts.
#include "runtime/hostname.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "tests/support/errors.hpp"

namespace gantry::runtime {
namespace {

using gantry::testing::error_of;

TEST(CheckHostname, AcceptsRfc1123Names) {
  for (const std::string& name : std::initializer_list<std::string>{"gantry", "a", "box-1", "0day", "web.example.com", "A-b.C9",
                                 std::string(63, 'x'), std::string(32, 'a') + "." + std::string(31, 'b')}) {
    EXPECT_FALSE(error_of([&] { check_hostname(name); })) << name;
  }
}

TEST(CheckHostname, RefusesWhatIsNotAHostName) {
  for (const std::string& name : std::initializer_list<std::string>{"", "a\nb", "a\n127.0.0.1 evil", "-x", "x-", "a_b", "a b", "a..b", ".a", "a.",
                                 "a.-b", "caf\xc3\xa9", std::string("a\0b", 3), std::string(64, 'x'),
                                 std::string(32, 'a') + "." + std::string(32, 'b')}) {
    auto error = error_of([&] { check_hostname(name); });
    ASSERT_TRUE(error) << name;
    EXPECT_EQ(error->kind(), core::ErrorKind::bad_input);
    EXPECT_EQ(std::string(error->what()).find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace gantry::runtime
