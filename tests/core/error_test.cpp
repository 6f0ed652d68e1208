#include "core/error.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>

namespace gantry::core {
namespace {

TEST(Error, MessageWithFullContext) {
  Error e(ErrorKind::digest_mismatch, "layer does not match",
          ErrorContext{.registry = "localhost:5000", .repository = "x/y", .digest = "sha256:ab", .path = "/s/b"});
  EXPECT_STREQ(e.what(),
               "layer does not match (registry localhost:5000, repository x/y, digest sha256:ab, path /s/b)");
  EXPECT_EQ(e.kind(), ErrorKind::digest_mismatch);
  EXPECT_EQ(e.message(), "layer does not match");
  EXPECT_EQ(e.context().repository, "x/y");
}

TEST(Error, EmptyContextFieldsAreLeftOut) {
  EXPECT_STREQ(Error(ErrorKind::network, "refused").what(), "refused");
  EXPECT_STREQ(Error(ErrorKind::io, "gone", ErrorContext{.registry = "", .repository = "", .digest = "", .path = "/p"}).what(), "gone (path /p)");
  EXPECT_STREQ(Error(ErrorKind::auth, "denied", ErrorContext{.registry = "r", .repository = "", .digest = "d", .path = ""}).what(),
               "denied (registry r, digest d)");
}

TEST(Error, ControlCharactersAreReplacedSoTheMessageIsOneLine) {
  Error e(ErrorKind::unsafe_path, "entry \"a\nb\rc\x1b[31m\x7f\"", ErrorContext{.registry = "", .repository = "", .digest = "", .path = "x\ty\n"});
  EXPECT_STREQ(e.what(), "entry \"a?b?c?[31m?\" (path x?y?)");
  EXPECT_EQ(e.message(), "entry \"a?b?c?[31m?\"");
  // Printable non-ASCII (UTF-8 names) stays readable.
  EXPECT_STREQ(Error(ErrorKind::io, "caf\xc3\xa9").what(), "caf\xc3\xa9");
}

TEST(Error, IsARuntimeError) {
  try {
    throw Error(ErrorKind::not_found, "no such tag", ErrorContext{.registry = "", .repository = "r", .digest = "", .path = ""});
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "no such tag (repository r)");
  }
}

TEST(Error, ErrnoErrorIsIoWithStrerrorAndPath) {
  Error e = errno_error(ENOENT, "open", "/no/such");
  EXPECT_EQ(e.kind(), ErrorKind::io);
  EXPECT_EQ(e.message(), std::string("open: ") + std::strerror(ENOENT));
  EXPECT_EQ(e.context().path, "/no/such");
  EXPECT_EQ(std::string(e.what()), std::string("open: ") + std::strerror(ENOENT) + " (path /no/such)");
  EXPECT_NE(std::string(e.what()), errno_error(EACCES, "open", "/no/such").what());
}

TEST(Error, ToStringNamesEveryKindDistinctly) {
  const std::pair<ErrorKind, const char*> kinds[] = {
      {ErrorKind::network, "network"},
      {ErrorKind::auth, "auth"},
      {ErrorKind::not_found, "not-found"},
      {ErrorKind::bad_input, "bad-input"},
      {ErrorKind::digest_mismatch, "digest-mismatch"},
      {ErrorKind::unsafe_path, "unsafe-path"},
      {ErrorKind::io, "io"},
      {ErrorKind::unsupported, "unsupported"},
  };
  std::set<std::string_view> seen;
  for (auto [kind, name] : kinds) {
    EXPECT_EQ(to_string(kind), name);
    seen.insert(to_string(kind));
  }
  EXPECT_EQ(seen.size(), std::size(kinds));
}

}  // namespace
}  // namespace gantry::core
