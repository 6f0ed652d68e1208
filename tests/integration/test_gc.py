"""The store as a node's cache (issue 11): `gantry images` lists what it holds
(one row per platform pulled), `gantry gc` removes what no reference reaches
and no running gantry holds in its lease, `gantry df` shows the disk use and
what gc would free. Raced against pulls and runs of shared images, gc never
makes one fail, and ends with nothing unreachable left."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess

import pytest

from gantry_testbed import images, trees
from gantry_testbed.images import Platform, build_image, build_layer


def images_json(gantry) -> list[dict]:
    return json.loads(gantry.ok("images", "--json").stdout)


def gc(gantry, *args: str) -> dict:
    return json.loads(gantry.ok("gc", "--json", *args).stdout)


def df(gantry) -> dict:
    return json.loads(gantry.ok("df", "--json").stdout)


def blob_files(gantry) -> set[str]:
    return {f"sha256:{p.name}" for p in (gantry.store / "blobs" / "sha256").iterdir()}


def snapshot_dirs(gantry) -> set[str]:
    directory = gantry.store / "snapshots" / "sha256"
    return {f"sha256:{p.name}" for p in directory.iterdir()} if directory.is_dir() else set()


def reclaimable(usage: dict) -> int:
    return sum(kind["reclaimable"]["bytes"] for kind in usage.values())


def test_images_lists_each_platform_pulled_of_one_name(gantry, registry_plain, repo):
    host = Platform.host()
    other = Platform("linux", "arm64" if host.architecture != "arm64" else "amd64")
    pushed = {str(p): images.platform_image(p) for p in (host, other)}
    index = images.build_index(list(pushed.values()))
    registry_plain.client.push_index(repo, index, tag="multi")
    ref = registry_plain.ref(repo, "multi")
    assert images_json(gantry) == []  # no store yet: nothing, and none is made
    assert not gantry.store.exists()

    gantry.ok("pull", "--plain-http", "--quiet", "--unpack", ref)
    gantry.ok("pull", "--plain-http", "--quiet", "--platform", str(other), ref)

    rows = images_json(gantry)
    assert [(r["reference"], r["platform"], r["digest"], r["index_digest"]) for r in rows] == [
        (ref, str(p), pushed[str(p)].digest, index.manifest.digest) for p in (host, other)]
    by_platform = {r["platform"]: r for r in rows}
    mine = by_platform[str(host)]
    assert mine["size"] == sum(b.size for b in pushed[str(host)].blobs())  # config and layers
    assert (mine["layers"], mine["snapshots"]) == (1, 1) and mine["unpacked_size"] > 0
    theirs = by_platform[str(other)]
    assert (theirs["snapshots"], theirs["unpacked_size"]) == (0, None)
    table = gantry.ok("images").stdout.splitlines()
    assert table[0].split() == ["REFERENCE", "PLATFORM", "DIGEST", "INDEX", "SIZE", "UNPACKED", "SNAPSHOTS"]
    assert [line.split()[:2] for line in table[1:]] == [[ref, str(host)], [ref, str(other)]]


def test_gc_removes_only_what_no_reference_reaches(gantry, family):
    one, two = family
    gantry.ok("pull", "--plain-http", "--quiet", "--unpack", one, two)
    everything = blob_files(gantry)
    snapshots = list((gantry.store / "snapshots" / "sha256").iterdir())
    assert all("trusted.gantry.unsynced" in os.listxattr(d) for d in snapshots)  # not yet synced
    assert gc(gantry)["bytes"] == 0 and blob_files(gantry) == everything
    # gc makes what it keeps durable: one syncfs, the marks gone.
    assert not any("trusted.gantry.unsynced" in os.listxattr(d) for d in snapshots)

    gantry.ok("rmi", "--quiet", one)
    would = gc(gantry, "--dry-run")
    assert blob_files(gantry) == everything  # a dry run removes nothing
    # Its manifest, config and top layer go, and the top layer's snapshot; the shared base stays.
    assert (would["blobs"]["count"], would["snapshots"]["count"]) == (3, 1)
    assert would["bytes"] == reclaimable(df(gantry)) > 0
    done = gc(gantry)
    assert {k: done[k] for k in ("blobs", "snapshots", "bytes")} == {k: would[k] for k in ("blobs", "snapshots", "bytes")}
    kept = family[two]
    assert blob_files(gantry) == {kept.digest, *(b.digest for b in kept.blobs())}
    assert len(snapshot_dirs(gantry)) == 2
    assert reclaimable(df(gantry)) == 0
    # What stays is whole: the other image is still there without a registry.
    assert json.loads(gantry.ok("inspect", "--local", two).stdout)["digest"] == kept.digest

    gantry.ok("rmi", "--quiet", two)
    gc(gantry)
    assert blob_files(gantry) == set() and snapshot_dirs(gantry) == set()
    usage = df(gantry)
    assert all(kind["count"] == 0 for kind in usage.values()), usage


def test_a_live_lease_keeps_what_it_holds_and_a_dead_one_expires(gantry, family):
    one, _ = family
    gantry.ok("pull", "--plain-http", "--quiet", one)
    gantry.ok("rmi", "--quiet", one)
    image = family[one]
    leases = gantry.store / "leases"
    leases.mkdir(exist_ok=True)
    # A lease as a running gantry keeps it: its lines, and an exclusive flock.
    live = leases / "4242-1"
    with open(live, "w") as held:
        held.write(f"{image.config.digest}\n")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        report = gc(gantry)
        assert report["live_leases"] == 1
        assert blob_files(gantry) == {image.config.digest}
    # Its process gone (no flock), the lease expires at the next gc.
    report = gc(gantry)
    assert (report["live_leases"], report["expired_leases"]) == (0, 1)
    assert not live.exists() and blob_files(gantry) == set()


def test_gc_removes_partial_downloads_and_kept_nothing_it_cannot_read(gantry, family):
    one, two = family
    gantry.ok("pull", "--plain-http", "--quiet", one, two)
    partial = gantry.store / "ingest" / f"{'ab' * 32}.partial"
    partial.write_bytes(b"x" * 5000)
    assert gc(gantry)["partials"]["count"] == 1 and not partial.exists()

    # A reference whose manifest was altered: what it reaches cannot be known.
    gantry.ok("rmi", "--quiet", two)
    manifest = gantry.store / "blobs" / "sha256" / family[one].digest[7:]
    manifest.write_bytes(manifest.read_bytes() + b" ")
    before = blob_files(gantry)
    line = gantry.fails("gc")
    assert one in line and "nothing was removed" in line, line
    assert blob_files(gantry) == before


def test_df_measures_a_snapshot_deeper_than_path_max_and_gc_removes_it(gantry, registry_plain, repo):
    layer = build_layer(trees.deep_tree_entries(12_000))
    image = build_image([layer])
    registry_plain.client.push_image(repo, image, tag="deep")
    ref = registry_plain.ref(repo, "deep")
    gantry.ok("pull", "--plain-http", "--quiet", "--unpack", ref)

    usage = df(gantry)
    # 12,000 directories of at least one 4 KiB block each.
    assert usage["snapshots"]["count"] == 1 and usage["snapshots"]["bytes"] >= 12_000 * 4096, usage
    assert images_json(gantry)[0]["unpacked_size"] == usage["snapshots"]["bytes"]
    gantry.ok("rmi", "--quiet", ref)
    assert gc(gantry)["snapshots"]["count"] == 1
    assert snapshot_dirs(gantry) == set()


@pytest.mark.root("gantry run needs root")
def test_a_kept_container_stays_as_long_as_its_image_does(gantry, family):
    one, _ = family
    gantry.ok("run", "--plain-http", "--quiet", "--keep", one, "--", "sh", "-c", "echo hi > /written")
    [kept] = list((gantry.store / "containers").iterdir())
    assert (kept / "image").read_text() == family[one].digest
    assert gc(gantry)["containers"]["count"] == 0 and kept.is_dir()
    assert df(gantry)["containers"]["count"] == 1

    gantry.ok("rmi", "--quiet", one)
    report = gc(gantry)
    assert report["containers"]["count"] == 1 and not kept.exists()
    assert snapshot_dirs(gantry) == set()


@pytest.mark.root("gantry run needs root")
def test_gc_racing_pulls_and_runs_of_shared_images_fails_none(gantry, family):
    one, two = family

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen(gantry.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, env=gantry.env)

    for round_ in range(8):
        # Both names gone and their content unreachable while the next
        # pull and run want it back, with collections before and during.
        gantry.run("rmi", "--quiet", one, two)
        workers = {
            "pull": start("pull", "--plain-http", "--quiet", "--unpack", one),
            "run": start("run", "--plain-http", "--quiet", two, "--", "cat", "/etc/which"),
            "gc": start("gc", "--quiet"),
        }
        again = start("gc", "--quiet")
        results = {name: (p.communicate(timeout=120), p.returncode) for name, p in {**workers, "gc2": again}.items()}
        for name, ((out, err), status) in results.items():
            assert status == 0, f"round {round_}: {name} failed ({status}): {err}"
        assert results["run"][0][0] == "two\n"

    gantry.ok("pull", "--plain-http", "--quiet", "--unpack", one, two)
    gc(gantry)
    assert reclaimable(df(gantry)) == 0
    rows = images_json(gantry)
    assert sorted(r["reference"] for r in rows) == sorted([one, two])
    assert all(r["snapshots"] == r["layers"] for r in rows), rows
    for ref, image in family.items():
        assert json.loads(gantry.ok("inspect", "--local", ref).stdout)["digest"] == image.digest
    gantry.ok("rmi", "--quiet", one, two)
    gc(gantry)
    assert blob_files(gantry) == set() and snapshot_dirs(gantry) == set()
    assert os.listdir(gantry.store / "leases") == ["gc.lock"]
