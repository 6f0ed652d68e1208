#include "unpack/layer_pipeline.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <zstd.h>

#include "core/error.hpp"
#include "tar_fixture.hpp"
#include "tests/support/files.hpp"

namespace gantry::unpack {
namespace {

using core::media_type::Compression;
using testing::make_tar;

class LayerPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("gantry-pipeline-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string read(const std::string& rel) { return gantry::testing::slurp(root_ / rel); }

  // Feeds `blob` in `step`-byte chunks from another thread, as a layer's
  // feed does from its download's file.
  static std::jthread feed(ChunkQueue& input, std::string blob, std::size_t step) {
    return std::jthread([&input, blob = std::move(blob), step] {
      try {
        for (std::size_t pos = 0; pos < blob.size();) pos += put(input, std::string_view(blob).substr(pos, step));
        input.close();
      } catch (const std::exception&) {
        // The pipeline failed the stream (acquire rethrows its error): a
        // feed stops there; the test asserts on the pipeline's side.
      }
    });
  }

  // Queues the first bytes of `bytes` that fit a chunk; returns how many.
  static std::size_t put(ChunkQueue& input, std::string_view bytes) {
    ChunkQueue::Buffer buffer = input.acquire();
    const std::size_t n = std::min(bytes.size(), buffer.size());
    std::memcpy(buffer.data(), bytes.data(), n);
    input.commit(std::move(buffer), n);
    return n;
  }

 public:
  static LayerSpec spec(Compression c, const std::string& tar) {
    return LayerSpec{.compression = c, .diff_id = core::digest_of(tar), .name = "sha256:test"};
  }

 protected:
  std::filesystem::path root_;
};

TEST_F(LayerPipelineTest, UncompressedLayerIsAppliedAndItsDiffIdChecked) {
  std::string tar = make_tar({{.path = "etc/", .type = AE_IFDIR}, {.path = "etc/motd", .content = "hi"}});
  Applier applier(root_, {});
  auto input = LayerPipeline::make_input();
  LayerPipeline pipeline(spec(Compression::none, tar), applier, *input);
  auto feeder = feed(*input, tar, 100);
  LayerResult result = pipeline.wait();
  feeder.join();
  EXPECT_EQ(read("etc/motd"), "hi");
  EXPECT_EQ(result.compressed_bytes, static_cast<std::int64_t>(tar.size()));
  EXPECT_EQ(result.uncompressed_bytes, static_cast<std::int64_t>(tar.size()));
  EXPECT_EQ(result.applied.entries, 2);
}

TEST_F(LayerPipelineTest, GzipLayerLargerThanSeveralChunksStreams) {
  // 3 MiB of file data: several chunks through both queues.
  std::string big(3 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) >> 8);
  std::string tar = make_tar({{.path = "big", .content = big}, {.path = "small", .content = "s"}});
  Applier applier(root_, {});
  auto input = LayerPipeline::make_input();
  LayerPipeline pipeline(spec(Compression::gzip, tar), applier, *input);
  auto feeder = feed(*input, testing::gzip(tar), 4096);
  LayerResult result = pipeline.wait();
  feeder.join();
  EXPECT_EQ(read("big"), big);
  EXPECT_EQ(read("small"), "s");
  EXPECT_EQ(result.uncompressed_bytes, static_cast<std::int64_t>(tar.size()));
}

// A small compressed input that expands to many output chunks: the decoder
// consumes all of it early and must still be drained to the end.
TEST_F(LayerPipelineTest, OutputHeldByTheDecoderAfterTheLastInputIsDrained) {
  std::string tar = make_tar({{.path = "zeros", .content = std::string(8 << 20, '\0')}});
  std::string zst(ZSTD_compressBound(tar.size()), '\0');
  zst.resize(ZSTD_compress(zst.data(), zst.size(), tar.data(), tar.size(), 3));
  for (auto [compression, blob] : {std::pair{Compression::zstd, zst}, std::pair{Compression::gzip, testing::gzip(tar)}}) {
    std::filesystem::remove_all(root_ / "zeros");
    Applier applier(root_, {});
    auto input = LayerPipeline::make_input();
    LayerPipeline pipeline(spec(compression, tar), applier, *input);
    auto feeder = feed(*input, blob, blob.size());
    LayerResult result = pipeline.wait();
    feeder.join();
    EXPECT_EQ(result.uncompressed_bytes, static_cast<std::int64_t>(tar.size()));
    EXPECT_EQ(std::filesystem::file_size(root_ / "zeros"), 8u << 20);
  }
}

TEST_F(LayerPipelineTest, WrongDiffIdIsADigestMismatch) {
  std::string tar = make_tar({{.path = "a", .content = "x"}});
  Applier applier(root_, {});
  LayerSpec s = spec(Compression::none, tar);
  s.diff_id = core::digest_of("something else");
  auto input = LayerPipeline::make_input();
  LayerPipeline pipeline(s, applier, *input);
  auto feeder = feed(*input, tar, 1 << 20);
  try {
    pipeline.wait();
    FAIL() << "expected a diff ID mismatch";
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::digest_mismatch);
    EXPECT_NE(std::string(e.what()).find(s.diff_id.string()), std::string::npos);
  }
  feeder.join();
}

TEST_F(LayerPipelineTest, TruncatedGzipIsBadInput) {
  std::string tar = make_tar({{.path = "a", .content = std::string(100000, 'q')}});
  std::string gz = testing::gzip(tar);
  Applier applier(root_, {});
  auto input = LayerPipeline::make_input();
  LayerPipeline pipeline(spec(Compression::gzip, tar), applier, *input);
  auto feeder = feed(*input, gz.substr(0, gz.size() - 10), 512);
  try {
    pipeline.wait();
    FAIL() << "expected a truncation error";
  } catch (const core::Error& e) {
    EXPECT_EQ(e.kind(), core::ErrorKind::bad_input);
    EXPECT_EQ(e.context().digest, "sha256:test");  // the layer is named
  }
  feeder.join();
}

TEST_F(LayerPipelineTest, DeclaredGzipButPlainTarIsRefused) {
  std::string tar = make_tar({{.path = "a", .content = "x"}});
  Applier applier(root_, {});
  auto input = LayerPipeline::make_input();
  LayerPipeline pipeline(spec(Compression::gzip, tar), applier, *input);
  auto feeder = feed(*input, tar, 1 << 20);
  EXPECT_THROW(pipeline.wait(), core::Error);
  feeder.join();
}

TEST_F(LayerPipelineTest, TheDownloadsFailureIsWhatWaitReports) {
  std::string tar = make_tar({{.path = "a", .content = "x"}});
  Applier applier(root_, {});
  auto input = LayerPipeline::make_input();
  LayerPipeline pipeline(spec(Compression::none, tar), applier, *input);
  (void)put(*input, std::string_view(tar).substr(0, 100));
  input->fail(std::make_exception_ptr(std::runtime_error("connection reset")));
  EXPECT_THROW(pipeline.wait(), std::runtime_error);
}

TEST_F(LayerPipelineTest, ExpansionBeyondTheCapIsRefused) {
  std::string tar = make_tar({{.path = "zeros", .content = std::string(4 << 20, '\0')}});
  Applier applier(root_, {});
  LayerSpec s = spec(Compression::gzip, tar);
  s.max_uncompressed = 1 << 20;
  auto input = LayerPipeline::make_input();
  LayerPipeline pipeline(s, applier, *input);
  auto feeder = feed(*input, testing::gzip(tar), 1 << 20);
  try {
    pipeline.wait();
    FAIL() << "expected the cap to stop the layer";
  } catch (const core::Error& e) {
    EXPECT_NE(std::string(e.what()).find("limit"), std::string::npos) << e.what();
  }
  feeder.join();
}

// Two layers' pipelines into one root, the upper one applying after the
// lower one (staging meanwhile when `staging` is not empty).
struct Stacked {
  Stacked(const std::filesystem::path& root, const std::string& lower, const std::string& upper,
          const std::filesystem::path& staging)
      : lower_applier(root, {}),
        first(LayerPipelineTest::spec(Compression::none, lower), lower_applier, *first_input),
        upper_applier(root, {.lowers_applied = first.applied(), .staging_dir = staging}),
        second(LayerPipelineTest::spec(Compression::none, upper), upper_applier, *second_input) {}
  std::unique_ptr<ChunkQueue> first_input = LayerPipeline::make_input();
  std::unique_ptr<ChunkQueue> second_input = LayerPipeline::make_input();
  Applier lower_applier;
  LayerPipeline first;
  Applier upper_applier;
  LayerPipeline second;
};

TEST_F(LayerPipelineTest, ALayerAppliesOnlyAfterTheOneBelowIt) {
  std::string lower = make_tar({{.path = "f", .content = "lower"}});
  std::string upper = make_tar({{.path = "f", .content = "upper"}});
  Stacked layers(root_, lower, upper, {});
  // The upper layer's bytes arrive first; it must still apply last.
  auto upper_feeder = feed(*layers.second_input, upper, 1 << 20);
  upper_feeder.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(std::filesystem::exists(root_ / "f"));
  auto lower_feeder = feed(*layers.first_input, lower, 1 << 20);
  layers.first.wait();
  layers.second.wait();
  lower_feeder.join();
  EXPECT_EQ(read("f"), "upper");
}

TEST_F(LayerPipelineTest, AnUpperLayerStagesItsFilesWhileTheOneBelowWaitsAndAppliesAfterIt) {
  std::string lower = make_tar({{.path = "f", .content = "lower"}, {.path = "g", .content = "lower"}});
  std::string upper = make_tar({{.path = "f", .content = "upper"}, {.path = "d/h", .content = "new"}});
  const std::filesystem::path staging = root_.string() + "-staged";
  Stacked layers(root_, lower, upper, staging);
  auto upper_feeder = feed(*layers.second_input, upper, 1 << 20);
  upper_feeder.join();
  // Both files of the upper layer are written, beside the root, before
  // the lower layer has a byte.
  auto staged = [&] {
    std::error_code ec;  // made at the first staged entry
    return std::distance(std::filesystem::directory_iterator(staging, ec), {});
  };
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30); staged() < 2;) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the upper layer's files were not staged";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(std::filesystem::is_empty(root_));
  auto lower_feeder = feed(*layers.first_input, lower, 1 << 20);
  layers.first.wait();
  const LayerResult result = layers.second.wait();
  lower_feeder.join();
  EXPECT_EQ(read("f"), "upper");
  EXPECT_EQ(read("g"), "lower");
  EXPECT_EQ(read("d/h"), "new");
  EXPECT_TRUE(std::filesystem::is_empty(staging)) << "every staged file went into place";
  EXPECT_EQ(result.applied.entries, 2);
  EXPECT_EQ(result.applied.files, 2);
  std::filesystem::remove_all(staging);
}

TEST_F(LayerPipelineTest, ALowerLayersFailureStopsTheUpperOne) {
  std::string lower = make_tar({{.path = "f", .content = "lower"}});
  std::string upper = make_tar({{.path = "g", .content = "upper"}});
  const std::filesystem::path staging = root_.string() + "-staged";
  Stacked layers(root_, lower, upper, staging);
  auto upper_feeder = feed(*layers.second_input, upper, 1 << 20);
  layers.first_input->fail(std::make_exception_ptr(std::runtime_error("lower failed")));
  EXPECT_THROW(layers.first.wait(), std::runtime_error);
  EXPECT_THROW(layers.second.wait(), std::runtime_error);
  upper_feeder.join();
  EXPECT_FALSE(std::filesystem::exists(root_ / "g"));
  std::filesystem::remove_all(staging);
}

}  // namespace
}  // namespace gantry::unpack
