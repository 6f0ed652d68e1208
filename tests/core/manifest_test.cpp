#include "core/manifest.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/media_types.hpp"

namespace gantry::core {
namespace {

namespace mt = media_type;

// Digests from image-spec manifest.md's example (any well-formed hex works).
constexpr std::string_view kConfigDigest = "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7";
constexpr std::string_view kLayer0 = "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0";
constexpr std::string_view kLayer1 = "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b";
constexpr std::string_view kLayer2 = "sha256:ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736";

// An OCI manifest as BuildKit pushes it, with one layer of each compression.
constexpr std::string_view kOciManifestDoc = R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7",
    "size": 7023
  },
  "layers": [
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
      "size": 32654
    },
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+zstd",
      "digest": "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b",
      "size": 16724,
      "annotations": {"org.opencontainers.image.title": "layer1.tar.zst"}
    },
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar",
      "digest": "sha256:ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736",
      "size": 73109
    }
  ],
  "annotations": {"org.opencontainers.image.created": "2024-05-01T10:00:00Z"}
})";

// A Windows image as Docker pushes it: the base layer is a foreign layer
// with urls (Docker "Image Manifest V 2, Schema 2").
constexpr std::string_view kDockerManifestDoc = R"({
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1472,
      "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
         "size": 1654613376,
         "digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
         "urls": ["https://127.0.0.1/v2/windows/servercore/blobs/sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0"]
      },
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 3408729,
         "digest": "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b"
      }
   ]
})";

// A Docker Hub manifest list (library/ shape), including a Windows entry.
constexpr std::string_view kDockerListDoc = R"({
  "manifests": [
    {"digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
     "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
     "platform": {"architecture": "amd64", "os": "linux"}, "size": 528},
    {"digest": "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b",
     "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
     "platform": {"architecture": "arm", "os": "linux", "variant": "v6"}, "size": 528},
    {"digest": "sha256:ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736",
     "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
     "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}, "size": 528},
    {"digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7",
     "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
     "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}, "size": 528},
    {"digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
     "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
     "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.5329",
                  "os.features": ["win32k"]}, "size": 1125}
  ],
  "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
  "schemaVersion": 2
})";

// An OCI index as BuildKit pushes it with provenance: an attestation
// manifest per image (platform unknown/unknown), plus an entry without a
// platform and an artifact entry that must never be picked as an image.
constexpr std::string_view kOciIndexDoc = R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json",
     "digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0", "size": 1000,
     "platform": {"architecture": "amd64", "os": "linux"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json",
     "digest": "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b", "size": 1001,
     "platform": {"architecture": "arm64", "os": "linux"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json",
     "digest": "sha256:ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736", "size": 839,
     "annotations": {
       "vnd.docker.reference.digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
       "vnd.docker.reference.type": "attestation-manifest"},
     "platform": {"architecture": "unknown", "os": "unknown"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json",
     "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111", "size": 700},
    {"mediaType": "application/vnd.example.sbom.v1+json", "artifactType": "application/spdx+json",
     "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222", "size": 90,
     "platform": {"architecture": "s390x", "os": "linux"}}
  ],
  "annotations": {"org.opencontainers.image.ref.name": "1.0"}
})";

// An OCI image config as BuildKit writes it.
constexpr std::string_view kOciConfigDoc = R"({
  "architecture": "arm64",
  "variant": "v8",
  "os": "linux",
  "created": "2024-05-01T10:00:00Z",
  "config": {
    "User": "app:app",
    "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
    "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
    "Entrypoint": ["/bin/server", "--listen"],
    "Cmd": [":8080"],
    "Volumes": {"/data": {}},
    "WorkingDir": "/srv",
    "Labels": {"org.opencontainers.image.source": "https://127.0.0.1/app"},
    "StopSignal": "SIGTERM",
    "ArgsEscaped": true,
    "Healthcheck": {"Test": ["CMD", "true"]}
  },
  "rootfs": {
    "type": "layers",
    "diff_ids": [
      "sha256:589f0d58b9053a4ff7329b8fdb4f9dd120e29354c086ad0b3b10733f6cfd6de3",
      "sha256:55fea2a37a9fc5963f1beccd0d162b856e6bd05ca07cdd3726847846ab740f0d"
    ]
  },
  "history": [{"created": "2024-05-01T10:00:00Z", "created_by": "COPY server /bin/server"}]
})";

// A config as the classic Docker builder writes it: null where a Go slice or
// map was empty, and many fields gantry does not read.
constexpr std::string_view kDockerConfigDoc = R"({
  "architecture": "amd64",
  "config": {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "Tty": false,
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Cmd": null, "Image": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
    "Volumes": null, "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": null
  },
  "container": "0e1b8ba6f1b5",
  "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) ", "CMD [\"/bin/sh\"]"]},
  "created": "2024-01-27T00:30:56.150825642Z",
  "docker_version": "20.10.23",
  "history": [{"created": "2024-01-27T00:30:56Z", "created_by": "ADD file:abc in / "}],
  "os": "linux",
  "rootfs": {"type": "layers",
             "diff_ids": ["sha256:e6c65c655ca8172ab7a2b634dab3220a45472dd6571b6efd956ccc05e229a201"]}
})";

// `doc` with the single occurrence of `from` replaced by `to`.
std::string with(std::string_view doc, std::string_view from, std::string_view to) {
  std::string out(doc);
  const auto at = out.find(from);
  EXPECT_NE(at, std::string::npos) << "sample lacks: " << from;
  EXPECT_EQ(out.find(from, at + 1), std::string::npos) << "sample has more than one: " << from;
  if (at != std::string::npos) out.replace(at, from.size(), to);
  return out;
}

// Runs `fn`, expecting an Error of `kind` whose message contains `text`.
template <class Fn>
void expect_error(Fn&& fn, ErrorKind kind, std::string_view text) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing: " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(e.message().find(text), std::string::npos) << "message: " << e.message() << "\nwanted: " << text;
  }
}

void expect_manifest_error(std::string_view doc, ErrorKind kind, std::string_view text,
                           std::string_view content_type = {}) {
  expect_error([&] { (void)parse_manifest(doc, content_type); }, kind, text);
}

void expect_index_error(std::string_view doc, ErrorKind kind, std::string_view text,
                        std::string_view content_type = {}) {
  expect_error([&] { (void)parse_index(doc, content_type); }, kind, text);
}

void expect_config_error(std::string_view doc, ErrorKind kind, std::string_view text) {
  expect_error([&] { (void)parse_config(doc); }, kind, text);
}

Digest d(std::string_view text) { return Digest::parse(text); }

// ---------------------------------------------------------------- manifest

TEST(ParseManifest, OciManifest) {
  const Manifest m = parse_manifest(kOciManifestDoc, mt::kOciManifest);
  EXPECT_EQ(m.media_type, mt::kOciManifest);
  EXPECT_EQ(m.config.media_type, mt::kOciConfig);
  EXPECT_EQ(m.config.digest, d(kConfigDigest));
  EXPECT_EQ(m.config.size, 7023);
  ASSERT_EQ(m.layers.size(), 3u);
  EXPECT_EQ(m.layers[0].media_type, mt::kOciLayerGzip);
  EXPECT_EQ(m.layers[0].digest, d(kLayer0));
  EXPECT_EQ(m.layers[0].size, 32654);
  EXPECT_EQ(m.layers[1].media_type, mt::kOciLayerZstd);
  EXPECT_EQ(m.layers[1].digest, d(kLayer1));
  EXPECT_EQ(m.layers[1].annotations.at("org.opencontainers.image.title"), "layer1.tar.zst");
  EXPECT_EQ(m.layers[2].media_type, mt::kOciLayer);
  EXPECT_EQ(m.layers[2].digest, d(kLayer2));
  EXPECT_EQ(m.layers[2].size, 73109);
  EXPECT_FALSE(m.layers[0].platform.has_value());
  EXPECT_EQ(m.annotations.at("org.opencontainers.image.created"), "2024-05-01T10:00:00Z");
}

TEST(ParseManifest, DockerManifestWithForeignLayer) {
  const Manifest m = parse_manifest(kDockerManifestDoc, mt::kDockerManifest);
  EXPECT_EQ(m.media_type, mt::kDockerManifest);
  EXPECT_EQ(m.config.media_type, mt::kDockerConfig);
  EXPECT_EQ(m.config.size, 1472);
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.layers[0].media_type, mt::kDockerForeignLayerGzip);
  EXPECT_EQ(m.layers[0].size, 1654613376);
  ASSERT_EQ(m.layers[0].urls.size(), 1u);
  EXPECT_EQ(m.layers[0].urls[0].rfind("https://127.0.0.1/v2/windows/", 0), 0u);
  EXPECT_EQ(m.layers[1].media_type, mt::kDockerLayerGzip);
  EXPECT_TRUE(m.layers[1].urls.empty());
  EXPECT_TRUE(m.annotations.empty());
}

TEST(ParseManifest, SizesBeyond32BitsSurvive) {
  const Manifest m = parse_manifest(with(kOciManifestDoc, "\"size\": 32654", "\"size\": 9007199254740993"));
  EXPECT_EQ(m.layers[0].size, 9007199254740993);  // 2^53 + 1: no trip through a double
}

TEST(ParseManifest, UnknownExtraFieldsAreIgnored) {
  std::string doc = with(kOciManifestDoc, "\"schemaVersion\": 2,",
                         R"("schemaVersion": 2, "x-vendor": {"nested": [1, 2, {"a": null}]},
                            "artifactType": "application/vnd.example+json",
                            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                        "digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
                                        "size": 12},)");
  doc = with(doc, "\"size\": 7023", R"("size": 7023, "data": "e30=", "features": ["x"], "x-extra": true)");
  const Manifest m = parse_manifest(doc);
  EXPECT_EQ(m.config.size, 7023);
  EXPECT_EQ(m.layers.size(), 3u);
}

TEST(ParseManifest, NullOptionalFieldsAreAbsent) {
  // Go's encoding/json writes null for nil maps and slices.
  std::string doc = with(kOciManifestDoc, R"("annotations": {"org.opencontainers.image.created": "2024-05-01T10:00:00Z"})",
                         R"("annotations": null)");
  doc = with(doc, "\"size\": 73109", R"("size": 73109, "urls": null, "annotations": null, "platform": null)");
  const Manifest m = parse_manifest(doc);
  EXPECT_TRUE(m.annotations.empty());
  EXPECT_TRUE(m.layers[2].urls.empty());
  EXPECT_FALSE(m.layers[2].platform.has_value());
}

TEST(ParseManifest, ZeroLayerImageIsAccepted) {
  const std::string doc = R"({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7", "size": 300},
    "layers": []})";
  EXPECT_TRUE(parse_manifest(doc).layers.empty());
}

TEST(ParseManifest, MediaTypeComesFromTheDocumentOrTheContentType) {
  const std::string no_type = with(kOciManifestDoc, R"("mediaType": "application/vnd.oci.image.manifest.v1+json",)", "");
  EXPECT_EQ(parse_manifest(no_type, mt::kOciManifest).media_type, mt::kOciManifest);
  // image-spec before 1.0.2 did not require mediaType: OCI is the default.
  EXPECT_EQ(parse_manifest(no_type).media_type, mt::kOciManifest);
  EXPECT_EQ(parse_manifest(kDockerManifestDoc).media_type, mt::kDockerManifest);
  // A Content-Type header may carry parameters.
  EXPECT_EQ(parse_manifest(kOciManifestDoc, " application/vnd.oci.image.manifest.v1+json; charset=utf-8").media_type,
            mt::kOciManifest);
}

TEST(ParseManifest, MediaTypeMismatchNamesBoth) {
  expect_manifest_error(kOciManifestDoc, ErrorKind::bad_input,
                        "manifest: mediaType: \"application/vnd.oci.image.manifest.v1+json\" does not match the "
                        "content type \"application/vnd.docker.distribution.manifest.v2+json\"",
                        mt::kDockerManifest);
}

TEST(ParseManifest, IndexContentTypeIsRefused) {
  expect_manifest_error(kOciManifestDoc, ErrorKind::bad_input,
                        "manifest: content type \"application/vnd.oci.image.index.v1+json\" is not an image manifest",
                        mt::kOciIndex);
  expect_manifest_error(kOciManifestDoc, ErrorKind::unsupported, "content type \"text/html\" is not an image manifest",
                        "text/html");
}

TEST(ParseManifest, DocumentClaimingAnotherTypeIsRefused) {
  expect_manifest_error(with(kOciManifestDoc, "application/vnd.oci.image.manifest.v1+json", mt::kOciIndex),
                        ErrorKind::bad_input,
                        "manifest: mediaType: media type \"application/vnd.oci.image.index.v1+json\" is not an image "
                        "manifest");
  expect_manifest_error(with(kOciManifestDoc, "application/vnd.oci.image.manifest.v1+json",
                             "application/vnd.oci.artifact.manifest.v1+json"),
                        ErrorKind::unsupported, "manifest: mediaType: media type");
}

TEST(ParseManifest, ManifestCarryingManifestsIsRefused) {
  // CVE-2021-41190: a document readable as both a manifest and an index.
  const std::string doc = with(kOciManifestDoc, "\"schemaVersion\": 2,", R"("schemaVersion": 2, "manifests": [],)");
  expect_manifest_error(doc, ErrorKind::bad_input, "manifest: manifests: must not appear in an image manifest");
}

TEST(ParseManifest, SchemaVersion) {
  expect_manifest_error(with(kOciManifestDoc, "\"schemaVersion\": 2,", ""), ErrorKind::bad_input,
                        "manifest: schemaVersion: required field is missing");
  expect_manifest_error(with(kOciManifestDoc, "\"schemaVersion\": 2,", "\"schemaVersion\": 1,"),
                        ErrorKind::unsupported, "manifest: schemaVersion: must be 2, got 1");
  expect_manifest_error(with(kOciManifestDoc, "\"schemaVersion\": 2,", "\"schemaVersion\": \"2\","),
                        ErrorKind::bad_input, "manifest: schemaVersion: must be 2, got \"2\"");
  expect_manifest_error(with(kOciManifestDoc, "\"schemaVersion\": 2,", "\"schemaVersion\": 2.5,"),
                        ErrorKind::bad_input, "manifest: schemaVersion: must be 2, got 2.5");
}

TEST(ParseManifest, ConfigMustBeAContainerImageConfig) {
  // An OCI 1.1 artifact (here a Helm chart) is not something to unpack.
  expect_manifest_error(
      with(kOciManifestDoc, "application/vnd.oci.image.config.v1+json", "application/vnd.cncf.helm.config.v1+json"),
      ErrorKind::unsupported,
      "manifest: config.mediaType: not a container image (config media type "
      "\"application/vnd.cncf.helm.config.v1+json\")");
}

TEST(ParseManifest, UnsupportedLayerTypeNamesTypeAndIndex) {
  expect_manifest_error(with(kOciManifestDoc, "application/vnd.oci.image.layer.v1.tar+zstd",
                             "application/vnd.oci.image.layer.v1.tar+zstd+encrypted"),
                        ErrorKind::unsupported,
                        "manifest: layers[1].mediaType: unsupported layer media type "
                        "\"application/vnd.oci.image.layer.v1.tar+zstd+encrypted\"");
}

TEST(ParseManifest, InvalidDigestNamesThePath) {
  expect_manifest_error(with(kOciManifestDoc, kLayer2, "sha256:zz"), ErrorKind::bad_input,
                        "manifest: layers[2].digest: invalid digest \"sha256:zz\"");
  expect_manifest_error(with(kOciManifestDoc, kConfigDigest, "b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"),
                        ErrorKind::bad_input, "manifest: config.digest: invalid digest");
  // A well-formed digest of an algorithm we do not implement keeps its kind.
  expect_manifest_error(with(kOciManifestDoc, kLayer0, "sha384:abc"), ErrorKind::unsupported,
                        "manifest: layers[0].digest: unsupported digest algorithm \"sha384\"");
  expect_manifest_error(with(kOciManifestDoc, std::string("\"") + std::string(kLayer0) + "\"", "42"),
                        ErrorKind::bad_input, "manifest: layers[0].digest: expected a string, got 42");
}

TEST(ParseManifest, SizeMustBeANonNegativeInteger) {
  const auto size_error = [](std::string_view value, std::string_view got) {
    expect_manifest_error(with(kOciManifestDoc, "\"size\": 16724", std::string("\"size\": ") + std::string(value)),
                          ErrorKind::bad_input,
                          "manifest: layers[1].size: expected a non-negative integer, got " + std::string(got));
  };
  size_error("-1", "-1");
  size_error("1.5", "1.5");
  size_error("1e3", "1000.0");
  size_error("\"16724\"", "\"16724\"");
  size_error("true", "true");
  size_error("9223372036854775808", "9223372036854775808");  // INT64_MAX + 1
  expect_manifest_error(with(kOciManifestDoc, ",\n    \"size\": 7023", ""), ErrorKind::bad_input,
                        "manifest: config.size: required field is missing");
  expect_manifest_error(with(kOciManifestDoc, "\"size\": 7023", "\"size\": null"), ErrorKind::bad_input,
                        "manifest: config.size: required field is missing");
}

TEST(ParseManifest, MissingAndMistypedStructure) {
  const std::string config_block = R"("config": {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7",
    "size": 7023
  },)";
  expect_manifest_error(with(kOciManifestDoc, config_block, ""), ErrorKind::bad_input,
                        "manifest: config: required field is missing");
  expect_manifest_error(with(kOciManifestDoc, config_block, R"("config": ["x"],)"), ErrorKind::bad_input,
                        "manifest: config: expected a JSON object, got array");
  expect_manifest_error(with(kOciManifestDoc, "\"mediaType\": \"application/vnd.oci.image.config.v1+json\",", ""),
                        ErrorKind::bad_input, "manifest: config.mediaType: required field is missing");
  expect_manifest_error(with(kOciManifestDoc, "application/vnd.oci.image.layer.v1.tar+gzip", ""),
                        ErrorKind::bad_input, "manifest: layers[0].mediaType: must not be empty");
  expect_manifest_error(R"({"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
      "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7", "size": 1}})",
                        ErrorKind::bad_input, "manifest: layers: required field is missing");
  expect_manifest_error(R"({"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
      "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7", "size": 1},
      "layers": {"0": {}}})",
                        ErrorKind::bad_input, "manifest: layers: expected a JSON array, got object");
  expect_manifest_error(R"({"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
      "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7", "size": 1},
      "layers": ["sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0"]})",
                        ErrorKind::bad_input, "manifest: layers[0]: expected a JSON object, got \"sha256:9834");
  expect_manifest_error("[]", ErrorKind::bad_input, "manifest: expected a JSON object, got array");
  expect_manifest_error("\"x\"", ErrorKind::bad_input, "manifest: expected a JSON object, got \"x\"");
}

TEST(ParseManifest, AnnotationsAndUrlsMustBeStrings) {
  expect_manifest_error(with(kOciManifestDoc, "\"layer1.tar.zst\"", "7"), ErrorKind::bad_input,
                        "manifest: layers[1].annotations[\"org.opencontainers.image.title\"]: expected a string, got 7");
  expect_manifest_error(with(kOciManifestDoc, "\"2024-05-01T10:00:00Z\"", "{}"), ErrorKind::bad_input,
                        "manifest: annotations[\"org.opencontainers.image.created\"]: expected a string, got object");
  expect_manifest_error(with(kDockerManifestDoc, R"("urls": [")", R"("urls": [1, ")"), ErrorKind::bad_input,
                        "manifest: layers[0].urls[0]: expected a string, got 1");
  expect_manifest_error(with(kDockerManifestDoc, R"("urls": [")", R"("urls": "x", "u": [")"), ErrorKind::bad_input,
                        "manifest: layers[0].urls: expected a JSON array, got \"x\"");
}

TEST(ParseManifest, InvalidJsonSaysWhere) {
  expect_manifest_error(R"({"schemaVersion": 2,,})", ErrorKind::bad_input, "manifest: invalid JSON at byte 21");
  expect_manifest_error("", ErrorKind::bad_input, "manifest: invalid JSON at byte 1 (unexpected end of input)");
  expect_manifest_error(kOciManifestDoc.substr(0, 100), ErrorKind::bad_input,
                        "manifest: invalid JSON at byte 101 (unexpected end of input)");
  expect_manifest_error(std::string(kOciManifestDoc) + "x", ErrorKind::bad_input, "manifest: invalid JSON at byte");
  // Invalid UTF-8 inside a string.
  expect_manifest_error(with(kOciManifestDoc, "layer1.tar.zst", "layer\xff"), ErrorKind::bad_input,
                        "manifest: invalid JSON at byte");
}

// nlohmann throws out_of_range, not parse_error, for these (found by
// tests/fuzz/manifest_fuzz.cpp).
TEST(ParseManifest, NumberBeyondADoublesRangeIsInvalidJson) {
  expect_manifest_error(R"({"schemaVersion": 1E400})", ErrorKind::bad_input,
                        "manifest: invalid JSON: a number out of range");
}

TEST(ParseManifest, SizeLimit) {
  // Whitespace pads a valid document to exactly the limit, then one byte over.
  std::string doc(kOciManifestDoc);
  doc.resize(kMaxManifestSize, ' ');
  EXPECT_EQ(parse_manifest(doc).layers.size(), 3u);
  doc.push_back(' ');
  expect_manifest_error(doc, ErrorKind::bad_input, "manifest: 4194305 bytes is over the limit of 4194304 bytes");
}

// ---------------------------------------------------------------- index

TEST(ParseIndex, DockerManifestList) {
  const Index index = parse_index(kDockerListDoc, mt::kDockerManifestList);
  EXPECT_EQ(index.media_type, mt::kDockerManifestList);
  ASSERT_EQ(index.manifests.size(), 5u);
  const Descriptor& arm = index.manifests[2];
  EXPECT_EQ(arm.media_type, mt::kDockerManifest);
  EXPECT_EQ(arm.digest, d(kLayer2));
  EXPECT_EQ(arm.size, 528);
  ASSERT_TRUE(arm.platform.has_value());
  EXPECT_EQ(arm.platform->os, "linux");
  EXPECT_EQ(arm.platform->architecture, "arm");
  EXPECT_EQ(arm.platform->variant, "v7");
  const Descriptor& windows = index.manifests[4];
  ASSERT_TRUE(windows.platform.has_value());
  EXPECT_EQ(windows.platform->os, "windows");
  EXPECT_EQ(windows.platform->os_version, "10.0.17763.5329");
  EXPECT_EQ(windows.platform->os_features, std::vector<std::string>{"win32k"});
  EXPECT_EQ(windows.size, 1125);
}

TEST(ParseIndex, KeepsEntriesThatAreNotImages) {
  const Index index = parse_index(kOciIndexDoc);
  EXPECT_EQ(index.media_type, mt::kOciIndex);
  ASSERT_EQ(index.manifests.size(), 5u);
  EXPECT_EQ(index.manifests[2].annotations.at("vnd.docker.reference.type"), "attestation-manifest");
  EXPECT_FALSE(index.manifests[3].platform.has_value());
  EXPECT_EQ(index.manifests[4].media_type, "application/vnd.example.sbom.v1+json");
  EXPECT_EQ(index.manifests[4].artifact_type, "application/spdx+json");
  EXPECT_EQ(index.annotations.at("org.opencontainers.image.ref.name"), "1.0");
}

TEST(ParseIndex, EmptyIndexAndUnknownFields) {
  const Index index = parse_index(R"({"schemaVersion": 2, "manifests": [], "subject": 5, "x": {"y": null}})");
  EXPECT_EQ(index.media_type, mt::kOciIndex);
  EXPECT_TRUE(index.manifests.empty());
}

TEST(ParseIndex, PlatformNeedsOsAndArchitecture) {
  expect_index_error(with(kDockerListDoc, R"({"architecture": "arm", "os": "linux", "variant": "v6"})",
                          R"({"architecture": "arm", "variant": "v6"})"),
                     ErrorKind::bad_input, "index: manifests[1].platform.os: required field is missing");
  expect_index_error(with(kDockerListDoc, R"({"architecture": "amd64", "os": "linux"})", R"({"os": "linux"})"),
                     ErrorKind::bad_input, "index: manifests[0].platform.architecture: required field is missing");
  expect_index_error(with(kDockerListDoc, R"(["win32k"])", R"("win32k")"), ErrorKind::bad_input,
                     "index: manifests[4].platform.os.features: expected a JSON array, got \"win32k\"");
  expect_index_error(with(kDockerListDoc, R"("variant": "v7")", R"("variant": 7)"), ErrorKind::bad_input,
                     "index: manifests[2].platform.variant: expected a string, got 7");
}

TEST(ParseIndex, Validation) {
  expect_index_error(R"({"schemaVersion": 2})", ErrorKind::bad_input, "index: manifests: required field is missing");
  expect_index_error(R"({"schemaVersion": 3, "manifests": []})", ErrorKind::unsupported,
                     "index: schemaVersion: must be 2, got 3");
  expect_index_error(with(kOciIndexDoc, "\"size\": 1001", "\"size\": -3"), ErrorKind::bad_input,
                     "index: manifests[1].size: expected a non-negative integer, got -3");
  expect_index_error(with(kOciIndexDoc, "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                          "sha256:abc"),
                     ErrorKind::bad_input, "index: manifests[3].digest: invalid digest \"sha256:abc\"");
  expect_index_error(kDockerListDoc, ErrorKind::bad_input,
                     "index: mediaType: \"application/vnd.docker.distribution.manifest.list.v2+json\" does not match "
                     "the content type \"application/vnd.oci.image.index.v1+json\"",
                     mt::kOciIndex);
  expect_index_error(kOciManifestDoc, ErrorKind::bad_input,
                     "index: mediaType: media type \"application/vnd.oci.image.manifest.v1+json\" is not an image index");
  expect_index_error("{", ErrorKind::bad_input, "index: invalid JSON at byte 2 (unexpected end of input)");
}

TEST(ParseIndex, IndexCarryingLayersIsRefused) {
  // CVE-2021-41190.
  expect_index_error(R"({"schemaVersion": 2, "manifests": [], "layers": []})", ErrorKind::bad_input,
                     "index: layers: must not appear in an image index");
  expect_index_error(R"({"schemaVersion": 2, "manifests": [], "config": {}})", ErrorKind::bad_input,
                     "index: config: must not appear in an image index");
}

TEST(ParseIndex, SizeLimit) {
  std::string doc(kOciIndexDoc);
  doc.resize(kMaxManifestSize + 1, '\n');
  expect_index_error(doc, ErrorKind::bad_input, "index: 4194305 bytes is over the limit of 4194304 bytes");
}

// ---------------------------------------------------------------- config

TEST(ParseConfig, OciConfig) {
  const ImageConfig c = parse_config(kOciConfigDoc);
  EXPECT_EQ(c.platform.os, "linux");
  EXPECT_EQ(c.platform.architecture, "arm64");
  EXPECT_EQ(c.platform.variant, "v8");
  EXPECT_EQ(c.user, "app:app");
  EXPECT_EQ(c.env, (std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"}));
  EXPECT_EQ(c.entrypoint, (std::vector<std::string>{"/bin/server", "--listen"}));
  EXPECT_EQ(c.cmd, std::vector<std::string>{":8080"});
  EXPECT_EQ(c.working_dir, "/srv");
  EXPECT_EQ(c.labels.at("org.opencontainers.image.source"), "https://127.0.0.1/app");
  EXPECT_EQ(c.stop_signal, "SIGTERM");
  EXPECT_EQ(c.exposed_ports, (std::vector<std::string>{"53/udp", "8080/tcp"}));
  EXPECT_EQ(c.volumes, std::vector<std::string>{"/data"});
  EXPECT_EQ(c.diff_ids, (std::vector<Digest>{d("sha256:589f0d58b9053a4ff7329b8fdb4f9dd120e29354c086ad0b3b10733f6cfd6de3"),
                                             d("sha256:55fea2a37a9fc5963f1beccd0d162b856e6bd05ca07cdd3726847846ab740f0d")}));
}

TEST(ParseConfig, DockerConfigWithNulls) {
  const ImageConfig c = parse_config(kDockerConfigDoc);
  EXPECT_EQ(c.platform.os, "linux");
  EXPECT_EQ(c.platform.architecture, "amd64");
  EXPECT_TRUE(c.platform.variant.empty());
  EXPECT_TRUE(c.cmd.empty());
  EXPECT_TRUE(c.entrypoint.empty());
  EXPECT_TRUE(c.labels.empty());
  EXPECT_TRUE(c.volumes.empty());
  EXPECT_TRUE(c.exposed_ports.empty());
  EXPECT_TRUE(c.user.empty());
  EXPECT_EQ(c.env.size(), 1u);
  ASSERT_EQ(c.diff_ids.size(), 1u);
  EXPECT_EQ(c.diff_ids[0], d("sha256:e6c65c655ca8172ab7a2b634dab3220a45472dd6571b6efd956ccc05e229a201"));
}

TEST(ParseConfig, ConfigObjectMayBeAbsentOrNull) {
  for (std::string_view runtime : {"", R"("config": null,)"}) {
    const ImageConfig c = parse_config(std::string(R"({"architecture": "riscv64", "os": "linux", )") +
                                       std::string(runtime) + R"("rootfs": {"type": "layers", "diff_ids": []}})");
    EXPECT_EQ(c.platform.architecture, "riscv64");
    EXPECT_TRUE(c.cmd.empty());
    EXPECT_TRUE(c.env.empty());
    EXPECT_TRUE(c.diff_ids.empty());
  }
}

TEST(ParseConfig, WindowsPlatformFields) {
  const ImageConfig c = parse_config(with(kDockerConfigDoc, "\"os\": \"linux\",",
                                          R"("os": "windows", "os.version": "10.0.20348.2227", "os.features": ["win32k"],)"));
  EXPECT_EQ(c.platform.os, "windows");
  EXPECT_EQ(c.platform.os_version, "10.0.20348.2227");
  EXPECT_EQ(c.platform.os_features, std::vector<std::string>{"win32k"});
}

TEST(ParseConfig, RequiredPlatform) {
  expect_config_error(with(kOciConfigDoc, "\"architecture\": \"arm64\",", ""), ErrorKind::bad_input,
                      "config: architecture: required field is missing");
  expect_config_error(with(kOciConfigDoc, "\"os\": \"linux\",", "\"os\": \"\","), ErrorKind::bad_input,
                      "config: os: must not be empty");
  expect_config_error(with(kOciConfigDoc, "\"os\": \"linux\",", "\"os\": [\"linux\"],"), ErrorKind::bad_input,
                      "config: os: expected a string, got array");
}

TEST(ParseConfig, Rootfs) {
  expect_config_error(with(kOciConfigDoc, "\"type\": \"layers\"", "\"type\": \"layer\""), ErrorKind::bad_input,
                      "config: rootfs.type: must be \"layers\", got \"layer\"");
  expect_config_error(with(kOciConfigDoc, "\"type\": \"layers\",", ""), ErrorKind::bad_input,
                      "config: rootfs.type: required field is missing");
  expect_config_error(R"({"architecture": "amd64", "os": "linux"})", ErrorKind::bad_input,
                      "config: rootfs: required field is missing");
  expect_config_error(R"({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}})",
                      ErrorKind::bad_input, "config: rootfs.diff_ids: required field is missing");
  expect_config_error(with(kOciConfigDoc, "sha256:589f0d58b9053a4ff7329b8fdb4f9dd120e29354c086ad0b3b10733f6cfd6de3",
                           "sha256:589F0D58B9053A4FF7329B8FDB4F9DD120E29354C086AD0B3B10733F6CFD6DE3"),
                      ErrorKind::bad_input, "config: rootfs.diff_ids[0]: invalid digest \"sha256:589F0D58");
  expect_config_error(with(kOciConfigDoc, "\"sha256:55fea2a37a9fc5963f1beccd0d162b856e6bd05ca07cdd3726847846ab740f0d\"",
                           "null"),
                      ErrorKind::bad_input, "config: rootfs.diff_ids[1]: expected a string, got null");
}

TEST(ParseConfig, WrongTypesNameTheField) {
  expect_config_error(with(kOciConfigDoc, R"("Cmd": [":8080"])", R"("Cmd": ":8080")"), ErrorKind::bad_input,
                      "config: config.Cmd: expected a JSON array, got \":8080\"");
  expect_config_error(with(kOciConfigDoc, R"("Cmd": [":8080"])", R"("Cmd": [8080])"), ErrorKind::bad_input,
                      "config: config.Cmd[0]: expected a string, got 8080");
  expect_config_error(with(kOciConfigDoc, R"("User": "app:app")", R"("User": 1000)"), ErrorKind::bad_input,
                      "config: config.User: expected a string, got 1000");
  expect_config_error(with(kOciConfigDoc, R"("https://127.0.0.1/app")", "false"), ErrorKind::bad_input,
                      "config: config.Labels[\"org.opencontainers.image.source\"]: expected a string, got false");
  expect_config_error(with(kOciConfigDoc, R"({"/data": {}})", R"(["/data"])"), ErrorKind::bad_input,
                      "config: config.Volumes: expected a JSON object, got array");
  expect_config_error(with(kOciConfigDoc, R"("Env": [)", R"("Env": [null, )"), ErrorKind::bad_input,
                      "config: config.Env[0]: expected a string, got null");
  expect_config_error(with(kOciConfigDoc, R"("StopSignal": "SIGTERM")", R"("StopSignal": 15)"), ErrorKind::bad_input,
                      "config: config.StopSignal: expected a string, got 15");
  expect_config_error(with(kOciConfigDoc, R"("WorkingDir": "/srv")", R"("WorkingDir": {})"), ErrorKind::bad_input,
                      "config: config.WorkingDir: expected a string, got object");
  expect_config_error(R"({"architecture": "amd64", "os": "linux", "config": "x",
                          "rootfs": {"type": "layers", "diff_ids": []}})",
                      ErrorKind::bad_input, "config: config: expected a JSON object, got \"x\"");
}

TEST(ParseConfig, HostileKeysAndValuesAreBoundedInMessages) {
  const std::string key(10000, 'k');
  expect_config_error(with(kOciConfigDoc, R"({"org.opencontainers.image.source": "https://127.0.0.1/app"})",
                           R"({")" + key + R"(": 1})"),
                      ErrorKind::bad_input, "config: config.Labels[\"kkkk");
  try {
    (void)parse_config(with(kOciConfigDoc, "\"type\": \"layers\"", "\"type\": \"" + std::string(100000, 'x') + "\""));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_LT(e.message().size(), 300u) << e.message().substr(0, 300);
  }
}

TEST(ParseConfig, SizeLimit) {
  std::string doc(kOciConfigDoc);
  doc.resize(kMaxConfigSize, ' ');
  EXPECT_EQ(parse_config(doc).diff_ids.size(), 2u);
  doc.push_back(' ');
  expect_config_error(doc, ErrorKind::bad_input, "config: 8388609 bytes is over the limit of 8388608 bytes");
}

TEST(ParseConfig, InvalidJson) {
  // The stray '}' is the 16th byte.
  expect_config_error(R"({"os": "linux",})", ErrorKind::bad_input, "config: invalid JSON at byte 16");
}

// ---------------------------------------------------------------- detect

TEST(DetectManifestType, DeclaredKnownTypeWins) {
  EXPECT_EQ(detect_manifest_type(kDockerListDoc, mt::kDockerManifestList), mt::kDockerManifestList);
  EXPECT_EQ(detect_manifest_type(kOciManifestDoc, mt::kOciManifest), mt::kOciManifest);
  EXPECT_EQ(detect_manifest_type(kOciManifestDoc, "application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
            mt::kOciManifest);
}

TEST(DetectManifestType, GenericContentTypeFallsBackToTheDocument) {
  EXPECT_EQ(detect_manifest_type(kDockerListDoc, "application/json"), mt::kDockerManifestList);
  EXPECT_EQ(detect_manifest_type(kDockerManifestDoc, "text/plain"), mt::kDockerManifest);
  EXPECT_EQ(detect_manifest_type(kOciIndexDoc, ""), mt::kOciIndex);
}

TEST(DetectManifestType, ShapeDecidesWithoutMediaType) {
  const std::string manifest =
      with(kOciManifestDoc, R"("mediaType": "application/vnd.oci.image.manifest.v1+json",)", "");
  EXPECT_EQ(detect_manifest_type(manifest, "application/octet-stream"), mt::kOciManifest);
  EXPECT_EQ(detect_manifest_type(R"({"schemaVersion": 2, "manifests": []})", ""), mt::kOciIndex);
}

TEST(DetectManifestType, RefusesWhatItCannotTell) {
  expect_error([] { (void)detect_manifest_type(R"({"schemaVersion": 2, "manifests": [], "layers": []})", ""); },
               ErrorKind::bad_input, "ambiguous (CVE-2021-41190)");
  expect_error([] { (void)detect_manifest_type(R"({"schemaVersion": 2})", ""); }, ErrorKind::bad_input,
               "manifest: neither an image manifest nor an image index");
  expect_error([] { (void)detect_manifest_type(R"({"schemaVersion": 1, "name": "x", "fsLayers": []})", ""); },
               ErrorKind::unsupported, "schema 1 is not supported");
  expect_error([] { (void)detect_manifest_type(R"({"mediaType": "application/vnd.oci.artifact.manifest.v1+json"})", ""); },
               ErrorKind::unsupported,
               "manifest: mediaType: unsupported manifest media type \"application/vnd.oci.artifact.manifest.v1+json\"");
  expect_error([] { (void)detect_manifest_type("<html>", "text/html"); }, ErrorKind::bad_input,
               "manifest: invalid JSON at byte 1");
}

// ---------------------------------------------------------------- select_platform

Platform platform(std::string os, std::string arch, std::string variant = {}) {
  Platform p;
  p.os = std::move(os);
  p.architecture = std::move(arch);
  p.variant = std::move(variant);
  return p;
}

TEST(SelectPlatform, PicksTheMatchingEntry) {
  const Index index = parse_index(kDockerListDoc);
  EXPECT_EQ(select_platform(index, platform("linux", "amd64")).digest, d(kLayer0));
  EXPECT_EQ(select_platform(index, platform("linux", "arm", "v6")).digest, d(kLayer1));
  EXPECT_EQ(select_platform(index, platform("linux", "arm", "v7")).digest, d(kLayer2));
  EXPECT_EQ(select_platform(index, platform("linux", "arm64")).digest, d(kConfigDigest));
  EXPECT_EQ(select_platform(index, platform("windows", "amd64")).platform->os, "windows");
}

TEST(SelectPlatform, NormalisesWhatIsAsked) {
  const Index index = parse_index(kDockerListDoc);
  EXPECT_EQ(select_platform(index, platform("linux", "x86_64")).digest, d(kLayer0));
  EXPECT_EQ(select_platform(index, platform("linux", "aarch64")).digest, d(kConfigDigest));
  // "arm" alone means v7 (containerd's Normalize), not the v6 entry listed first.
  EXPECT_EQ(select_platform(index, platform("linux", "arm")).digest, d(kLayer2));
}

TEST(SelectPlatform, PrefersAnExactVariant) {
  // An amd64/v3 host also runs baseline amd64 images, listed first here.
  const std::string doc = R"({"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
     "digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
     "platform": {"os": "linux", "architecture": "amd64"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
     "digest": "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b",
     "platform": {"os": "linux", "architecture": "amd64", "variant": "v3"}}]})";
  const Index index = parse_index(doc);
  EXPECT_EQ(select_platform(index, platform("linux", "amd64", "v3")).digest, d(kLayer1));
  EXPECT_EQ(select_platform(index, platform("linux", "amd64")).digest, d(kLayer0));
  // No exact variant: the first entry that runs there.
  EXPECT_EQ(select_platform(index, platform("linux", "amd64", "v4")).digest, d(kLayer0));
}

TEST(SelectPlatform, IgnoresAttestationsArtifactsAndEntriesWithoutPlatform) {
  const Index index = parse_index(kOciIndexDoc);
  EXPECT_EQ(select_platform(index, platform("linux", "arm64")).digest, d(kLayer1));
  // The only s390x entry is an SBOM artifact, the unknown/unknown one an attestation.
  expect_error([&] { (void)select_platform(index, platform("linux", "s390x")); }, ErrorKind::not_found,
               "no image for platform linux/s390x");
  expect_error([&] { (void)select_platform(index, platform("unknown", "unknown")); }, ErrorKind::not_found,
               "no image for platform unknown/unknown");
}

TEST(SelectPlatform, NotFoundListsWhatTheIndexOffers) {
  const Index index = parse_index(kOciIndexDoc);
  try {
    (void)select_platform(index, platform("linux", "ppc64le"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_NE(e.message().find("it offers linux/amd64, linux/arm64"), std::string::npos) << e.message();
    EXPECT_EQ(e.message().find("unknown"), std::string::npos) << e.message();
    EXPECT_EQ(e.message().find("s390x", e.message().find("offers")), std::string::npos) << e.message();
  }
  const Index empty = parse_index(R"({"schemaVersion": 2, "manifests": []})");
  expect_error([&] { (void)select_platform(empty, platform("linux", "amd64")); }, ErrorKind::not_found,
               "it offers no runnable platform");
}

// ---------------------------------------------------------------- chain_ids

TEST(ChainIds, EmptyAndSingleLayer) {
  EXPECT_TRUE(chain_ids({}).empty());
  const Digest only = d(kLayer0);
  EXPECT_EQ(chain_ids({only}), std::vector<Digest>{only});
}

TEST(ChainIds, ThreeLayers) {
  // Made with python3 hashlib: diff IDs are sha256 of "layer-a", "layer-b",
  // "layer-c"; then c[0] = diff[0], c[n] = "sha256:" + sha256(c[n-1] + " " + diff[n]).hexdigest().
  const std::vector<Digest> diff_ids{d("sha256:589f0d58b9053a4ff7329b8fdb4f9dd120e29354c086ad0b3b10733f6cfd6de3"),
                                     d("sha256:55fea2a37a9fc5963f1beccd0d162b856e6bd05ca07cdd3726847846ab740f0d"),
                                     d("sha256:e6c65c655ca8172ab7a2b634dab3220a45472dd6571b6efd956ccc05e229a201")};
  EXPECT_EQ(chain_ids(diff_ids),
            (std::vector<Digest>{d("sha256:589f0d58b9053a4ff7329b8fdb4f9dd120e29354c086ad0b3b10733f6cfd6de3"),
                                 d("sha256:267c5fd16af60e52927fabf0a36a31f3b5a2069347f7f00c7bd7f93f6ebc01f4"),
                                 d("sha256:82c0ed5f6c15be9b9180a8c04b9f2c676d74af6db13c711f5bb47a0fa43b56df")}));
}

TEST(ChainIds, MatchesDockerLayerdb) {
  // A Docker host's image/overlay2/layerdb/sha256/<chain id> for two ubuntu
  // layers, as published with `echo -n "<diff0> <diff1>" | sha256sum` and
  // rechecked here with python3 hashlib.
  const std::vector<Digest> ids =
      chain_ids({d("sha256:2dc9f76fb25b31e0ae9d36adce713364c682ba0d2fa70756486e5cedfaf40012"),
                 d("sha256:9f3bfcc4a1a8a676da07287a1aa6f2dcc8e869ea6f054c337593481a5bb1345e")});
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[1], d("sha256:61199b56f34827cbab596c63fd6e0ac0c448faa7e026e330994818190852d479"));
}

}  // namespace
}  // namespace gantry::core
