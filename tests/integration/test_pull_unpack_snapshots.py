"""`gantry pull --unpack`: every layer unpacked, while it downloads, into its
own snapshot in the store, STORE/snapshots/sha256/<chain ID> (image-spec
config.md#layer-chainid), with whiteouts in overlayfs form (a 0/0 character
device for `.wh.NAME`, trusted.overlay.opaque=y on an opaque directory), so
that overlayfs stacking the snapshots shows the image's rootfs.

The oracle is gantry's own flattened unpack of the same image, whose tree
test_unpack_tree_equality.py holds equal to umoci's: the overlay mount of
the snapshots must show the same tree. Also: a snapshot is built once per
store (a second pull, a base layer shared by two images, two processes at
once), a layer that fails leaves no snapshot and no staging directory, and
a present snapshot whose blob went missing gets its blob back without being
unpacked again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gantry_testbed import images, trees
from gantry_testbed.gantry_cli import Gantry, parse_events
from gantry_testbed.layers import build_layer
from gantry_testbed.ocistore import OciStore
from gantry_testbed.tarwriter import Entry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import tree_print  # noqa: E402

IMAGES = {
    "rich": lambda: [trees.rich_base_entries(), trees.rich_top_entries()],
    "layered": trees.layered_entries,
}


def chain_ids(diff_ids: list[str]) -> list[str]:
    chains = [diff_ids[0]]
    for diff_id in diff_ids[1:]:
        chains.append("sha256:" + hashlib.sha256(f"{chains[-1]} {diff_id}".encode()).hexdigest())
    return chains


def snapshot_dirs(store: Path, image: images.Image) -> list[Path]:
    """Where the image's snapshots belong, bottom first."""
    chains = chain_ids([layer.diff_id for layer in image.layers])
    return [store / "snapshots" / "sha256" / chain.split(":", 1)[1] for chain in chains]


def push(registry, repo: str, layers: list[list[Entry]], tag: str = "v1") -> tuple[images.Image, str]:
    image = images.build_image([build_layer(entries) for entries in layers])
    registry.client.push_image(repo, image, tag=tag)
    return image, registry.ref(repo, tag)


def pull_unpack(gantry: Gantry, ref: str) -> dict:
    """The `unpacked` event of a --json pull --unpack."""
    [event] = gantry.ok("pull", "--unpack", "--plain-http", "--json", ref).of("unpacked")
    return event


def staging_left(store: Path) -> list[str]:
    return sorted(p.name for p in (store / "ingest").iterdir() if ".snapshot" in p.name)


class Overlay:
    """A read-only overlayfs of snapshot directories (bottom first)."""

    def __init__(self, lowers: list[Path], target: Path) -> None:
        target.mkdir(parents=True)
        option = "lowerdir=" + ":".join(str(d) for d in reversed(lowers))
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", option, str(target)], check=True)
        self.target = target

    def __enter__(self) -> Path:
        return self.target

    def __exit__(self, *exc) -> None:
        subprocess.run(["umount", str(self.target)], check=True)


def implicit_dirs(layers: list[list[Entry]], tree: Path) -> set[bytes]:
    """Directories no layer lists: made by the unpacker, on its clock."""
    listed = {os.path.normpath(e.path_bytes) for layer in layers for e in layer if e.kind == "dir"}
    return {rel for rel, st in tree_print.walk(tree)
            if stat.S_ISDIR(st.st_mode) and rel != b"." and rel not in listed}


# Targets of hardlinks made by an upper layer: the upper snapshot holds a
# copy-up of the target, linked to the new name (a link cannot cross
# snapshot directories), so in the overlay the lower layer's name is no
# longer in the group, as with containerd's snapshots. Content, mode, owner
# and times stay the same.
CROSS_LAYER_LINK_TARGETS = {"layered": {"lower/target"}}


def without_link_group(text: str, paths: set[str]) -> str:
    """The tree text without the hardlink group field of `paths`."""
    def strip(line: str) -> str:
        path, *fields = line.split(" ")
        if path in paths:
            fields = [f for f in fields if not f.startswith("link=")]
        return " ".join([path, *fields])
    return "".join(strip(line) + "\n" for line in text.splitlines())


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_stacked_snapshots_show_the_flattened_tree(registry_plain, repo, gantry, scratch, kind):
    layers = IMAGES[kind]()
    image, ref = push(registry_plain, repo, layers)

    event = pull_unpack(gantry, ref)

    expected = snapshot_dirs(gantry.store, image)
    assert event["snapshots"] == [str(d) for d in expected]
    assert event["layers"] == event["layers_unpacked"] == len(layers)
    assert event["devices_skipped"] == event["xattrs_skipped"] == 0  # as root, on ext4
    assert all(d.is_dir() for d in expected)
    assert staging_left(gantry.store) == []
    assert OciStore(gantry.store).refs()[ref]["digest"] == image.digest
    flat = scratch / "flat"
    gantry.ok("unpack", "--plain-http", "--quiet", ref, str(flat))
    with Overlay(expected, scratch / "merged") as merged:
        skip = implicit_dirs(layers, flat)
        relinked = CROSS_LAYER_LINK_TARGETS.get(kind, set())
        assert tree_print.tree_text(merged, skip_mtimes=skip) == \
            without_link_group(tree_print.tree_text(flat, skip_mtimes=skip), relinked)


def test_snapshots_keep_whiteouts_in_overlay_form(registry_plain, repo, gantry):
    image, ref = push(registry_plain, repo, trees.layered_entries())

    pull_unpack(gantry, ref)

    base, middle, top = snapshot_dirs(gantry.store, image)
    for gone in ("wh/gone-file", "wh/gone-dir", "wh/gone-link"):
        st = os.lstat(middle / gone)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, gone
    assert stat.S_ISCHR(os.lstat(top / "opq/new1").st_mode)
    for opaque in ("opq", "opq-first"):
        assert os.getxattr(middle / opaque, "trusted.overlay.opaque") == b"y"
    # Content of the layer stays beside its opaque marker, whatever the order in the tar.
    assert (middle / "opq/new1").read_bytes() == b"new\n"
    assert (middle / "opq-first/new").read_bytes() == b"new\n"
    # The lower layer keeps what the upper ones hide.
    assert (base / "wh/gone-file").read_bytes() == b"x\n"
    assert (base / "opq/old1").read_bytes() == b"1\n"
    for snapshot in (base, middle, top):
        names = [rel for rel, _ in tree_print.walk(snapshot)]
        assert not [n for n in names if b".wh." in n]
    # A hardlink to a lower layer's file: the file is copied up beside it.
    assert os.lstat(middle / "lower/target").st_ino == os.lstat(middle / "upper/hl-lower").st_ino
    assert (middle / "lower/target").read_bytes() == b"linked from above\n"
    assert os.lstat(middle / "lower/target").st_ino != os.lstat(base / "lower/target").st_ino


def test_second_pull_unpacks_and_fetches_nothing(registry_plain, repo, gantry, fault_proxy):
    image, _ = push(registry_plain, repo, [trees.rich_base_entries(), trees.rich_top_entries()])
    proxy = fault_proxy(registry_plain)
    ref = proxy.ref(repo, "v1")
    pull_unpack(gantry, ref)
    inodes = [os.lstat(d).st_ino for d in snapshot_dirs(gantry.store, image)]
    proxy.clear_log()

    event = pull_unpack(gantry, ref)

    assert event["layers_unpacked"] == 0 and event["fetched_bytes"] == 0
    assert proxy.requests(path="/blobs/") == []
    assert [os.lstat(d).st_ino for d in snapshot_dirs(gantry.store, image)] == inodes


UNSYNCED = "trusted.gantry.unsynced"


def this_boot() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def without_mtimes(tree: Path) -> str:
    return re.sub(r" mtime=\S+", "", tree_print.tree_text(tree))


def test_snapshots_are_committed_unsynced_and_those_of_an_earlier_boot_are_built_again(registry_plain, repo,
                                                                                       gantry):
    """No syncfs on the critical path: each snapshot is in place at once,
    marked with this boot; after a power loss (another boot) a snapshot never
    made durable may be cut, so it counts as absent and is unpacked again."""
    image, ref = push(registry_plain, repo, [trees.rich_base_entries(), trees.rich_top_entries()])
    pull_unpack(gantry, ref)
    base, top = snapshot_dirs(gantry.store, image)
    boot = this_boot()
    for snapshot in (base, top):
        assert os.getxattr(snapshot, UNSYNCED).decode().split(" ")[0] == boot
    before = without_mtimes(top)  # whiteouts and unlisted parents are made on the clock of their build
    # The top one as a crash in an earlier boot leaves it: marked, a file lost.
    os.setxattr(top, UNSYNCED, b"00000000-0000-0000-0000-000000000000 40")
    next(p for p in sorted(top.rglob("*")) if p.is_file() and not p.is_symlink()).unlink()
    assert without_mtimes(top) != before

    event = pull_unpack(gantry, ref)

    assert event["layers_unpacked"] == 1 and event["fetched_bytes"] == 0  # from the store's blob
    assert without_mtimes(top) == before
    assert os.getxattr(top, UNSYNCED).decode().split(" ")[0] == boot
    assert staging_left(gantry.store) == []


def test_a_later_request_makes_snapshots_durable_once_the_kernel_has_had_time(registry_plain, repo, gantry):
    """Snapshots committed 30 s ago or more are settled (one syncfs, marks
    gone) by the next request for the image; younger ones keep their mark."""
    image, ref = push(registry_plain, repo, [trees.rich_base_entries(), trees.rich_top_entries()])
    pull_unpack(gantry, ref)
    base, top = snapshot_dirs(gantry.store, image)
    boot = this_boot()
    now = int(time.clock_gettime(time.CLOCK_BOOTTIME))
    os.setxattr(base, UNSYNCED, f"{boot} {now - 31}".encode())  # committed 31 s ago

    event = pull_unpack(gantry, ref)

    assert event["layers_unpacked"] == 0
    assert UNSYNCED not in os.listxattr(base)
    assert os.getxattr(top, UNSYNCED).decode().split(" ")[0] == boot  # a few seconds old: left


def test_shared_base_layer_is_unpacked_once(registry_plain, repo, gantry, fault_proxy):
    base = [Entry("base", "dir"), Entry("base/file", data=b"shared\n")]
    built = {name: push(registry_plain, repo, [base, [Entry(name, "dir"), Entry(f"{name}/f", data=b"x")]],
                        tag=name)[0] for name in ("a", "b")}
    proxy = fault_proxy(registry_plain)
    pull_unpack(gantry, proxy.ref(repo, "a"))
    [base_dir, _] = snapshot_dirs(gantry.store, built["a"])
    base_inode = os.lstat(base_dir).st_ino
    proxy.clear_log()

    event = pull_unpack(gantry, proxy.ref(repo, "b"))

    assert event["layers_unpacked"] == 1
    assert snapshot_dirs(gantry.store, built["b"])[0] == base_dir
    assert os.lstat(base_dir).st_ino == base_inode
    fetched = {r.path.rsplit("/", 1)[1] for r in proxy.requests(path="/blobs/", method="GET")}
    assert built["b"].layers[0].blob.digest not in fetched
    assert (snapshot_dirs(gantry.store, built["b"])[1] / "b/f").read_bytes() == b"x"


def test_two_processes_build_each_snapshot_once(registry_plain, repo, gantry_bin, scratch):
    image, ref = push(registry_plain, repo, [trees.rich_base_entries(), trees.rich_top_entries()])
    runs = [Gantry(gantry_bin, scratch / "store", scratch / f"home{i}") for i in range(2)]

    procs = [g.spawn("pull", "--unpack", "--plain-http", "--json", ref) for g in runs]
    outputs = [p.communicate(timeout=120) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], outputs
    events = [[e for e in parse_events(out) if e["event"] == "unpacked"] for out, _ in outputs]
    assert sum(e["layers_unpacked"] for [e] in events) == len(image.layers)
    assert staging_left(scratch / "store") == []
    with Overlay(snapshot_dirs(scratch / "store", image), scratch / "merged") as merged:
        assert (merged / "etc/hello.txt").read_bytes() == b"hello again\n"


def test_failed_layer_leaves_no_snapshot(registry_plain, repo, gantry):
    good = build_layer([Entry("good", "dir"), Entry("good/file", data=b"fine\n")])
    bad = build_layer([Entry("bad", "dir"), Entry("bad/file", data=b"lies\n")])
    lying = dataclasses.replace(bad, diff_id="sha256:" + "0" * 64)
    image = images.build_image([good, lying])
    registry_plain.client.push_image(repo, image, tag="v1")

    error = gantry.fails("pull", "--unpack", "--plain-http", registry_plain.ref(repo, "v1"))

    assert "diff ID mismatch" in error and bad.blob.digest in error
    lower, upper = snapshot_dirs(gantry.store, image)
    assert not upper.exists()
    assert (lower / "good/file").read_bytes() == b"fine\n"  # complete and correct: it stays
    assert staging_left(gantry.store) == []
    assert OciStore(gantry.store).refs() == {}


def test_missing_blob_of_a_present_snapshot_is_fetched_again(registry_plain, repo, gantry):
    image, ref = push(registry_plain, repo, [trees.rich_base_entries(), trees.rich_top_entries()])
    pull_unpack(gantry, ref)
    store = OciStore(gantry.store)
    store.blob_path(image.layers[0].blob.digest).unlink()

    event = pull_unpack(gantry, ref)

    assert event["layers_unpacked"] == 0
    assert event["fetched_bytes"] == image.layers[0].blob.size
    assert store.has(image.layers[0].blob.digest)
