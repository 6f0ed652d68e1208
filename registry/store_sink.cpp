#include "registry/store_sink.hpp"

namespace gantry::registry {

namespace {

// The store's writer never makes the fetcher wait: a write is a hash update
// and a write(2) into the page cache.
class StoreSink final : public BlobSink {
 public:
  explicit StoreSink(core::BlobWriterPtr writer) : writer_(std::move(writer)) {}

  [[nodiscard]] std::int64_t offset() const override { return writer_->offset(); }
  SinkFlow write(std::span<const std::byte> bytes) override {
    writer_->write(bytes.data(), bytes.size());
    return SinkFlow::more;
  }
  void on_ready(std::function<void()> wake) override { wake(); }
  void restart() override { writer_->discard(); }
  void finish() override { writer_->commit(); }

 private:
  core::BlobWriterPtr writer_;
};

}  // namespace

BlobSinkFactory::Opened StoreSinkFactory::open(const core::Descriptor& blob) {
  core::IngestResult ingest = store_.begin_ingest(blob.digest, blob.size);
  switch (ingest.state) {
    case core::IngestState::writer_ready:
      return {State::ready, std::make_unique<StoreSink>(std::move(ingest.writer))};
    case core::IngestState::already_present:
      return {State::present, nullptr};
    case core::IngestState::busy:
      return {State::busy, nullptr};
  }
  return {State::busy, nullptr};
}

}  // namespace gantry::registry
