"""A real pull-through cache as gantry's mirror: Debian's `docker-registry`
in proxy mode (`proxy.remoteurl`, the test bed's start_proxy) in front of
the plain registry.

- The origin reachable only through the cache: the reference names a
  registry on a closed port, scoped to the cache with `--mirror
  ORIGIN=CACHE`; pull, pull --unpack and unpack succeed, the cache keeps
  what it fetched, and with the origin stopped it serves a pull alone.
- The cache down: the origin serves the pull, and `--json` says with
  `retry` events, one per request, that the mirror could not be reached.
"""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path

import pytest

from gantry_testbed import images
from gantry_testbed import registry as testbed
from gantry_testbed.gantry_cli import Gantry
from gantry_testbed.ocistore import OciStore
from gantry_testbed.push import RegistryError

CACHED_WITHIN = 30.0  # s: a deadline for the cache's background store, not a goal


@pytest.fixture
def pull_through_cache(scratch):
    """A factory: pull_through_cache(ORIGIN) starts a cache of ORIGIN from
    scratch/cache-N and returns (that directory, the cache); stopped after
    the test."""
    directories: list[Path] = []

    def start(origin: testbed.RegistryInfo) -> tuple[Path, testbed.RegistryInfo]:
        directories.append(scratch / f"cache-{len(directories)}")
        return directories[-1], testbed.start_proxy(directories[-1], origin)

    yield start
    for directory in directories:
        testbed.stop(directory)


@pytest.fixture
def own_origin(scratch):
    """A plain registry of this test's own, which it may stop (the session's
    is shared by the other tests)."""
    directory = scratch / "origin"
    yield directory, testbed.start(directory, "plain")
    testbed.stop(directory)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _through_cache(cache: testbed.RegistryInfo, repo: str) -> tuple[str, list[str]]:
    """A reference whose registry nothing listens for, and the options that
    make `cache` its mirror (plain HTTP to the cache alone, as the README
    says): the cache is the only way to the image."""
    unreachable = f"127.0.0.1:{_closed_port()}"
    return f"{unreachable}/{repo}:v1", ["--plain-http-host", cache.host,
                                        "--mirror", f"{unreachable}={cache.host}"]


def _assert_in_store(gantry: Gantry, image: images.Image, ref: str) -> None:
    store = OciStore(gantry.store)
    assert store.wrong_blobs([image.manifest, *image.blobs()]) == []
    assert store.refs()[ref]["digest"] == image.digest
    assert store.partials() == {}


def _wait_cached(cache: testbed.RegistryInfo, repo: str, image: images.Image) -> None:
    """Until the cache holds every blob of `image` for `repo`: its bytes, and
    the repository's link to them (what it serves from without the origin).
    Distribution stores a proxied blob by a fetch of its own after serving it."""
    repository = Path(cache.storage) / "docker/registry/v2/repositories" / repo
    links = {blob.digest: repository / "_layers/sha256" / blob.digest.split(":")[1] / "link"
             for blob in image.blobs()}
    deadline = time.monotonic() + CACHED_WITHIN
    while missing := [digest for digest, link in links.items() if not link.exists()]:
        assert time.monotonic() < deadline, f"the cache did not store {missing} within {CACHED_WITHIN} s"
        time.sleep(0.05)
    for blob in image.blobs():
        data = cache.blob_data_path(blob.digest).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == blob.digest


def test_the_cache_answers_the_ping_and_takes_no_push(registry_plain, pull_through_cache, repo):
    _, cache = pull_through_cache(registry_plain)

    assert cache.client.ping() == 200
    with pytest.raises(RegistryError) as refused:
        cache.client.push_image(repo, images.rich_image(), tag="v1")
    assert refused.value.response.status == 405  # content comes from the origin only


COMMANDS = {"pull": ["pull"], "pull-unpack": ["pull", "--unpack"], "unpack": ["unpack"]}


@pytest.mark.parametrize("mode", COMMANDS)
def test_origin_reachable_only_through_the_cache(registry_plain, pull_through_cache, repo, gantry,
                                                 scratch, mode):
    image = images.rich_image()
    registry_plain.client.push_image(repo, image, tag="v1")
    _, cache = pull_through_cache(registry_plain)
    ref, options = _through_cache(cache, repo)
    target = scratch / "rootfs"

    gantry.ok(*COMMANDS[mode], *options, "--quiet", ref, *([str(target)] if mode == "unpack" else []))

    _assert_in_store(gantry, image, ref)
    if mode == "unpack":
        assert (target / "etc/hello.txt").read_bytes() == b"hello again\n"  # the top layer's overwrite
        assert not (target / "etc/remove-me").exists()  # and its whiteout
    if mode == "pull-unpack":
        snapshots = gantry.store / "snapshots/sha256"
        base = snapshots / image.layers[0].diff_id.split(":")[1]  # a base layer's chain ID is its diff ID
        [top] = [d for d in snapshots.iterdir() if d != base]
        assert (base / "etc/hello.txt").read_bytes() == b"hello\n"
        assert (top / "etc/hello.txt").read_bytes() == b"hello again\n"
    _wait_cached(cache, repo, image)


def test_the_cache_serves_a_pull_alone_once_the_origin_is_gone(own_origin, pull_through_cache, repo,
                                                              gantry, gantry_bin, scratch):
    origin_dir, origin = own_origin
    image = images.rich_image()
    origin.client.push_image(repo, image, tag="v1")
    _, cache = pull_through_cache(origin)
    ref, options = _through_cache(cache, repo)
    gantry.ok("pull", *options, "--quiet", ref)
    _wait_cached(cache, repo, image)
    assert testbed.stop(origin_dir)
    with pytest.raises(OSError):
        origin.client.ping()

    again = Gantry(gantry_bin, scratch / "store-2", scratch / "home")
    again.ok("pull", *options, "--quiet", ref)

    _assert_in_store(again, image, ref)


def test_the_cache_down_the_origin_serves_and_retry_events_say_so(registry_plain, pull_through_cache,
                                                                  repo, gantry, fault_proxy):
    image = images.rich_image()
    registry_plain.client.push_image(repo, image, tag="v1")
    origin = fault_proxy(registry_plain)
    cache_dir, cache = pull_through_cache(registry_plain)
    assert testbed.stop(cache_dir)  # down: nothing listens on its port any more
    ref = origin.ref(repo, "v1")

    run = gantry.ok("pull", "--plain-http", "--json", "--mirror", f"{origin.host}={cache.host}", ref)

    served = {r.path.rsplit("/", 1)[1] for r in origin.requests(path="/blobs/", method="GET")
              if r.status == 200}
    assert served == {blob.digest for blob in image.blobs()}
    retries = run.of("retry")
    given_up = [r for r in retries if r["what"] == f"mirror {cache.host}"]
    retries = [r for r in retries if r not in given_up]
    on_the_cache = f"GET {cache.url}/v2/{repo}/"
    assert {r["what"] for r in retries} == {on_the_cache + "manifests/v1"} | {
        on_the_cache + f"blobs/{blob.digest}" for blob in image.blobs()}
    for retry in retries:
        assert "Connection refused" in retry["reason"] and cache.host in retry["reason"], retry
    # Each request that left the cache for the origin says so, once.
    assert len(given_up) == len(image.blobs()) + 1
    for retry in given_up:
        assert retry["reason"].startswith(f"giving up mirror {cache.host} for the next host: "), retry
        assert retry["image"] == ref
    _assert_in_store(gantry, image, ref)
