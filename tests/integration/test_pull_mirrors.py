"""`gantry pull --mirror REGISTRY=HOST`: the mirror is asked first with the
same repository path; the origin is used only when the mirror lacks the
image or cannot be reached. A mirror serves only the registry it is given
for: without REGISTRY= that is docker.io (as Docker's registry-mirrors), so
a Docker Hub cache never answers for another registry's names. Origin and
mirror are fault proxies (logging every request) in front of two different
registries: the plain one as the origin, the TLS one as the mirror."""

from __future__ import annotations

import socket

import pytest

from gantry_testbed import images
from gantry_testbed.faultproxy import Corrupt, Status
from gantry_testbed.ocistore import OciStore


def _assert_pulled(gantry, image: images.Image, ref: str) -> None:
    store = OciStore(gantry.store)
    assert store.wrong_blobs([image.manifest, *image.blobs()]) == []
    assert store.refs()[ref]["digest"] == image.digest


def _blobs_served(proxy) -> set[str]:
    return {r.path.rsplit("/", 1)[1] for r in proxy.requests(path="/blobs/", method="GET")
            if r.status == 200}


def test_mirror_without_the_image_falls_back_to_the_origin(registry_plain, registry_tls, repo,
                                                           gantry, fault_proxy):
    image = images.rich_image()
    registry_plain.client.push_image(repo, image, tag="v1")
    origin, mirror = fault_proxy(registry_plain), fault_proxy(registry_tls)
    ref = origin.ref(repo, "v1")

    gantry.ok("pull", "--plain-http", "--mirror", f"{origin.host}={mirror.host}", ref)

    assert mirror.requests(path=f"^/v2/{repo}/manifests/v1$")  # asked first...
    assert {r.status for r in mirror.requests(path=f"^/v2/{repo}/")} == {404}
    assert _blobs_served(origin) == {blob.digest for blob in image.blobs()}  # ...origin served
    _assert_pulled(gantry, image, ref)


def test_mirror_with_the_image_spares_the_origin(registry_plain, registry_tls, repo, gantry,
                                                 fault_proxy):
    image = images.rich_image()
    for registry in (registry_plain, registry_tls):
        registry.client.push_image(repo, image, tag="v1")
    origin, mirror = fault_proxy(registry_plain), fault_proxy(registry_tls)
    ref = origin.ref(repo, "v1")

    gantry.ok("pull", "--plain-http", "--mirror", f"{origin.host}={mirror.host}", ref)

    assert _blobs_served(mirror) == {blob.digest for blob in image.blobs()}
    assert origin.requests(path="/blobs/") == []
    _assert_pulled(gantry, image, ref)


def test_a_mirror_serves_only_the_registry_it_is_given_for(registry_plain, registry_tls, repo, gantry,
                                                           fault_proxy):
    image = images.rich_image()
    registry_tls.client.push_image(repo, image, tag="v1")  # the mirror has it, the origin not
    origin, mirror = fault_proxy(registry_plain), fault_proxy(registry_tls)
    ref = origin.ref(repo, "v1")

    for not_its_mirror in (mirror.host, f"docker.io={mirror.host}", f"127.0.0.1:1={mirror.host}"):
        line = gantry.fails("pull", "--plain-http", "--mirror", not_its_mirror, ref)
        assert "404 Not Found: tag v1 not found" in line and origin.host in line, line  # the origin's verdict
        assert f"mirror {mirror.host}" not in line, line
    assert mirror.requests() == []  # never asked

    gantry.ok("pull", "--plain-http", "--mirror", f"{origin.host}={mirror.host}", ref)

    assert _blobs_served(mirror) == {blob.digest for blob in image.blobs()}
    assert origin.requests(path="/blobs/") == []
    _assert_pulled(gantry, image, ref)


def test_mirrors_of_one_registry_are_tried_in_order_then_the_origin(registry_plain, registry_tls, repo,
                                                                      gantry, fault_proxy):
    image = images.rich_image()
    registry_tls.client.push_image(repo, image, tag="v1")
    origin, empty, full = fault_proxy(registry_plain), fault_proxy(registry_plain), fault_proxy(registry_tls)
    ref = origin.ref(repo, "v1")

    gantry.ok("pull", "--plain-http", "--mirror", f"{origin.host}={empty.host}",
              "--mirror", f"{origin.host}={full.host}", ref)

    assert [r.status for r in empty.requests(path=f"^/v2/{repo}/manifests/v1$")] == [404]  # first...
    assert _blobs_served(full) == {blob.digest for blob in image.blobs()}  # ...then the second
    assert origin.requests(path=f"^/v2/{repo}/") == []
    _assert_pulled(gantry, image, ref)


@pytest.mark.parametrize("bad", ["=127.0.0.1:5000", "127.0.0.1:5000=", "http://127.0.0.1:5000",
                                 "127.0.0.1:5000=https://127.0.0.1:6000", "mirror host", "a=b=c",
                                 "127.0.0.1:5000/path"])
def test_bad_mirror_syntax_is_one_line_before_any_work(gantry, fault_proxy, registry_plain, repo, bad):
    origin = fault_proxy(registry_plain)

    line = gantry.fails("pull", "--plain-http", "--mirror", bad, origin.ref(repo, "v1"))

    assert line.startswith("gantry: error: --mirror: ") and bad in line, line
    assert origin.requests() == []
    assert not gantry.store.exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_mirror_falls_back_to_the_origin(registry_plain, repo, gantry, fault_proxy):
    image = images.rich_image()
    registry_plain.client.push_image(repo, image, tag="v1")
    origin = fault_proxy(registry_plain)
    ref = origin.ref(repo, "v1")

    gantry.ok("pull", "--plain-http", "--mirror", f"{origin.host}=127.0.0.1:{_closed_port()}", ref)

    assert _blobs_served(origin) == {blob.digest for blob in image.blobs()}
    _assert_pulled(gantry, image, ref)


def test_blob_the_mirror_fails_on_comes_from_the_origin(registry_plain, registry_tls, repo,
                                                        gantry, fault_proxy):
    image = images.rich_image()
    for registry in (registry_plain, registry_tls):
        registry.client.push_image(repo, image, tag="v1")
    origin, mirror = fault_proxy(registry_plain), fault_proxy(registry_tls)
    failing = image.layers[0].blob.digest
    mirror.add_rule(failing, Status(500), times=None)
    ref = origin.ref(repo, "v1")

    gantry.ok("pull", "--plain-http", "--mirror", f"{origin.host}={mirror.host}", ref)

    assert _blobs_served(origin) == {failing}
    assert _blobs_served(mirror) == {blob.digest for blob in image.blobs()} - {failing}
    _assert_pulled(gantry, image, ref)


@pytest.mark.parametrize("which", ["layer", "config"])
def test_wrong_bytes_from_the_mirror_are_dropped_for_the_origin(registry_plain, registry_tls, repo,
                                                                gantry, fault_proxy, which):
    image = images.rich_image()
    for registry in (registry_plain, registry_tls):
        registry.client.push_image(repo, image, tag="v1")
    origin, mirror = fault_proxy(registry_plain), fault_proxy(registry_tls)
    corrupted = image.layers[0].blob.digest if which == "layer" else image.config.digest
    mirror.add_rule(corrupted, Corrupt(), times=None)
    ref = origin.ref(repo, "v1")

    run = gantry.ok("pull", "--plain-http", "--json", "--mirror", f"{origin.host}={mirror.host}", ref)

    assert _blobs_served(origin) == {corrupted}
    assert len(mirror.blob_gets(corrupted)) == 1  # not asked again: it is passed over
    [retry, given_up] = run.of("retry")
    assert retry["what"] == f"GET {mirror.url}/v2/{repo}/blobs/{corrupted}"
    assert f"mirror {mirror.host}" in retry["reason"] and corrupted in retry["reason"]
    # Then the mirror is passed over for the origin, and that is said too.
    assert given_up["what"] == f"mirror {mirror.host}"
    assert given_up["reason"].startswith(f"giving up mirror {mirror.host} for the next host: ")
    _assert_pulled(gantry, image, ref)
    assert OciStore(gantry.store).partials() == {}
