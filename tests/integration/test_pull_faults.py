"""`gantry pull` through the fault proxy: a flaky registry is survived and a
lying one is caught. Server errors are retried, a connection that breaks
mid-blob is resumed with a Range request from the break (no byte fetched
twice), Retry-After is waited, a stalled connection is dropped and resumed,
and bytes that do not hash to their digest never reach blobs/."""

from __future__ import annotations

import secrets

import pytest

from gantry_testbed import images, layers
from gantry_testbed.content import RandomContent
from gantry_testbed.faultproxy import Corrupt, Cut, Stall, Status
from gantry_testbed.ocistore import OciStore
from gantry_testbed.tarwriter import Entry

LAYER_BYTES = 1 << 20


@pytest.fixture
def image(registry_plain, repo) -> images.Image:
    """One uncompressed layer of ~1 MiB of fresh random bytes, plus a small one."""
    big = layers.build_layer([Entry("data", data=RandomContent(LAYER_BYTES, secrets.randbits(64)))],
                             "none")
    small = layers.build_layer([Entry("etc", "dir"),
                                Entry("etc/small", data=secrets.token_bytes(64))])
    image = images.build_image([big, small])
    registry_plain.client.push_image(repo, image, tag="v1")
    return image


def _big(image: images.Image) -> str:
    return image.layers[0].blob.digest


def _assert_pulled(gantry, image: images.Image, ref: str) -> None:
    store = OciStore(gantry.store)
    assert store.wrong_blobs([image.manifest, *image.blobs()]) == []
    assert store.refs()[ref]["digest"] == image.digest
    assert store.partials() == {}


def test_server_errors_are_retried(image, repo, gantry, fault_proxy, registry_plain):
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(_big(image), Status(500), times=2)
    proxy.add_rule("/manifests/v1$", Status(502))
    ref = proxy.ref(repo, "v1")

    run = gantry.ok("pull", "--plain-http", "--json", ref)

    assert [r.status for r in proxy.blob_gets(_big(image))] == [500, 500, 200]
    assert [r.status for r in proxy.requests(path="/manifests/v1$", method="GET")] == [502, 200]
    retried = [e["what"] for e in run.of("retry")]
    assert sorted(retried) == sorted([f"GET {proxy.url}/v2/{repo}/blobs/{_big(image)}"] * 2
                                     + [f"GET {proxy.url}/v2/{repo}/manifests/v1"])
    _assert_pulled(gantry, image, ref)


def test_server_errors_without_end_fail_after_a_few_attempts(image, repo, gantry, fault_proxy,
                                                            registry_plain):
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(_big(image), Status(503), times=None)

    line = gantry.fails("pull", "--plain-http", proxy.ref(repo, "v1"))

    assert "503" in line and _big(image) in line
    attempts = len(proxy.blob_gets(_big(image)))
    assert 1 < attempts < 10
    store = OciStore(gantry.store)
    assert not store.has(_big(image)) and store.refs() == {}


@pytest.mark.parametrize("reset,cut", [(True, 300_000), (False, 300_000), (True, 100)],
                         ids=["reset", "close", "reset-early"])
def test_broken_connection_resumes_where_it_broke(image, repo, gantry, fault_proxy,
                                                 registry_plain, reset, cut):
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(_big(image), Cut(cut, reset=reset))
    ref = proxy.ref(repo, "v1")
    size = image.layers[0].blob.size

    run = gantry.ok("pull", "--plain-http", "--json", ref)

    first, second = proxy.blob_gets(_big(image))
    assert (first.header("Range"), first.body_bytes) == (None, cut)
    assert second.header("Range") == f"bytes={cut}-"
    assert (second.status, second.body_bytes) == (206, size - cut)
    # Over both connections, gantry took every byte exactly once.
    [done] = [e for e in run.of("blob_done") if e["digest"] == _big(image)]
    assert done["fetched"] == size
    assert len(run.of("retry")) == 1
    _assert_pulled(gantry, image, ref)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_waited(image, repo, gantry, fault_proxy, registry_plain, status):
    proxy = fault_proxy(registry_plain)
    # Longer than the first backoff could be (250 ms), so only honouring
    # Retry-After explains the gap.
    proxy.add_rule(_big(image), Status(status, {"Retry-After": "1"}))
    ref = proxy.ref(repo, "v1")

    run = gantry.ok("pull", "--plain-http", "--json", ref)

    refused, served = proxy.blob_gets(_big(image))
    assert (refused.status, served.status) == (status, 200)
    assert served.started - refused.finished >= 1.0
    [retry] = run.of("retry")
    assert retry["delay_ms"] == 1000
    _assert_pulled(gantry, image, ref)


def test_retry_after_beyond_the_limit_fails_at_once(image, repo, gantry, fault_proxy,
                                                    registry_plain):
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(_big(image), Status(503, {"Retry-After": "86400"}), times=None)

    line = gantry.fails("pull", "--plain-http", proxy.ref(repo, "v1"))

    assert "86400" in line and _big(image) in line
    assert len(proxy.blob_gets(_big(image))) == 1


def test_missing_blob_fails_naming_it(image, repo, gantry, fault_proxy, registry_plain):
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(_big(image), Status(404), times=None)

    line = gantry.fails("pull", "--plain-http", proxy.ref(repo, "v1"))

    assert "404" in line and _big(image) in line
    assert len(proxy.blob_gets(_big(image))) == 1  # not worth a retry
    assert OciStore(gantry.store).refs() == {}


@pytest.mark.parametrize("which", ["layer", "config"])
def test_wrong_bytes_are_rejected_naming_the_digest(image, repo, gantry, fault_proxy,
                                                   registry_plain, which):
    digest = _big(image) if which == "layer" else image.config.digest
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(digest, Corrupt(), times=None)

    line = gantry.fails("pull", "--plain-http", proxy.ref(repo, "v1"))

    assert digest in line
    store = OciStore(gantry.store)
    assert not store.has(digest)
    assert digest not in store.partials()
    assert store.misnamed() == {}
    assert store.refs() == {}


@pytest.mark.parametrize("by", ["tag", "digest"])
def test_manifest_that_does_not_match_its_digest_is_refused(image, repo, gantry, fault_proxy,
                                                            registry_plain, by):
    proxy = fault_proxy(registry_plain)
    # One hex digit of the config digest inside the manifest changes: still
    # valid JSON, so only the manifest's digest can tell.
    at = image.manifest.data.index(image.config.digest.encode()) + len("sha256:") + 10
    proxy.add_rule("/manifests/", Corrupt(at), times=None)
    ref = proxy.ref(repo, "v1") if by == "tag" else proxy.ref(repo, digest=image.digest)

    line = gantry.fails("pull", "--plain-http", ref)

    assert image.digest in line  # by tag, the Docker-Content-Digest the registry announced
    assert OciStore(gantry.store).digests() == set()
    assert proxy.requests(path="/blobs/") == []


def test_stalled_connection_is_dropped_and_resumed(image, repo, gantry, fault_proxy,
                                                   registry_plain):
    proxy = fault_proxy(registry_plain)
    # Silent until the proxy stops: only gantry's stall detection ends it.
    proxy.add_rule(_big(image), Stall(after=300_000, seconds=3600))
    ref = proxy.ref(repo, "v1")

    run = gantry.ok("pull", "--plain-http", "--json", "--stall-timeout", "1", ref)

    stalled, resumed = proxy.blob_gets(_big(image))
    assert stalled.body_bytes == 300_000
    assert resumed.header("Range") == "bytes=300000-"
    assert len(run.of("retry")) == 1
    _assert_pulled(gantry, image, ref)
