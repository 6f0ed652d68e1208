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
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gantry_testbed import images, mediatypes, trees
from gantry_testbed.gantry_cli import Gantry
from gantry_testbed.layers import build_layer, opaque, whiteout
from gantry_testbed.tarwriter import DEFAULT_MTIME, Entry
from gantry_testbed.trees import CAP_NET_RAW

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import tree_print  # noqa: E402

needs_umoci = pytest.mark.skipif(shutil.which("umoci") is None or shutil.which("skopeo") is None,
                                 reason="umoci and skopeo are needed for the oracle")

T1, T2, T3 = DEFAULT_MTIME, DEFAULT_MTIME + 1000, DEFAULT_MTIME + 2000


def _d(path: str, mtime: int = T1, **kw) -> Entry:
    return Entry(path, "dir", mtime=mtime, **kw)


def _f(path: str | bytes, data: bytes, mtime: int = T1, **kw) -> Entry:
    return Entry(path, data=data, mtime=mtime, **kw)


def _l(path: str, target: str, mtime: int = T1, **kw) -> Entry:
    return Entry(path, "symlink", linkname=target, mtime=mtime, **kw)


def _h(path: str, target: str, mtime: int = T1) -> Entry:
    return Entry(path, "hardlink", linkname=target, mtime=mtime)


def layered_entries() -> list[list[Entry]]:
    """Three layers exercising OCI layer semantics across layers (image-spec
    layer.md): whiteouts of files, dirs and symlinks, opaque markers before
    and AFTER their siblings, hardlinks to lower-layer files, type flips
    file <-> dir <-> symlink, a mode-000 dir gaining content, owners and modes
    changed by re-listing, devices, fifos, xattrs, large ids, odd names."""
    base = [
        _d("flip"),
        _f("flip/file2dir", b"file, then dir\n"),
        _d("flip/dir2file"), _f("flip/dir2file/child", b"goes\n"),
        _l("flip/sym2dir", "elsewhere"),
        _f("flip/file2sym", b"file, then symlink\n"),
        _d("flip/dir2sym"), _f("flip/dir2sym/child", b"goes\n"),
        _l("flip/sym2file", "/flip/file2dir"),
        _d("lower"),
        _f("lower/target", b"linked from above\n", mode=0o640, uid=1234, gid=4321),
        _f("lower/overwritten", b"old\n"),
        _h("lower/overwritten-twin", "lower/overwritten"),
        _d("opq"), _f("opq/old1", b"1\n"), _f("opq/old2", b"2\n"),
        _d("opq/sub"), _f("opq/sub/deep", b"deep\n"),
        _d("opq-first"), _f("opq-first/old", b"old\n"),
        _d("wh"), _f("wh/gone-file", b"x\n"), _d("wh/gone-dir"), _f("wh/gone-dir/f", b"x\n"),
        _l("wh/gone-link", "gone-file"), _f("wh/keep", b"kept\n"),
        _d("wh/recreated"), _f("wh/recreated/old", b"old\n"),
        _d("locked", mode=0o000), _f("locked/old", b"in a 000 dir\n", mode=0o400),
        _d("owners", uid=2_000_000_000, gid=2_000_000_001),
        _f("owners/big", b"big ids\n", uid=4_294_967_294, gid=4_294_967_293),
        _f("owners/setids", b"#!\n", mode=0o6755, uid=7, gid=8),
        _d("owners/sticky", mode=0o1777),
        _d("nodes"),
        Entry("nodes/tty", "char", mode=0o620, gid=5, devmajor=5, devminor=0),
        Entry("nodes/sda1", "block", mode=0o660, gid=6, devmajor=8, devminor=1),
        Entry("nodes/big-minor", "char", mode=0o600, devmajor=250, devminor=70000),
        Entry("nodes/pipe", "fifo", mode=0o644),
        _d("xattrs"),
        _f("xattrs/cap", b"ping\n", mode=0o755, xattrs={"security.capability": CAP_NET_RAW}),
        _f("xattrs/user", b"u\n", xattrs={"user.a": b"1", "user.z": b"\x00\xff\x80"}),
        _d("xattrs/dir", xattrs={"user.on-dir": b"yes"}),
        _f("xattrs/trusted", b"t\n", xattrs={"trusted.gantry": b"t"}),
        _d("names"),
        _f(b"names/raw-\xff\xfe", b"not utf-8\n"),
        _f("names/utf8-\u00fcber-\u6f22\u5b57", b"utf-8\n"),
        _f("names/" + "n" * 255, b"a 255-byte name\n"),
        _f("names/with space and\ttab", b"ws\n"),
        _f("names/a=b\\c", b"escapes\n"),
        _f("times/sub", b"t\n", mtime=1_600_000_000, mtime_nsec=987_654_321),
        _f("times/old", b"t\n", mtime=1),
    ]
    middle = [
        _d("flip", T2),
        _d("flip/file2dir", T2), _f("flip/file2dir/child", b"now a dir\n", T2),
        _f("flip/dir2file", b"now a file\n", T2),
        _d("flip/sym2dir", T2), _f("flip/sym2dir/child", b"now a dir\n", T2),
        _l("flip/file2sym", "dir2file", T2),
        _l("flip/dir2sym", "../lower", T2),
        _f("flip/sym2file", b"now a file\n", T2),
        _d("upper", T2),
        _h("upper/hl-lower", "lower/target", T2),
        # Overwriting one name of a hardlinked pair replaces that name only.
        _d("lower", T2), _f("lower/overwritten", b"new\n", T2),
        # The opaque marker after its siblings: it hides only lower content.
        _d("opq", T2), _f("opq/new1", b"new\n", T2), _d("opq/sub", T2),
        _f("opq/sub/new2", b"new\n", T2), opaque("opq", mtime=T2),
        _d("opq-first", T2), opaque("opq-first", mtime=T2), _f("opq-first/new", b"new\n", T2),
        _d("wh", T2),
        whiteout("wh/gone-file", mtime=T2), whiteout("wh/gone-dir", mtime=T2),
        whiteout("wh/gone-link", mtime=T2),
        # A new entry before the whiteout of its lower namesake survives it.
        _f("wh/recreated", b"recreated as a file\n", T2), whiteout("wh/recreated", mtime=T2),
        _f("locked/new", b"added under a 000 dir\n", T2, mode=0o400),
        _d("owners/sticky", T2, mode=0o1770, uid=33, gid=33),
    ]
    top = [
        _d("flip", T3),
        _f("flip/file2dir", b"a file again\n", T3),
        _l("flip/dir2file", "file2dir", T3),
        _d("upper", T3),
        _h("upper/hl-twice", "upper/hl-lower", T3),
        _d("opq", T3), whiteout("opq/new1", mtime=T3),
        _d("locked", T3, mode=0o000),
        _d("xattrs", T3),
        _f("xattrs/user", b"replaced, xattrs gone\n", T3),
    ]
    return [base, middle, top]


IMAGES = {
    "rich": lambda: [trees.rich_base_entries(), trees.rich_top_entries()],
    "layered": layered_entries,
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


@needs_umoci
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
    ref = push(registry_plain, repo, layered_entries())

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
