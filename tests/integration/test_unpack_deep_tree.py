"""A failed unpack removes a tree of any depth, in bounded memory (issue 9).

A small layer builds a tree 12,000 directories deep, far past PATH_MAX
(symlink hops keep its names short: gantry_testbed.trees.deep_tree_entries),
then carries an entry that fails (a hardlink to nothing). The failed unpack
into a new DIR (staged as a hidden sibling) and the failed snapshot build of
`pull --unpack` (staged in the store's ingest/) must remove the whole tree,
report one line, and keep their peak memory independent of the depth: the
std::filesystem removal this replaced took 5.7 GB at 10,000 levels and left
the staging directory behind past PATH_MAX.
"""

from __future__ import annotations

import os

import pytest

from gantry_testbed import broken, images, layers, trees
from gantry_testbed.measure import is_asan_build, run_measured, without_asan_quarantine
from gantry_testbed.tarwriter import Entry

LEVELS = 12_000
# Peak RSS of the whole command, measured here: a Release build 23 MiB (the
# same as for a 10-level tree), the ASan build 128 MiB (116 MiB for a
# 10-level tree: shadow memory, redzones, its allocator's arenas).
RSS_LIMIT = 64 << 20
ASAN_RSS_LIMIT = 192 << 20


@pytest.fixture(scope="module")
def deep_tree(registry_plain) -> broken.Broken:
    return broken.deep_tree_then_bad_entry(registry_plain, "it/deep-tree", levels=LEVELS)


@pytest.mark.parametrize("command", ["unpack", "pull --unpack"])
def test_a_failed_deep_tree_is_removed_within_bounded_memory(gantry, scratch, deep_tree, command):
    parent = scratch / "out"
    parent.mkdir()
    target = [str(parent / "rootfs")] if command == "unpack" else []
    argv = gantry.argv(*command.split(), "--plain-http", "--quiet", deep_tree.ref, *target)

    status, peak, stderr = run_measured(argv, without_asan_quarantine(gantry.env))

    lines = stderr.splitlines()
    assert status != 0 and len(lines) == 1 and lines[0].startswith("gantry: error:"), stderr
    assert broken.DANGLING_LINK in lines[0], lines[0]
    assert os.listdir(parent) == []  # neither DIR nor its hidden staging sibling
    ingest = gantry.store / "ingest"
    assert not ingest.exists() or [n for n in os.listdir(ingest) if n.endswith(".snapshot")] == []
    snapshots = gantry.store / "snapshots" / "sha256"
    assert not snapshots.exists() or os.listdir(snapshots) == []
    limit = ASAN_RSS_LIMIT if is_asan_build(gantry.binary) else RSS_LIMIT
    assert peak < limit, f"peak RSS {peak >> 20} MiB"


# Over a base layer, each implicit parent of a deep snapshot looks for its
# counterpart in the lower snapshots. That search once resolved every prefix
# of the name from the root: 4,000 levels took 220 s (Release) and 12,000
# would take hours, a hostile image's way to hang a pull. Below a parent
# whose search found nothing none is made, and the walk steps down one
# directory at a time (4,000 levels: 1 s Release). No timing is asserted:
# ctest's timeout is what the old behaviour would hit.
OVER_BASE_LEVELS = 4_000


def test_a_deep_tree_over_a_base_layer_unpacks_into_snapshots(gantry, registry_plain):
    base = layers.build_layer([Entry("etc/", kind="dir"), Entry("etc/base", data=b"base\n")])
    top = layers.build_layer(trees.deep_tree_entries(OVER_BASE_LEVELS))
    registry_plain.client.push_image("it/deep-over-base", images.build_image([base, top]), tag="v1")

    run = gantry.run("pull", "--unpack", "--plain-http", "--quiet", registry_plain.ref("it/deep-over-base", "v1"))

    assert run.returncode == 0, run.describe()
    snapshots = sorted((gantry.store / "snapshots" / "sha256").iterdir())
    assert len(snapshots) == 2
    top_snapshot = [s for s in snapshots if (s / "hop0").is_symlink()]
    assert len(top_snapshot) == 1
