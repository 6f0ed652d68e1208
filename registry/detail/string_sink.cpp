#include "registry/detail/string_sink.hpp"

#include "core/digest.hpp"
#include "core/error.hpp"

namespace gantry::registry::detail {

namespace {

class StringSink final : public BlobSink {
 public:
  StringSink(std::string& out, core::Digest digest) : out_(out), digest_(std::move(digest)) { out_.clear(); }

  [[nodiscard]] std::int64_t offset() const override { return static_cast<std::int64_t>(out_.size()); }
  SinkFlow write(std::span<const std::byte> bytes) override {
    out_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return SinkFlow::more;
  }
  void on_ready(std::function<void()> wake) override { wake(); }
  void restart() override { out_.clear(); }
  void finish() override {
    core::Digest got = core::digest_of(out_, digest_.algorithm());
    if (got != digest_) {
      out_.clear();
      throw core::Error(core::ErrorKind::digest_mismatch, "content hashes to " + got.string() + ", not to its digest",
                        core::ErrorContext{.digest = digest_.string()});
    }
  }

 private:
  std::string& out_;
  core::Digest digest_;
};

}  // namespace

BlobSinkFactory::Opened StringSinkFactory::open(const core::Descriptor& blob) {
  return {State::ready, std::make_unique<StringSink>(out_, blob.digest)};
}

}  // namespace gantry::registry::detail
