"""`gantry unpack` writes the tree other unpackers write.

The oracle is Debian's umoci 0.4.7 (`umoci unpack`, as root) reading the same
image, copied out of the same registry by skopeo into an OCI layout. Trees are
compared as text (tests/tools/tree_print.py): type, mode, owner, size and
content hash, symlink target, hardlink group, device numbers, xattrs, file
mtimes and directory mtimes.

Directory mtimes: both tools restore the mtimes the tar gives directories.
Directories no layer lists (implicit parents, such as those of a long name)
get the unpacker's clock, so their mtimes are left out. umoci loses the
mtime of a listed directory in which it later creates an implicit parent
(its MkdirAll does not restore the grandparent's time) and of a directory
emptied by an opaque marker that comes after it (UMOCI_LOSES_MTIME); gantry
keeps them, so those are compared against the tar header instead of umoci.
One documented difference is kept out of the images: a directory a layer
changes without listing it keeps its lower mtime in umoci (it restores the
parent's mtime around every entry) but gets the unpack clock in gantry, as
in containerd; image builders list the parents of what they change.

zstd layers, which umoci 0.4.7 cannot read, and Docker schema 2 manifests are
compared with gantry's tree of the OCI gzip twin of the same image: the layer
tars are the same bytes, only compression and manifest differ.
"""

from __future__ import annotations

import os
import posixpath
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gantry_testbed import images, mediatypes, trees
from gantry_testbed.gantry_cli import Gantry
from gantry_testbed.layers import build_layer
from gantry_testbed.tarwriter import Entry
from gantry_testbed.trees import CAP_NET_RAW

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import tree_print  # noqa: E402

IMAGES = {
    "rich": lambda: [trees.rich_base_entries(), trees.rich_top_entries()],
    "layered": trees.layered_entries,
}


# Listed directories whose mtime umoci does not restore, beyond those it
# makes implicit dirs in: when an opaque marker comes after a directory's
# siblings, umoci empties the lower content of the subdirectory opq/sub after
# having set its mtime.
UMOCI_LOSES_MTIME = {"layered": {b"opq/sub"}}


def push(registry, repo: str, layers: list[list[Entry]], fmt: str = "oci",
         compression: str = "gzip") -> str:
    """Pushes the layers as one image; returns its reference."""
    tag = f"{fmt}-{compression}"
    image = images.build_image([build_layer(entries, compression) for entries in layers], fmt=fmt)
    registry.client.push_image(repo, image, tag=tag)
    return registry.ref(repo, tag)


def gantry_unpack(gantry, ref: str, rootfs: Path) -> Path:
    gantry.ok("unpack", "--plain-http", "--quiet", ref, str(rootfs))
    return rootfs


def umoci_unpack(ref: str, scratch: Path) -> Path:
    """skopeo copies the image out of the registry into an OCI layout; umoci
    unpacks it into a bundle; returns the bundle's rootfs."""
    layout, bundle = scratch / "oci-layout", scratch / "bundle"
    for argv in (["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}",
                  f"oci:{layout}:image"],
                 ["umoci", "unpack", "--image", f"{layout}:image", str(bundle)]):
        result = subprocess.run(argv, capture_output=True, text=True)
        assert result.returncode == 0, f"{argv}:\n{result.stderr}"
    return bundle / "rootfs"


def listed_dirs(layers: list[list[Entry]]) -> set[bytes]:
    """Directories some layer's tar lists, as tree_print paths."""
    return {posixpath.normpath(e.path_bytes) for layer in layers for e in layer
            if e.kind == "dir"}


def implicit_dirs(layers: list[list[Entry]], tree: Path) -> set[bytes]:
    """Directories of `tree` no layer lists: made by the unpacker, on its clock."""
    listed = listed_dirs(layers)
    return {rel for rel, st in tree_print.walk(tree)
            if stat.S_ISDIR(st.st_mode) and rel != b"." and rel not in listed}


def header_mtime_ns(layers: list[list[Entry]], path: bytes) -> int:
    """The mtime the last entry naming `path` gives it."""
    [*_, last] = [e for layer in layers for e in layer if posixpath.normpath(e.path_bytes) == path]
    return last.mtime * 10**9 + last.mtime_nsec


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_tree_equals_umocis(registry_plain, repo, gantry, scratch, kind):
    layers = IMAGES[kind]()
    ref = push(registry_plain, repo, layers)

    ours = gantry_unpack(gantry, ref, scratch / "rootfs")
    theirs = umoci_unpack(ref, scratch)

    implicit = implicit_dirs(layers, ours)
    assert implicit == implicit_dirs(layers, theirs)
    # umoci loses the mtime of a listed dir it later makes an implicit dir in.
    clobbered = {posixpath.dirname(d) for d in implicit} & listed_dirs(layers)
    clobbered |= UMOCI_LOSES_MTIME.get(kind, set())
    skip = implicit | clobbered
    assert tree_print.tree_text(ours, skip_mtimes=skip) == \
        tree_print.tree_text(theirs, skip_mtimes=skip)
    for d in clobbered:
        assert os.lstat(ours / os.fsdecode(d)).st_mtime_ns == header_mtime_ns(layers, d)


def test_layered_image_follows_oci_layer_semantics(registry_plain, repo, gantry, scratch):
    """The same tree checked without an oracle, against image-spec layer.md,
    in case umoci and gantry ever agree on a mistake."""
    ref = push(registry_plain, repo, trees.layered_entries())

    root = gantry_unpack(gantry, ref, scratch / "rootfs")

    names = {rel for rel, _ in tree_print.walk(root)}
    gone = {b"opq/old1", b"opq/old2", b"opq/sub/deep", b"opq/new1", b"opq-first/old",
            b"wh/gone-file", b"wh/gone-dir", b"wh/gone-link", b"flip/dir2file/child"}
    assert names & gone == set()
    assert not [n for n in names if b".wh." in n]
    assert {b"opq/sub/new2", b"opq-first/new", b"wh/keep", b"locked/old", b"locked/new"} <= names
    assert (root / "wh/recreated").read_bytes() == b"recreated as a file\n"
    assert (root / "flip/file2dir").read_bytes() == b"a file again\n"
    assert os.readlink(root / "flip/dir2file") == "file2dir"
    assert os.readlink(root / "flip/dir2sym") == "../lower"
    assert (root / "flip/sym2dir").is_dir() and not (root / "flip/sym2dir").is_symlink()
    assert len({os.lstat(root / p).st_ino
                for p in ("lower/target", "upper/hl-lower", "upper/hl-twice")}) == 1
    assert (root / "lower/overwritten-twin").read_bytes() == b"old\n"
    assert (root / "lower/overwritten").read_bytes() == b"new\n"
    assert stat.S_IMODE(os.lstat(root / "locked").st_mode) == 0
    assert os.getxattr(root / "xattrs/cap", "security.capability") == CAP_NET_RAW
    assert os.listxattr(root / "xattrs/user") == []
    assert stat.S_IMODE(os.lstat(root / "owners/sticky").st_mode) == 0o1770


@pytest.fixture(scope="module")
def twin_trees(registry_plain, gantry_bin, module_scratch):
    """kind -> gantry's tree text of the OCI gzip image (implicit dirs'
    mtimes left out), unpacked once per module."""
    cache: dict[str, str] = {}

    def tree(kind: str) -> str:
        if kind not in cache:
            layers = IMAGES[kind]()
            work = module_scratch / kind
            gantry = Gantry(gantry_bin, work / "store", work / "home")
            rootfs = gantry_unpack(gantry, push(registry_plain, f"it/twin-{kind}", layers),
                                   work / "rootfs")
            cache[kind] = tree_print.tree_text(rootfs, skip_mtimes=implicit_dirs(layers, rootfs))
        return cache[kind]
    return tree


VARIANTS = [(fmt, c) for fmt in mediatypes.FORMATS for c in mediatypes.COMPRESSIONS
            if (fmt, c) != ("oci", "gzip")]


@pytest.mark.parametrize("fmt,compression", VARIANTS)
@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_tree_is_the_same_for_every_format_and_compression(registry_plain, repo, gantry, scratch,
                                                           twin_trees, kind, fmt, compression):
    layers = IMAGES[kind]()
    ref = push(registry_plain, repo, layers, fmt, compression)

    rootfs = gantry_unpack(gantry, ref, scratch / "rootfs")

    assert tree_print.tree_text(rootfs, skip_mtimes=implicit_dirs(layers, rootfs)) == \
        twin_trees(kind)
