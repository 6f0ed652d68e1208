#include "core/media_types.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"

namespace gantry::core::media_type {
namespace {

TEST(MediaTypes, OciLayerTypesDeclareTheirCompression) {
  EXPECT_EQ(layer_compression(kOciLayer), Compression::none);
  EXPECT_EQ(layer_compression(kOciLayerGzip), Compression::gzip);
  EXPECT_EQ(layer_compression(kOciLayerZstd), Compression::zstd);
}

TEST(MediaTypes, NonDistributableLayersAreTarLayers) {
  EXPECT_EQ(layer_compression(kOciLayerNondistributable), Compression::none);
  EXPECT_EQ(layer_compression(kOciLayerNondistributableGzip), Compression::gzip);
  EXPECT_EQ(layer_compression(kOciLayerNondistributableZstd), Compression::zstd);
}

TEST(MediaTypes, DockerLayerTypesIncludingForeign) {
  EXPECT_EQ(layer_compression(kDockerLayerGzip), Compression::gzip);
  EXPECT_EQ(layer_compression(kDockerForeignLayerGzip), Compression::gzip);
  // The spellings containerd and BuildKit also produce.
  EXPECT_EQ(layer_compression("application/vnd.docker.image.rootfs.diff.tar"), Compression::none);
  EXPECT_EQ(layer_compression("application/vnd.docker.image.rootfs.foreign.diff.tar"), Compression::none);
  EXPECT_EQ(layer_compression("application/vnd.docker.image.rootfs.diff.tar.zstd"), Compression::zstd);
}

TEST(MediaTypes, UnknownLayerTypeIsUnsupportedAndNamed) {
  for (std::string type : {"application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
                           "application/vnd.oci.image.config.v1+json", "application/octet-stream", "",
                           "APPLICATION/VND.OCI.IMAGE.LAYER.V1.TAR"}) {
    try {
      (void)layer_compression(type);
      ADD_FAILURE() << "accepted " << type;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::unsupported);
      EXPECT_NE(e.message().find("\"" + type + "\""), std::string::npos) << e.message();
    }
  }
}

TEST(MediaTypes, HostileTypeIsTruncatedInTheMessage) {
  const std::string type(100000, 'x');
  try {
    (void)layer_compression(type);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_LT(e.message().size(), 300u);
    EXPECT_NE(e.message().find("...\""), std::string::npos);
  }
}

TEST(MediaTypes, Classification) {
  EXPECT_TRUE(is_manifest(kOciManifest));
  EXPECT_TRUE(is_manifest(kDockerManifest));
  EXPECT_FALSE(is_manifest(kOciIndex));
  EXPECT_FALSE(is_manifest(kDockerManifestList));
  EXPECT_FALSE(is_manifest("application/vnd.docker.distribution.manifest.v1+prettyjws"));

  EXPECT_TRUE(is_index(kOciIndex));
  EXPECT_TRUE(is_index(kDockerManifestList));
  EXPECT_FALSE(is_index(kOciManifest));
  EXPECT_FALSE(is_index(kDockerManifest));

  EXPECT_TRUE(is_config(kOciConfig));
  EXPECT_TRUE(is_config(kDockerConfig));
  EXPECT_FALSE(is_config("application/vnd.oci.empty.v1+json"));
  EXPECT_FALSE(is_config(kOciLayerGzip));
  EXPECT_FALSE(is_config(""));
}

TEST(MediaTypes, CompressionNames) {
  EXPECT_EQ(to_string(Compression::none), "none");
  EXPECT_EQ(to_string(Compression::gzip), "gzip");
  EXPECT_EQ(to_string(Compression::zstd), "zstd");
}

TEST(MediaTypes, AcceptListNamesEveryManifestAndIndexType) {
  for (std::string_view type : {kOciIndex, kOciManifest, kDockerManifestList, kDockerManifest}) {
    EXPECT_NE(kManifestAccept.find(type), std::string_view::npos) << type;
  }
}

}  // namespace
}  // namespace gantry::core::media_type
