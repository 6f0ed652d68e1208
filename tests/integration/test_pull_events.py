"""What `gantry pull` reports and what it asks a registry for, seen through
the fault proxy's request log: `--json` events, no blob fetched by a second
pull, and one download per blob when two processes pull into one store."""

from __future__ import annotations

import pytest

from gantry_testbed import images, layers
from gantry_testbed.content import RandomContent
from gantry_testbed.faultproxy import Delay, Throttle
from gantry_testbed.gantry_cli import parse_events
from gantry_testbed.ocistore import OciStore
from gantry_testbed.tarwriter import Entry


def test_json_events_describe_the_pull(registry_plain, repo, gantry):
    image = images.rich_image()
    registry_plain.client.push_image(repo, image, tag="v1")
    ref = registry_plain.ref(repo, "v1")

    run = gantry.ok("pull", "--plain-http", "--json", ref)

    events = run.events  # every line a JSON object with an "event" field
    names = [e["event"] for e in events]
    assert names[0] == "resolved" and names[-2:] == ["done", "timeline"]
    [resolved] = run.of("resolved")
    assert resolved["reference"] == ref
    assert resolved["digest"] == image.digest
    assert resolved["media_type"] == image.media_type
    assert resolved["platform"] == str(image.platform)
    assert resolved["layers"] == len(image.layers)
    assert resolved["total_bytes"] == image.config.size + sum(l.blob.size for l in image.layers)
    sizes = {layer.blob.digest: layer.blob.size for layer in image.layers}
    assert {e["digest"]: e["size"] for e in run.of("blob_started")} == sizes
    assert {e["digest"]: e["fetched"] for e in run.of("blob_done")} == sizes
    for digest in sizes:
        started, done = (next(i for i, e in enumerate(events)
                              if e["event"] == name and e["digest"] == digest)
                         for name in ("blob_started", "blob_done"))
        assert started < done
    [done] = run.of("done")
    assert done["blobs_fetched"] == len(image.layers) and done["blobs_cached"] == 0
    assert done["bytes_fetched"] == sum(sizes.values())
    assert OciStore(gantry.store).refs()[ref]["digest"] == image.digest
    # Events v2: a version, a monotonic time, the image and (blobs) the layer.
    assert {e["v"] for e in events} == {2}
    times = [e["t"] for e in events]
    assert times == sorted(times) and times[0] >= 0
    assert {e["image"] for e in events} == {ref}
    for e in events:
        if e["event"].startswith("blob_"):
            assert e["layer"] == e["digest"]


def test_events_of_several_images_name_each_image(registry_plain, repo, gantry):
    base = _layer(21, 4096)
    first = images.build_image([base, _layer(22, 4096)])
    second = images.build_image([base, _layer(23, 4096)])
    registry_plain.client.push_image(repo, first, tag="a")
    registry_plain.client.push_image(repo, second, tag="b")
    refs = {registry_plain.ref(repo, "a"): first, registry_plain.ref(repo, "b"): second}

    run = gantry.ok("pull", "--plain-http", "--json", *refs)

    for ref, image in refs.items():
        mine = [e for e in run.events if e["image"] == ref]
        assert [e["event"] for e in mine][0] == "resolved"
        assert {e["layer"] for e in mine if e["event"] == "blob_done"} \
            == {layer.blob.digest for layer in image.layers}
        [done] = [e for e in mine if e["event"] == "done"]
        assert done["bytes_fetched"] == sum(e["fetched"] for e in mine if e["event"] == "blob_done")
    # The shared base crossed the network once, whichever image got it.
    fetched = [e["fetched"] for e in run.of("blob_done") if e["digest"] == base.blob.digest]
    assert sorted(fetched) == [0, base.blob.size]


def test_a_failing_image_emits_image_failed(registry_plain, repo, gantry):
    image = images.build_image([_layer(24, 4096)])
    registry_plain.client.push_image(repo, image, tag="good")
    good, missing = registry_plain.ref(repo, "good"), registry_plain.ref(repo, "missing")

    run = gantry.run("pull", "--plain-http", "--json", good, missing)

    assert run.returncode != 0
    [failed] = run.of("image_failed")
    assert failed["image"] == missing and failed["kind"] == "not-found"
    assert failed["error"]
    # Its failure and its timeline (nothing reached, no layers known), nothing else.
    assert [e["event"] for e in run.events if e["image"] == missing] == ["image_failed", "timeline"]
    [timeline] = [e for e in run.of("timeline") if e["image"] == missing]
    assert (timeline["at"], timeline["layers"]) == ({}, [])
    assert [e["image"] for e in run.of("resolved")] == [good]


def test_second_pull_fetches_no_blob(registry_plain, repo, gantry, fault_proxy):
    image = images.rich_image()
    registry_plain.client.push_image(repo, image, tag="v1")
    proxy = fault_proxy(registry_plain)
    ref = proxy.ref(repo, "v1")
    gantry.ok("pull", "--plain-http", ref)
    assert {r.path.rsplit("/", 1)[1] for r in proxy.requests(path="/blobs/", method="GET")} \
        == {blob.digest for blob in image.blobs()}
    proxy.clear_log()

    run = gantry.ok("pull", "--plain-http", "--json", ref)

    assert proxy.requests(path="/blobs/") == []
    assert {e["digest"] for e in run.of("blob_done") if e["cached"]} \
        == {layer.blob.digest for layer in image.layers}
    assert run.of("blob_started") == []
    [done] = run.of("done")
    assert (done["blobs_fetched"], done["bytes_fetched"]) == (0, 0)


def _layer(seed: int, size: int) -> layers.Layer:
    return layers.build_layer([Entry("data", data=RandomContent(size, seed))], "none")


def _served(proxy, digest: str) -> int:
    """Body bytes of `digest` the proxy served over all successful GETs."""
    return sum(r.body_bytes for r in proxy.blob_gets(digest) if r.status in (200, 206))


def _pull_twice_at_once(gantry, ref: str) -> list[list[dict]]:
    """Two `gantry pull` processes of `ref` into one store at once; both must
    succeed. Their --json events."""
    processes = [gantry.spawn("pull", "--plain-http", "--json", ref) for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
    return [parse_events(stdout) for stdout, _ in outputs]


def test_two_processes_pulling_one_image_download_each_layer_once(registry_plain, repo, gantry,
                                                                  fault_proxy):
    image = images.build_image([_layer(seed, 1 << 20) for seed in (11, 12, 13)])
    registry_plain.client.push_image(repo, image, tag="v1")
    proxy = fault_proxy(registry_plain)
    # Slow enough (about 0.25 s a layer) that the two processes overlap.
    proxy.add_rule("/blobs/", Throttle(4 << 20), times=None)
    ref = proxy.ref(repo, "v1")

    runs = _pull_twice_at_once(gantry, ref)

    for layer in image.layers:
        assert _served(proxy, layer.blob.digest) == layer.blob.size, layer.blob.digest
    fetched = sum(e["fetched"] for events in runs for e in events if e["event"] == "blob_done")
    assert fetched == sum(layer.blob.size for layer in image.layers)
    store = OciStore(gantry.store)
    assert store.wrong_blobs([image.manifest, *image.blobs()]) == []
    assert store.refs()[ref]["digest"] == image.digest


@pytest.mark.parametrize("processes", [1, 2], ids=["one-process", "two-processes"])
def test_config_wanted_twice_at_once_is_downloaded_once(registry_plain, repo, gantry,
                                                        fault_proxy, processes):
    image = images.build_image([_layer(14, 4096)])
    for tag in ("v1", "v2"):
        registry_plain.client.push_image(repo, image, tag=tag)
    proxy = fault_proxy(registry_plain)
    # The config answers late, so both resolves ask for it before it arrives.
    proxy.add_rule(image.config.digest, Delay(2.0), times=None)

    if processes == 1:
        gantry.ok("pull", "--plain-http", proxy.ref(repo, "v1"), proxy.ref(repo, "v2"))
    else:
        _pull_twice_at_once(gantry, proxy.ref(repo, "v1"))

    assert _served(proxy, image.config.digest) == image.config.size
