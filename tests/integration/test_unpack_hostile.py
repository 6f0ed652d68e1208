"""Hostile layers through `gantry unpack`: nothing outside DIR ever changes.

Each case unpacks an image into BED/root beside BED/sentinel, a
directory of files with known contents, owners, modes, times, inodes and
link counts. The hostile names aim at the sentinel the way an escape would
reach it: relative names climbing to "/" and down its absolute path, the
absolute path itself, symlinks to it (absolute, relative, chained, set up in
a lower layer), hardlinks to its files, whiteouts and opaque markers below
links to it, and type flips that would write through a link. Afterwards
every path of BED but root/ has the same lstat (mode, owner, size,
mtime, ctime, inode, link count), the sentinel the same tree text
(contents, xattrs), and BED holds nothing but root/ and the sentinel. Every
case runs into an existing empty DIR (filled in place); those aiming at a
sibling of DIR also into a new DIR (staged as a hidden sibling, renamed
into place).

The applier's policy (unpack/applier.hpp) is what each case expects:
CONFINED like umoci and containerd (names cleaned lexically, every lookup
through openat2(RESOLVE_IN_ROOT), so a climb or a link to "/" lands inside
DIR), and REFUSED, with one `gantry: error:` line naming the entry and DIR
left empty, for a non-directory that would replace the root (a symlink named
"."), a whiteout of "." or "..", a hardlink to nothing or to a directory, and
a parent that is a dangling symlink or a loop.

And modes are the headers': a pax access ACL (SCHILY.acl.access) does not
widen them (libarchive folds its user::/group::/other:: entries into the
mode), and ACLs are not applied, as containerd and umoci ignore them.
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gantry_testbed import images
from gantry_testbed.layers import OPAQUE_MARKER, build_layer, whiteout
from gantry_testbed.tarwriter import Entry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import tree_print  # noqa: E402

UP = "../" * 40  # more than any scratch dir is deep: climbs to "/" if not confined
# An absolute name no test machine has: an escape would create it in "/".
HOST_ABS = f"/gantry-hostile-{secrets.token_hex(6)}"


@dataclass
class Case:
    """`layers(S)` builds the layers given the sentinel's absolute path S
    (no trailing slash). Exactly one of `inside` (DIR-relative path ->
    what it must be: bytes for a file's content, "dir", "-> TARGET" for a
    symlink, "absent") and `error` (the entry the error line must name)."""

    layers: object
    inside: dict[str, object] = field(default_factory=dict)
    error: str | None = None


def f(path: str, data: bytes = b"pwned\n", **kw) -> Entry:
    return Entry(path, data=data, **kw)


def d(path: str, **kw) -> Entry:
    return Entry(path, "dir", **kw)


def sym(path: str, target: str) -> Entry:
    return Entry(path, "symlink", linkname=target)


def hard(path: str, target: str) -> Entry:
    return Entry(path, "hardlink", linkname=target)


def rel(s: str) -> str:
    """The sentinel's path as a name inside DIR."""
    return s.lstrip("/")


CASES: dict[str, Case] = {
    # --- traversal names -------------------------------------------------
    "climb-to-root": Case(lambda s: [[f(UP + rel(s) + "/secret")]],
                          {"{S}/secret": b"pwned\n"}),
    "climb-one-level": Case(lambda s: [[f("../sentinel/secret")]],
                            {"sentinel/secret": b"pwned\n"}),
    "climb-after-descent": Case(lambda s: [[f("a/b/../../../sentinel/secret")]],
                                {"sentinel/secret": b"pwned\n"}),
    "absolute-name": Case(lambda s: [[f(s + "/secret")]], {"{S}/secret": b"pwned\n"}),
    "absolute-host-name": Case(lambda s: [[f(HOST_ABS + "/pwned")]],
                               {HOST_ABS.lstrip("/") + "/pwned": b"pwned\n"}),
    "climbing-dir-entry": Case(lambda s: [[d(UP + rel(s), mode=0o777)]],
                               {"{S}": "dir"}),
    # --- symlink escapes ---------------------------------------------------
    "symlink-absolute-dangling": Case(lambda s: [[sym("esc", s), f("esc/secret")]],
                                      error="esc/secret"),
    "symlink-absolute": Case(lambda s: [[d(rel(s)), sym("esc", s), f("esc/secret")]],
                             {"{S}/secret": b"pwned\n", "esc": "-> {s}"}),
    "symlink-relative": Case(lambda s: [[d(rel(s)), sym("esc", UP + rel(s)), f("esc/secret")]],
                             {"{S}/secret": b"pwned\n"}),
    "symlink-to-root": Case(lambda s: [[sym("r", "/"), f("r/pwned")]], {"pwned": b"pwned\n"}),
    "symlink-to-dotdot": Case(lambda s: [[d("x"), sym("x/up", "../.."), f("x/up/pwned")]],
                              {"pwned": b"pwned\n"}),
    "symlink-chain": Case(lambda s: [[d("c"), sym("b", "c/../../.."), sym("a", "b/" + UP),
                                      f("a/pwned")]],
                          {"pwned": b"pwned\n"}),
    "symlink-chain-absolute": Case(lambda s: [[d(rel(s)), sym("one", "/two"), sym("two", s),
                                               f("one/secret")]],
                                   {"{S}/secret": b"pwned\n"}),
    "symlink-loop": Case(lambda s: [[sym("loop", "loop"), f("loop/x")]], error="loop/x"),
    "cross-layer-symlink-to-root": Case(lambda s: [[sym("up", "/")], [f("up/pwned")]],
                                        {"pwned": b"pwned\n"}),
    "cross-layer-symlink-to-dotdot": Case(lambda s: [[sym("back", "..")],
                                                     [f("back/" + rel(s) + "/x")]],
                                          {"{S}/x": b"pwned\n"}),
    "cross-layer-symlink-to-sentinel": Case(lambda s: [[d(rel(s)), sym("s", s)],
                                                       [f("s/secret")]],
                                            {"{S}/secret": b"pwned\n"}),
    "cross-layer-dangling-symlink": Case(lambda s: [[sym("s", "../sentinel")], [f("s/secret")]],
                                         error="s/secret"),
    # --- hardlink escapes ----------------------------------------------------
    "hardlink-climbing": Case(lambda s: [[hard("hl", "../sentinel/secret")]], error="hl"),
    "hardlink-absolute": Case(lambda s: [[hard("hl", s + "/secret")]], error="hl"),
    "hardlink-climbing-lands-inside": Case(
        lambda s: [[d("sentinel"), f("sentinel/secret", b"inside\n"),
                    hard("hl", UP + "sentinel/secret")]],
        {"hl": b"inside\n", "sentinel/secret": b"inside\n"}),
    "hardlink-through-symlink": Case(lambda s: [[sym("s", s)], [hard("hl", "s/secret")]],
                                     error="hl"),
    "hardlink-to-root": Case(lambda s: [[hard("hl", "/")]], error="hl"),
    "hardlink-to-dir": Case(lambda s: [[d("dir"), hard("hl", "dir")]], error="hl"),
    "hardlink-named-outside": Case(lambda s: [[f("x", b"x\n"), hard(UP + rel(s) + "/hl", "x")]],
                                   {"{S}/hl": b"x\n"}),
    "hardlink-to-escaping-symlink-then-written": Case(
        lambda s: [[sym("l", s + "/secret"), hard("hl", "l")], [f("hl")]],
        {"hl": b"pwned\n", "l": "-> {s}/secret"}),
    # --- whiteout and opaque escapes -----------------------------------------
    # A whiteout or opaque marker aimed outside acts on the same name inside.
    "whiteout-climbing": Case(lambda s: [[d(rel(s)), f(rel(s) + "/secret")],
                                         [whiteout(UP + rel(s) + "/secret")]],
                              {"{S}/secret": "absent", "{S}": "dir"}),
    "whiteout-one-level": Case(lambda s: [[d("sentinel"), f("sentinel/secret")],
                                          [whiteout("../sentinel")]],
                               {"sentinel": "absent"}),
    "whiteout-absolute": Case(lambda s: [[d(rel(s)), f(rel(s) + "/secret")],
                                         [whiteout(s + "/secret")]],
                              {"{S}/secret": "absent", "{S}": "dir"}),
    "whiteout-of-dotdot": Case(lambda s: [[d("a")], [Entry("a/.wh..."), f("a/x")]],
                               error="a/.wh..."),
    "whiteout-of-dot": Case(lambda s: [[d("a")], [Entry("a/.wh.."), f("a/x")]], error="a/.wh.."),
    "whiteout-under-symlink": Case(lambda s: [[d(rel(s)), f(rel(s) + "/secret"), sym("s", s)],
                                              [whiteout("s/secret")]],
                                   {"{S}/secret": "absent", "s": "-> {s}"}),
    # Nothing to remove inside DIR: a no-op, as for any whiteout of a missing name.
    "whiteout-under-dangling-symlink": Case(lambda s: [[sym("s", s)], [whiteout("s/secret")]],
                                            {"s": "-> {s}"}),
    "opaque-under-symlink": Case(lambda s: [[d(rel(s)), f(rel(s) + "/keep"), sym("s", s)],
                                            [Entry("s/" + OPAQUE_MARKER)]],
                                 {"{S}/keep": "absent", "s": "-> {s}"}),
    "opaque-climbing": Case(lambda s: [[d(rel(s)), f(rel(s) + "/keep")],
                                       [Entry(UP + rel(s) + "/" + OPAQUE_MARKER)]],
                            {"{S}/keep": "absent", "{S}": "dir"}),
    "opaque-absolute": Case(lambda s: [[d(rel(s)), f(rel(s) + "/keep")],
                                       [Entry(s + "/" + OPAQUE_MARKER)]],
                            {"{S}/keep": "absent", "{S}": "dir"}),
    # --- the root itself -----------------------------------------------------
    "symlink-named-dot": Case(lambda s: [[sym(".", s)]], error="."),
    "symlink-named-dot-slash": Case(lambda s: [[d("a")], [sym("./", s)]], error="./"),
    "symlink-named-dotdot": Case(lambda s: [[sym("..", s)]], error=".."),
    "symlink-named-slash": Case(lambda s: [[sym("/", s)]], error="/"),
    "file-named-dot": Case(lambda s: [[f(".")]], error="."),
    # --- the cleanup after a failure ----------------------------------------
    # DIR is emptied after the error: links out of it, absolute and relative
    # (they point outside when a host path follows them), must not be followed.
    "emptied-after-failure-past-escaping-links": Case(
        lambda s: [[sym("abs", s), sym("rel", "../sentinel"), sym("sub", s + "/sub"),
                    d("locked", mode=0o000), f("locked/x")],
                   [f(".")]],
        error="."),
    # --- type flips ------------------------------------------------------------
    "dir-flips-to-escaping-symlink": Case(
        lambda s: [[d(rel(s)), d("d"), f("d/f", b"old\n")], [sym("d", s)], [f("d/f")]],
        {"d": "-> {s}", "{S}/f": b"pwned\n"}),
    "symlink-flips-to-file": Case(lambda s: [[sym("t", s + "/secret")], [f("t")]],
                                  {"t": b"pwned\n"}),
    "symlink-flips-to-dir": Case(lambda s: [[sym("t", s + "/sub")],
                                            [d("t", mode=0o700, uid=1234, gid=1234)]],
                                 {"t": "dir"}),
    "symlink-flips-to-file-same-layer": Case(lambda s: [[sym("t", s + "/secret"), f("t")]],
                                             {"t": b"pwned\n"}),
    "symlink-relisted-with-attributes": Case(
        lambda s: [[sym("t", s + "/secret")],
                   [Entry("t", "symlink", linkname=s + "/secret", uid=1234, gid=1234,
                          xattrs={"trusted.pwned": b"1"})]],
        {"t": "-> {s}/secret"}),
    "file-flips-to-symlink-then-written": Case(
        lambda s: [[f("t", b"old\n")], [sym("t", s + "/secret")], [f("t")]],
        {"t": b"pwned\n"}),
}


def make_sentinel(directory: Path) -> None:
    directory.mkdir()
    (directory / "secret").write_bytes(b"secret\n")
    (directory / "sub").mkdir()
    (directory / "sub/inner").write_bytes(b"inner\n")
    (directory / "x").write_bytes(b"x\n")
    os.setxattr(directory / "secret", "user.kept", b"yes")
    os.chmod(directory / "sub", 0o500)  # a chmod through a link would show
    # Known, old times: an escape writing here would move them.
    for path in (directory / "sub/inner", directory / "secret", directory / "x",
                 directory / "sub", directory):
        os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))


def outside_state(bed: Path, new_dir: bool) -> tuple[list, str]:
    """lstat of every path in `bed` except root/ and below, and the
    sentinel's tree text. Creating a new DIR changes `bed` itself."""
    paths = [(p, st) for p, st in tree_print.walk(bed)
             if p != b"root" and not p.startswith(b"root/") and not (new_dir and p == b".")]
    stats = [(p, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
              st.st_ino, st.st_nlink) for p, st in paths]
    return stats, tree_print.tree_text(bed / "sentinel")


def describe(path: Path) -> object:
    if not os.path.lexists(path):
        return "absent"
    if path.is_symlink():
        return f"-> {os.readlink(path)}"
    if path.is_dir():
        return "dir"
    return path.read_bytes()


def run_case(registry, repo, gantry, scratch, name: str, new_dir: bool) -> None:
    case = CASES[name]
    bed = scratch / "bed"  # beside gantry's store and home, which do change
    sentinel, root = bed / "sentinel", bed / "root"
    bed.mkdir()
    make_sentinel(sentinel)
    if not new_dir:
        root.mkdir()
    s = str(sentinel)
    image = images.build_image([build_layer(entries) for entries in case.layers(s)])
    registry.client.push_image(repo, image, tag="hostile")
    before = outside_state(bed, new_dir)

    if case.error is None:
        gantry.ok("unpack", "--plain-http", "--quiet", registry.ref(repo, "hostile"), str(root))
    else:
        line = gantry.fails("unpack", "--plain-http", registry.ref(repo, "hostile"), str(root))

    assert outside_state(bed, new_dir) == before
    assert not os.path.lexists(HOST_ABS)
    if case.error is None:
        assert sorted(os.listdir(bed)) == ["root", "sentinel"]
        for where, what in case.inside.items():
            path = root / where.replace("{S}", s.lstrip("/"))
            expected = what.replace("{s}", s) if isinstance(what, str) else what
            assert describe(path) == expected, where
    else:
        assert line.endswith(f"(path {case.error})"), line
        assert not root.exists() or os.listdir(root) == []
        assert set(os.listdir(bed)) <= {"root", "sentinel"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_layer_changes_nothing_outside(registry_plain, repo, gantry, scratch, name):
    """Into an existing empty DIR, filled in place."""
    run_case(registry_plain, repo, gantry, scratch, name, new_dir=False)


# A new DIR is staged as a hidden sibling and renamed into place: the cases
# whose names or links lead to a sibling of DIR, run that way too.
NEW_DIR_CASES = ["climb-one-level", "whiteout-one-level", "hardlink-climbing",
                 "cross-layer-dangling-symlink", "symlink-relative",
                 "dir-flips-to-escaping-symlink", "emptied-after-failure-past-escaping-links"]


@pytest.mark.parametrize("name", NEW_DIR_CASES)
def test_hostile_layer_into_a_new_dir_changes_nothing_outside(registry_plain, repo, gantry,
                                                              scratch, name):
    run_case(registry_plain, repo, gantry, scratch, name, new_dir=True)


def test_a_pax_acl_does_not_widen_the_header_mode(registry_plain, repo, gantry, scratch):
    wide = b"user::rwx,group::rwx,other::rwx"
    acl = "SCHILY.acl.access"
    entries = [f("narrow", b"x", mode=0o640, pax={acl: b"user::rwx,group::rw-,other::rwx"}),
               f("private", b"y" * 5000, mode=0o700, pax={acl: b"user::rwx,user:1000:rwx,group::rwx,mask::rwx,other::rwx"}),
               d("dir", mode=0o750, pax={acl: wide, "SCHILY.acl.default": wide})]
    registry_plain.client.push_image(repo, images.build_image([build_layer(entries)]), tag="acl")
    root = scratch / "root"

    gantry.ok("unpack", "--plain-http", "--quiet", registry_plain.ref(repo, "acl"), str(root))

    for name, mode in (("narrow", 0o640), ("private", 0o700), ("dir", 0o750)):
        path = root / name
        assert oct(path.lstat().st_mode & 0o7777) == oct(mode), name
        assert not {"system.posix_acl_access", "system.posix_acl_default"} & set(os.listxattr(path)), name
    assert (root / "private").read_bytes() == b"y" * 5000
