#include "registry/detail/resolver.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/manifest.hpp"
#include "core/media_types.hpp"
#include "registry/detail/errors.hpp"
#include "registry/detail/string_sink.hpp"
#include "registry/store_sink.hpp"

namespace gantry::registry::detail {

namespace {

namespace media_type = core::media_type;
using core::Error;
using core::ErrorKind;

std::string mib(std::size_t bytes) { return std::to_string(bytes / (1024 * 1024)) + " MiB"; }

// What an error about one document of `reference` names.
core::ErrorContext about(const core::Reference& reference, const std::optional<core::Digest>& digest) {
  return core::ErrorContext{.registry = reference.registry, .repository = reference.repository,
                            .digest = digest ? digest->string() : std::string()};
}

// Runs a parser of core/manifest.hpp, whose errors name the field that is
// wrong, and adds which document of which repository it was.
template <class Parse>
auto in_context(const core::ErrorContext& context, Parse parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const Error& error) {
    throw Error(error.kind(), error.message(), merged(error.context(), context));
  }
}

// Content-Type without parameters ("application/json; charset=utf-8").
std::string content_type_of(const Response& response) {
  std::string_view value = find_header(response.headers(), "Content-Type").value_or("");
  value = value.substr(0, value.find(';'));
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  return std::string(value);
}

std::optional<core::Digest> docker_content_digest(const Response& response) {
  std::optional<std::string_view> value = find_header(response.headers(), "Docker-Content-Digest");
  if (!value) return std::nullopt;
  try {
    return core::Digest::parse(*value);
  } catch (const Error&) {
    return std::nullopt;  // an algorithm we do not know cannot be checked; the reference's digest still is
  }
}

// The checks every manifest passes whatever its source: its digest is the
// one asked for and the one the registry claims, its size the index's.
void verify_manifest(const std::string& bytes, const std::optional<core::Digest>& want, const core::Descriptor* entry,
                     const std::optional<core::Digest>& claimed, const core::ErrorContext& context) {
  if (want) {
    core::Digest got = core::digest_of(bytes, want->algorithm());
    if (got != *want) {
      throw Error(ErrorKind::digest_mismatch,
                  "manifest digest mismatch: the registry sent " + got.string() + " for " + want->string(), context);
    }
  }
  if (claimed) {
    core::Digest got = core::digest_of(bytes, claimed->algorithm());
    if (got != *claimed) {
      throw Error(ErrorKind::digest_mismatch,
                  "manifest digest mismatch: the bytes hash to " + got.string() + ", Docker-Content-Digest says " +
                      claimed->string(),
                  context);
    }
  }
  if (entry && static_cast<std::int64_t>(bytes.size()) != entry->size) {
    throw Error(ErrorKind::bad_input,
                "manifest is " + std::to_string(bytes.size()) + " bytes, the index says " + std::to_string(entry->size),
                context);
  }
}

core::Descriptor descriptor_of(const std::string& media, const core::Digest& digest, std::size_t size) {
  return core::Descriptor{.media_type = media, .digest = digest, .size = static_cast<std::int64_t>(size)};
}

}  // namespace

asio::awaitable<std::vector<core::Platform>> Resolver::platforms(const core::Reference& reference,
                                                                const core::ContentStore* store) {
  Document top = co_await manifest(reference, nullptr, store);
  std::vector<core::Platform> out;
  if (!media_type::is_index(top.media_type)) co_return out;
  const core::Index index =
      in_context(about(reference, top.digest), [&] { return core::parse_index(top.bytes, top.media_type); });
  for (const core::Descriptor& entry : core::runnable_entries(index)) {
    if (std::find(out.begin(), out.end(), *entry.platform) == out.end()) out.push_back(*entry.platform);
  }
  co_return out;
}

asio::awaitable<ResolvedImage> Resolver::resolve(const core::Reference& reference, core::ContentStore* store,
                                                 std::optional<core::Platform> asked) {
  const Options& options = session_.options();
  const std::optional<core::Platform> wanted = asked ? asked : options.platform;

  std::optional<std::chrono::steady_clock::time_point> auth_at;
  Document top = co_await manifest(reference, nullptr, store, &auth_at);
  std::optional<core::Descriptor> index_descriptor;
  std::optional<core::Index> index;
  std::string index_bytes;
  core::Descriptor manifest_descriptor = descriptor_of(top.media_type, top.digest, top.bytes.size());
  Document chosen = std::move(top);
  if (media_type::is_index(chosen.media_type)) {
    core::ErrorContext index_context = about(reference, chosen.digest);
    index = in_context(index_context, [&] { return core::parse_index(chosen.bytes, chosen.media_type); });
    core::Platform want = wanted.value_or(core::Platform::host());
    manifest_descriptor = in_context(index_context, [&] { return core::select_platform(*index, want); });
    if (!media_type::is_manifest(manifest_descriptor.media_type)) {
      throw Error(ErrorKind::unsupported,
                  "the index entry for " + want.string() + " is a " + manifest_descriptor.media_type +
                      ", not an image manifest",
                  index_context);
    }
    index_descriptor = descriptor_of(chosen.media_type, chosen.digest, chosen.bytes.size());
    index_bytes = std::move(chosen.bytes);
    chosen = co_await manifest(reference, &manifest_descriptor, store);
  } else if (!media_type::is_manifest(chosen.media_type)) {
    throw Error(ErrorKind::unsupported, "unsupported manifest media type \"" + chosen.media_type + "\"",
                about(reference, chosen.digest));
  }

  const auto manifest_at = std::chrono::steady_clock::now();
  core::ErrorContext context = about(reference, chosen.digest);
  core::Manifest image_manifest =
      in_context(context, [&] { return core::parse_manifest(chosen.bytes, chosen.media_type); });
  const core::Descriptor& config_descriptor = image_manifest.config;
  if (!media_type::is_config(config_descriptor.media_type)) {
    throw Error(ErrorKind::unsupported, "not a container image: its config is a \"" + config_descriptor.media_type + "\"",
                context);
  }
  std::string config_bytes = co_await config(reference, config_descriptor, store);
  const auto config_at = std::chrono::steady_clock::now();
  core::ImageConfig image_config =
      in_context(about(reference, config_descriptor.digest), [&] { return core::parse_config(config_bytes); });

  core::Platform platform = manifest_descriptor.platform.value_or(image_config.platform);
  if (!manifest_descriptor.platform && wanted && !core::matches(*wanted, platform)) {
    throw Error(ErrorKind::not_found, "the image is for " + platform.string() + ", not " + wanted->string(),
                context);
  }
  co_return ResolvedImage{.reference = reference,
                          .index_descriptor = std::move(index_descriptor),
                          .index_bytes = std::move(index_bytes),
                          .index = std::move(index),
                          .manifest_descriptor = std::move(manifest_descriptor),
                          .manifest_bytes = std::move(chosen.bytes),
                          .manifest = std::move(image_manifest),
                          .config_bytes = std::move(config_bytes),
                          .config = std::move(image_config),
                          .platform = std::move(platform),
                          .auth_at = auth_at,
                          .manifest_at = manifest_at,
                          .config_at = config_at};
}

asio::awaitable<Resolver::Document> Resolver::manifest(const core::Reference& reference, const core::Descriptor* entry,
                                                       const core::ContentStore* store,
                                                       std::optional<std::chrono::steady_clock::time_point>* authorized) {
  std::optional<core::Digest> want = entry ? std::optional(entry->digest) : reference.digest;
  std::string what = want ? "manifest " + want->string() : "tag " + reference.tag;
  std::string target = "/v2/" + reference.repository + "/manifests/" + (want ? want->string() : reference.tag);
  core::ErrorContext context = about(reference, want);
  std::string declared = entry ? entry->media_type : std::string();

  auto from_store = [&](const core::Digest& digest, const std::string& content_type) {
    std::string bytes = store->read_blob(digest, core::kMaxManifestSize);
    std::string media =
        in_context(about(reference, digest), [&] { return core::detect_manifest_type(bytes, content_type); });
    return Document{std::move(bytes), std::move(media), digest};
  };
  if (want && store && store->has_blob(*want)) co_return from_store(*want, declared);

  std::optional<Document> result;
  Headers accept{{"Accept", std::string(media_type::kManifestAccept)}};
  co_await session_.each_endpoint(reference, context, [&](const Endpoint& endpoint) -> asio::awaitable<void> {
    co_await session_.retrying(
        "GET " + endpoint.url(target).string(), session_.attempts(endpoint),
        [&](int) -> asio::awaitable<void> {
          if (!want && store) {
            // A tag: HEAD tells the digest, and the store may hold it already.
            Response head = co_await session_.request(endpoint, reference.repository, "HEAD", target, accept, authorized);
            std::optional<core::Digest> claimed = docker_content_digest(head);
            if (head.status() == 200 && claimed && store->has_blob(*claimed)) {
              result = from_store(*claimed, content_type_of(head));
              co_return;
            }
            if (head.status() != 200 && head.status() != 405) co_await session_.raise(head, what, endpoint);
          }
          Response response = co_await session_.request(endpoint, reference.repository, "GET", target, accept, authorized);
          if (response.status() != 200) co_await session_.raise(response, what, endpoint);
          if (response.content_length().value_or(0) > static_cast<std::int64_t>(core::kMaxManifestSize)) {
            throw Error(ErrorKind::bad_input, "manifest larger than the " + mib(core::kMaxManifestSize) + " limit",
                        context);
          }
          std::string bytes = co_await response.read_all(core::kMaxManifestSize);
          std::optional<core::Digest> claimed = docker_content_digest(response);
          verify_manifest(bytes, want, entry, claimed, context);
          std::string content_type = content_type_of(response);
          core::Digest digest = want ? *want : claimed ? *claimed : core::digest_of(bytes);
          std::string media = in_context(about(reference, digest), [&] {
            return core::detect_manifest_type(bytes, content_type.empty() ? declared : content_type);
          });
          result = Document{std::move(bytes), std::move(media), std::move(digest)};
        });
  });
  co_return std::move(*result);
}

asio::awaitable<std::string> Resolver::config(const core::Reference& reference, const core::Descriptor& descriptor,
                                              core::ContentStore* store) {
  if (descriptor.size < 0 || descriptor.size > static_cast<std::int64_t>(core::kMaxConfigSize)) {
    throw Error(ErrorKind::bad_input,
                "config of " + std::to_string(descriptor.size) + " bytes is over the " + mib(core::kMaxConfigSize) +
                    " limit",
                about(reference, descriptor.digest));
  }
  if (!store) {
    std::string bytes;
    StringSinkFactory sinks(bytes);
    co_await fetcher_.fetch_document(reference, descriptor, sinks);
    co_return bytes;
  }
  // Into the store and read back from it: one download per digest, whether
  // two pulls of this process or another process want it at once.
  if (!store->has_blob(descriptor.digest)) {
    StoreSinkFactory sinks(*store);
    co_await fetcher_.fetch_document(reference, descriptor, sinks);
  }
  co_return store->read_blob(descriptor.digest, static_cast<std::size_t>(descriptor.size));
}

}  // namespace gantry::registry::detail
