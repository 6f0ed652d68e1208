"""`gantry prewarm`: many images onto one store at once, through the fault
proxy's request log (what crossed the network, in which order) and the
store itself (what is there afterwards).

- Blobs shared between images (a common base, one image by tag and by
  digest, OCI and Docker schema 2 twins of the same layers) are fetched
  once, also when two prewarm processes work on one store at the same time.
- One bad image does not stop the others: they complete, the summary says
  which failed and why, and the one error line names each failed image.
- `-f FILE` lists (comments, blank lines, duplicates) and their errors.
- `--unpack` leaves every layer's snapshot, so a second prewarm (or a run)
  has nothing left to fetch or unpack.
- Every image's manifest and config come before the layers, and each image's
  layers are asked for bottom first.
- 50 images of 10 layers each prewarm with bounded threads and memory.
"""

from __future__ import annotations

import hashlib
import secrets

import pytest

from gantry_testbed import broken, images
from gantry_testbed.gantry_cli import parse_events
from gantry_testbed.layers import build_layer
from gantry_testbed.measure import run_sampled
from gantry_testbed.ocistore import OciStore
from gantry_testbed.tarwriter import Entry

THREAD_LIMIT = 48      # as test_many_layers.py: the budget's threads, not one per image or layer
RSS_LIMIT = 256 << 20  # ASan shadow included


def _layer(name: str, size: int = 64 << 10):
    """A gzip layer of one file of random (incompressible) bytes."""
    return build_layer([Entry(f"{name}/", kind="dir"), Entry(f"{name}/data", data=secrets.token_bytes(size))])


def _push_family(registry, repo: str, tops: list[str], fmt: str = "oci") -> tuple[list, dict[str, images.Image]]:
    """Images `repo:<top>` for each name of `tops`, all on one two-layer base."""
    base = [_layer("base0", 256 << 10), _layer("base1")]
    family = {}
    for top in tops:
        image = images.build_image(base + [_layer(top)], fmt=fmt)
        registry.client.push_image(repo, image, tag=top)
        family[top] = image
    return base, family


def _blob_gets(proxy) -> list[str]:
    """The digests of every blob GET, in the order asked."""
    return [r.path.rsplit("/", 1)[1] for r in proxy.requests(path="/blobs/", method="GET")]


def _summary(run) -> dict:
    """The --json summary: the last event, and the only summary."""
    [summary] = run.of("summary")
    assert run.events[-1]["event"] == "summary"
    return summary


def _by_reference(summary: dict) -> dict[str, dict]:
    return {image["reference"]: image for image in summary["images"]}


def test_a_shared_base_is_fetched_once_and_every_image_is_recorded(registry_plain, repo, gantry, fault_proxy):
    tops = ["web", "worker", "cron"]
    base, family = _push_family(registry_plain, repo, tops)
    proxy = fault_proxy(registry_plain)
    refs = [proxy.ref(repo, top) for top in tops]
    run = gantry.ok("prewarm", "--plain-http", "--json", *refs)

    gets = _blob_gets(proxy)
    every_blob = {blob.digest for image in family.values() for blob in image.blobs()}
    assert sorted(gets) == sorted(every_blob), "each blob fetched exactly once"
    store = OciStore(gantry.store)
    assert store.wrong_blobs([blob for image in family.values() for blob in image.blobs()]) == []
    assert store.partials() == {}
    recorded = store.refs()
    for top, ref in zip(tops, refs):
        assert recorded[ref]["digest"] == family[top].digest

    summary = _summary(run)
    assert (summary["ok"], summary["failed"]) == (3, 0)
    per_image = _by_reference(summary)
    assert set(per_image) == set(refs)
    for top, ref in zip(tops, refs):
        image = family[top]
        entry = per_image[ref]
        assert entry["ok"] is True and entry["digest"] == image.digest
        assert entry["layers"] == 3
        # Fetched for this image, or fetched for another one of the run:
        # together, exactly the image's layers (the counts are of layers).
        assert entry["bytes_fetched"] + entry["bytes_reused"] == sum(layer.blob.size for layer in image.layers)
    # What crossed the network, each distinct layer counted once over all images.
    distinct = {layer.blob.digest: layer.blob.size for image in family.values() for layer in image.layers}
    assert summary["bytes_fetched"] == sum(entry["bytes_fetched"] for entry in per_image.values())
    assert summary["bytes_fetched"] == sum(distinct.values())


def test_the_same_layers_by_tag_by_digest_and_in_both_formats_are_fetched_once(registry_plain, repo, gantry,
                                                                                fault_proxy):
    layers = [_layer("one"), _layer("two")]
    oci = images.build_image(layers, fmt="oci")
    docker = images.build_image(layers, fmt="docker")
    registry_plain.client.push_image(repo, oci, tag="oci")
    registry_plain.client.push_image(repo, docker, tag="docker")
    proxy = fault_proxy(registry_plain)
    refs = [proxy.ref(repo, "oci"), proxy.ref(repo, digest=oci.digest), proxy.ref(repo, "docker")]
    gantry.ok("prewarm", "--plain-http", "--quiet", *refs)

    gets = _blob_gets(proxy)
    for layer in layers:
        assert gets.count(layer.blob.digest) == 1, gets
    assert len(gets) == len(set(gets)), "no blob asked for twice"
    recorded = OciStore(gantry.store).refs()
    assert recorded[refs[0]]["digest"] == oci.digest
    assert recorded[refs[2]]["digest"] == docker.digest


def test_one_bad_image_does_not_stop_the_others(registry_plain, repo, gantry, fault_proxy):
    tops = ["good1", "good2"]
    _, family = _push_family(registry_plain, repo, tops)
    bad = broken.served_blob_mismatch(registry_plain, repo, tag="corrupt")
    proxy = fault_proxy(registry_plain)
    good_refs = [proxy.ref(repo, top) for top in tops]
    corrupt_ref, missing_ref = proxy.ref(repo, "corrupt"), proxy.ref(repo, "no-such-tag")
    refs = [good_refs[0], corrupt_ref, missing_ref, good_refs[1]]

    run = gantry.run("prewarm", "--plain-http", "--json", *refs)
    assert run.returncode != 0, run.describe()
    error_lines = [line for line in run.stderr.splitlines() if line.startswith("gantry: error: ")]
    assert len(error_lines) == 1 and run.stderr.splitlines()[-1] == error_lines[0], run.describe()
    assert "2 of 4 images failed" in error_lines[0]
    assert corrupt_ref in error_lines[0] and missing_ref in error_lines[0]
    assert not any(ref in error_lines[0] for ref in good_refs)

    summary = _summary(run)
    assert (summary["ok"], summary["failed"]) == (2, 2)
    per_image = _by_reference(summary)
    assert per_image[corrupt_ref]["ok"] is False and "digest" in per_image[corrupt_ref]["error"]
    assert per_image[missing_ref]["ok"] is False and per_image[missing_ref]["error_kind"] == "not-found"
    store = OciStore(gantry.store)
    recorded = store.refs()
    for top, ref in zip(tops, good_refs):
        assert recorded[ref]["digest"] == family[top].digest
    assert corrupt_ref not in recorded and missing_ref not in recorded
    assert not store.has(bad.culprit), "the blob that failed its digest is not kept"

    # Without --json: the table says the same, and the error line comes last.
    table = gantry.run("prewarm", "--plain-http", *refs)
    assert table.returncode == run.returncode
    rows = {line.split()[0]: line.split()[1] for line in table.stdout.splitlines()[1:-1]}
    assert rows == {good_refs[0]: "ok", corrupt_ref: "failed", missing_ref: "failed", good_refs[1]: "ok"}
    assert table.stdout.splitlines()[-1].startswith("4 images: 2 ok, 2 failed")
    assert table.stderr.splitlines()[-1] == error_lines[0]
    # The log above it: one done line per good image, one failed line per bad one.
    log = table.stderr.splitlines()
    for ref in good_refs:
        assert len([line for line in log if line.startswith(f"done {ref}: ")]) == 1, table.describe()
    for ref in (corrupt_ref, missing_ref):
        assert len([line for line in log if line.startswith(f"failed {ref}: ")]) == 1, table.describe()


def test_all_platforms_gives_each_platform_a_row(registry_plain, repo, gantry):
    host = images.Platform.host()
    other = images.Platform("linux", "arm64" if host.architecture != "arm64" else "amd64")
    pushed = {str(p): images.platform_image(p) for p in (host, other)}
    registry_plain.client.push_index(repo, images.build_index(list(pushed.values())), tag="multi")
    single = images.busybox_image()
    registry_plain.client.push_image(repo, single, tag="single")
    multi, one = registry_plain.ref(repo, "multi"), registry_plain.ref(repo, "single")

    summary = _summary(gantry.ok("prewarm", "--plain-http", "--json", "--all-platforms", multi, one))

    assert (summary["ok"], summary["failed"]) == (3, 0)
    rows = {(image["reference"], image.get("platform")): image["digest"] for image in summary["images"]}
    assert rows == {(multi, str(host)): pushed[str(host)].digest, (multi, str(other)): pushed[str(other)].digest,
                    (one, None): single.digest}
    table = gantry.ok("prewarm", "--plain-http", "--all-platforms", multi).stdout
    assert f"{multi} ({other})" in table and f"{multi} ({host})" in table, table


def test_a_list_file_with_comments_blank_lines_and_duplicates(registry_plain, repo, gantry, scratch):
    tops = ["a", "b"]
    _, family = _push_family(registry_plain, repo, tops)
    refs = [registry_plain.ref(repo, top) for top in tops]
    listing = scratch / "images"
    listing.write_text(f"# the images of this node\n\n  {refs[0]}  # the first\n{refs[1]}\r\n{refs[0]}\n   \n")
    run = gantry.ok("prewarm", "--plain-http", "--json", "-f", str(listing), refs[1])
    summary = _summary(run)
    # The REFs, then each list's: every image once, where first named.
    assert [image["reference"] for image in summary["images"]] == [refs[1], refs[0]]
    assert OciStore(gantry.store).refs().keys() >= set(refs)


@pytest.mark.parametrize("content, message", [
    ("{ref}\nnot a reference!\n", ":2: "),
    ("{ref} {ref}\n", ":1: one reference per line"),
    ("x" * 5000 + "\n", ":1: line too long"),
])
def test_a_bad_list_file_is_one_line_naming_the_line(content, message, registry_plain, repo, gantry, scratch,
                                                    fault_proxy):
    proxy = fault_proxy(registry_plain)
    listing = scratch / "images"
    listing.write_text(content.format(ref=proxy.ref(repo, "v1")))
    line = gantry.fails("prewarm", "--plain-http", "-f", str(listing))
    assert f"{listing}{message}" in line, line
    assert proxy.requests() == [], "nothing is asked before the whole list is read"


def test_no_image_and_a_missing_list_are_errors(gantry, scratch):
    assert "no image given" in gantry.fails("prewarm")
    assert "cannot read the list" in gantry.fails("prewarm", "-f", str(scratch / "absent"))


def _chain_ids(diff_ids: list[str]) -> list[str]:
    chains = [diff_ids[0]]
    for diff_id in diff_ids[1:]:
        chains.append("sha256:" + hashlib.sha256(f"{chains[-1]} {diff_id}".encode()).hexdigest())
    return chains


def test_unpack_leaves_every_snapshot_and_a_second_prewarm_has_nothing_to_do(registry_plain, repo, gantry,
                                                                            fault_proxy):
    tops = ["web", "worker"]
    _, family = _push_family(registry_plain, repo, tops)
    proxy = fault_proxy(registry_plain)
    refs = [proxy.ref(repo, top) for top in tops]
    gantry.ok("prewarm", "--plain-http", "--quiet", "--unpack", *refs)

    snapshots = gantry.store / "snapshots" / "sha256"
    for image in family.values():
        for chain in _chain_ids([layer.diff_id for layer in image.layers]):
            assert (snapshots / chain.split(":", 1)[1]).is_dir(), f"no snapshot {chain}"
    # Four distinct layer chains: the base's two, and one top each.
    assert len(list(snapshots.iterdir())) == 4

    proxy.clear_log()
    again = gantry.ok("prewarm", "--plain-http", "--json", "--unpack", *refs)
    assert _blob_gets(proxy) == [], "everything is in the store"
    summary = _summary(again)
    assert summary["bytes_fetched"] == 0
    assert all(entry["ok"] and entry["bytes_fetched"] == 0 for entry in summary["images"])


def test_two_prewarms_on_one_store_at_once_fetch_each_blob_once(registry_plain, repo, gantry, fault_proxy):
    tops = ["one", "two", "three", "four"]
    _, family = _push_family(registry_plain, repo, tops)
    proxy = fault_proxy(registry_plain)
    refs = [proxy.ref(repo, top) for top in tops]
    # Overlapping lists, in different orders: both race for the base.
    first = gantry.spawn("prewarm", "--plain-http", "--json", "--unpack", *refs[:3])
    second = gantry.spawn("prewarm", "--plain-http", "--json", "--unpack", *reversed(refs[1:]))
    outputs = [process.communicate(timeout=120) for process in (first, second)]
    for process, (stdout, stderr) in zip((first, second), outputs):
        assert process.returncode == 0, stderr
        [summary] = [e for e in parse_events(stdout) if e["event"] == "summary"]
        assert summary["failed"] == 0

    gets = _blob_gets(proxy)
    assert len(gets) == len(set(gets)), f"a blob fetched twice: {gets}"
    every_blob = {blob.digest for image in family.values() for blob in image.blobs()}
    assert set(gets) == every_blob
    store = OciStore(gantry.store)
    assert store.wrong_blobs([b for image in family.values() for b in image.blobs()]) == []
    assert set(store.refs()) >= set(refs)


def test_manifests_and_configs_come_first_and_layers_bottom_first(registry_plain, repo, gantry, fault_proxy):
    tops = ["a", "b", "c"]
    base, family = _push_family(registry_plain, repo, tops)
    proxy = fault_proxy(registry_plain)
    refs = [proxy.ref(repo, top) for top in tops]
    gantry.ok("prewarm", "--plain-http", "--quiet", "--jobs", "1", *refs)

    requests = proxy.requests(method="GET")
    first_asked = {}
    for number, request in enumerate(requests):
        first_asked.setdefault(request.path.rsplit("/", 1)[1], number)
    configs = [first_asked[image.config.digest] for image in family.values()]
    manifests = [number for number, r in enumerate(requests) if "/manifests/" in r.path]
    layers = [first_asked[layer.blob.digest] for image in family.values() for layer in image.layers]
    assert max(manifests + configs) < min(layers), [r.path for r in requests]
    for image in family.values():
        order = [first_asked[layer.blob.digest] for layer in image.layers]
        assert order == sorted(order), f"{image.digest}: layers not asked bottom first"


def test_fifty_images_of_ten_layers_with_bounded_threads_and_memory(registry_plain, repo, gantry):
    base = [_layer(f"base{i}", 4 << 10) for i in range(5)]
    refs = []
    blobs = []
    for number in range(50):
        image = images.build_image(base + [_layer(f"top{number}-{i}", 4 << 10) for i in range(5)])
        registry_plain.client.push_image(repo, image, tag=f"i{number}")
        refs.append(registry_plain.ref(repo, f"i{number}"))
        blobs += image.blobs()
    listing = gantry.store.parent / "images"
    listing.write_text("\n".join(refs) + "\n")

    status, threads, rss, stderr = run_sampled(
        gantry.argv("prewarm", "--plain-http", "--quiet", "--unpack", "-f", str(listing)), gantry.env)
    print(f"prewarm of 50 x 10 layers: {threads} threads, {rss >> 20} MiB")
    assert status == 0, stderr
    store = OciStore(gantry.store)
    assert store.wrong_blobs(blobs) == []
    assert set(store.refs()) >= set(refs)
    # 5 shared base layers + 5 own layers per image.
    assert len(list((gantry.store / "snapshots" / "sha256").iterdir())) == 5 + 50 * 5
    assert threads <= THREAD_LIMIT, f"{threads} threads at once"
    assert rss < RSS_LIMIT, f"peak RSS {rss >> 20} MiB"
