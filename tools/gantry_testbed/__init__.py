"""gantry's test bed: real registries on loopback, an image builder with full
control over tar headers, a push client, and deliberately broken images.
Standard library only (plus the `docker-registry`, `openssl`, `htpasswd` and
`zstd` commands), run with Debian's /usr/bin/python3.

    from gantry_testbed import registry, images, broken

    info = registry.start("/tmp/reg", "tls")        # -> RegistryInfo; error if one runs there
    image = images.busybox_image("oci", "zstd")     # or rich_image(), platform_image(p)
    digest = info.client.push_image("demo/busybox", image, tag="latest")
    info.ref("demo/busybox", "latest")              # "127.0.0.1:PORT/demo/busybox:latest"
    bad = broken.truncated_gzip(info, "demo/bad")   # -> Broken(ref, digest, what, culprit, ...)
    registry.stop("/tmp/reg")                       # no-op if nothing runs

Modules, bottom up:
  tarwriter  Entry (one tar member as described) and TarWriter/tar_bytes
  content    RandomContent for large reproducible file data (bytes and Paths work too)
  layers     build_layer(entries, compression, path=None) -> Layer; whiteout(), opaque()
  images     Platform, ImageConfig, build_image, build_index, busybox/rich/platform images
  trees      the described trees behind those images
  push       RegistryClient: push_blob/push_manifest/push_image/push_index, get_*
  registry   start/stop/running, RegistryInfo (DIR/registry.json + .client)
  broken     GENERATORS: images a careful puller must refuse
  faultproxy a proxy in front of a registry that fails, stalls, corrupts,
             redirects, throttles or demands Bearer tokens, and logs requests
  tokenserver a docker token server that checks service, credentials and scope
  gantry_cli runs the gantry binary for tests (own HOME, --json parsing)
  ocistore   reads a gantry store (index.json refs, blobs, partial files) with hashlib
"""
