"""Described file trees: the busybox root, the feature-rich tree, and small
ones. Each function returns fresh Entry lists, in the order a tar carries them
(a directory before its contents)."""

from __future__ import annotations

from pathlib import Path

from .layers import opaque, whiteout
from .tarwriter import DEFAULT_MTIME, Entry

BUSYBOX = Path("/bin/busybox")
BUSYBOX_APPLETS = (
    "[", "basename", "cat", "chmod", "cp", "cut", "date", "dirname", "echo", "env",
    "false", "grep", "head", "hostname", "id", "kill", "ln", "ls", "mkdir", "mv",
    "printf", "ps", "pwd", "readlink", "rm", "sed", "sh", "sleep", "stat", "tail",
    "test", "touch", "true", "uname", "wc", "whoami",
)
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = b"root:x:0:\nnobody:x:65534:\n"

# security.capability granting cap_net_raw, effective (linux/capability.h,
# VFS_CAP_REVISION_2): magic_etc, then permitted/inheritable for two words.
CAP_NET_RAW = (0x02000001).to_bytes(4, "little") + (1 << 13).to_bytes(4, "little") + bytes(12)


def busybox_entries(busybox: Path = BUSYBOX) -> list[Entry]:
    dirs = [Entry(d, "dir") for d in ("bin", "dev", "etc", "proc", "sys")]
    dirs += [Entry("root", "dir", mode=0o700), Entry("tmp", "dir", mode=0o1777)]
    files = [Entry("bin/busybox", data=busybox, mode=0o755),
             Entry("etc/passwd", data=PASSWD), Entry("etc/group", data=GROUP)]
    links = [Entry(f"bin/{a}", "symlink", linkname="busybox") for a in BUSYBOX_APPLETS]
    return dirs + files + links


def platform_entries(platform: str) -> list[Entry]:
    return [Entry("etc", "dir"), Entry("etc/platform", data=f"{platform}\n".encode())]


def _long_path(prefix: str, length: int) -> str:
    """A path of exactly `length` bytes: `prefix`, then 49-byte segments."""
    path = (prefix + "/".join(["s" * 49] * (length // 50 + 1)))[:length]
    return path[:-1] + "s" if path.endswith("/") else path


def rich_base_entries() -> list[Entry]:
    """Every kind of entry and header encoding the builder can write."""
    return [
        Entry("etc", "dir"),
        Entry("etc/hello.txt", data=b"hello\n"),
        Entry("etc/hello-hard", "hardlink", linkname="etc/hello.txt"),
        Entry("etc/link-rel", "symlink", linkname="hello.txt"),
        Entry("etc/link-abs", "symlink", linkname="/etc/hello.txt"),
        Entry("etc/link-dangling", "symlink", linkname="nowhere"),
        Entry("etc/remove-me", data=b"whited out above\n"),
        # modes: setuid, setgid, sticky, and a mode-000 directory with content
        Entry("usr", "dir"), Entry("usr/bin", "dir"),
        Entry("usr/bin/suid", data=b"#!/bin/sh\n", mode=0o4755),
        Entry("usr/bin/sgid", data=b"#!/bin/sh\n", mode=0o2755),
        Entry("usr/bin/ping", data=b"ping\n", mode=0o755,
              xattrs={"security.capability": CAP_NET_RAW}),
        Entry("srv", "dir"),
        Entry("srv/sticky", "dir", mode=0o1777),
        Entry("srv/locked", "dir", mode=0o000),
        Entry("srv/locked/inside", data=b"behind a 000 dir\n", mode=0o600),
        Entry("srv/empty", data=b""),
        # owners beyond 16 bits; beyond the 7-digit octal field (pax, GNU base-256)
        Entry("srv/owner-100000", data=b"o\n", uid=100000, gid=100001,
              uname="alice", gname="staff"),
        Entry("srv/owner-pax", data=b"p\n", uid=3_000_000, gid=3_000_001),
        Entry("srv/owner-gnu", data=b"g\n", uid=4_000_000, gid=4_000_001, numbers="gnu"),
        # xattrs with text and binary values
        Entry("srv/xattrs", data=b"x\n",
              xattrs={"user.comment": b"gantry", "user.binary": b"\x00\xff\n=\x80"}),
        # times: sub-second (pax) and the epoch
        Entry("srv/subsecond", data=b"t\n", mtime=1_600_000_000, mtime_nsec=123_456_789),
        Entry("srv/epoch", data=b"e\n", mtime=0),
        # devices and a fifo
        Entry("dev", "dir"),
        Entry("dev/null", "char", mode=0o666, devmajor=1, devminor=3),
        Entry("dev/loop0", "block", mode=0o660, devmajor=7, devminor=0),
        Entry("run", "dir"),
        Entry("run/fifo", "fifo", mode=0o600),
        # long names: > 100 and > 255 bytes, as pax records, GNU entries, ustar prefix
        Entry("long", "dir"),
        Entry(_long_path("long/pax-", 150), data=b"pax 150\n"),
        Entry(_long_path("long/pax-", 300), data=b"pax 300\n"),
        Entry(_long_path("long/gnu-", 150), data=b"gnu 150\n", names="gnu"),
        Entry(_long_path("long/gnu-", 300), data=b"gnu 300\n", names="gnu"),
        Entry(_long_path("long/ustar-", 200), data=b"ustar 200\n", names="ustar"),
        Entry("long/link-pax", "symlink", linkname=_long_path("/target-pax-", 200)),
        Entry("long/link-gnu", "symlink", linkname=_long_path("/target-gnu-", 200), names="gnu"),
        # names that are not UTF-8
        Entry(b"srv/latin1-\xe9t\xe9", data=b"latin-1\n"),
        Entry(b"long/latin1-" + b"\xe9" * 120, data=b"long latin-1\n"),
        Entry(b"long/gnu-latin1-" + b"\xe9" * 120, data=b"gnu latin-1\n", names="gnu"),
        # what the layer above deletes
        Entry("var", "dir"), Entry("var/cache", "dir"),
        Entry("var/cache/a", data=b"a\n"), Entry("var/cache/b", data=b"b\n"),
    ]


def rich_top_entries() -> list[Entry]:
    """Deletes with a whiteout, hides var/cache with an opaque marker, and
    overwrites a file from below."""
    return [
        Entry("etc", "dir"),
        whiteout("etc/remove-me"),
        Entry("etc/hello.txt", data=b"hello again\n"),
        Entry("var", "dir"),
        Entry("var/cache", "dir"),
        opaque("var/cache"),
        Entry("var/cache/c", data=b"c\n"),
    ]


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


# The kernel follows at most 40 symlinks in one lookup (MAXSYMLINKS).
MAX_SYMLINK_HOPS = 40


def deep_tree_entries(levels: int, hop: int = 500) -> list[Entry]:
    """A tree `levels` directories deep whose entry names stay short (about
    2 * `hop` bytes), far deeper than PATH_MAX: each step makes `hop` more
    levels below the previous step's symlink in one entry (its parents are
    implicit), then a symlink at the top, `hopN`, to that new bottom. A file
    `bottom` ends it. Each step adds one symlink to a lookup from the top,
    so there are fewer steps than the kernel's MAXSYMLINKS."""
    steps = -(-levels // hop)
    if steps >= MAX_SYMLINK_HOPS:
        raise ValueError(f"{levels} levels need {steps} symlink hops; use a longer hop")
    entries: list[Entry] = []
    base = ""
    for step in range(steps):
        bottom = base + "/".join(["d"] * min(hop, levels - step * hop))
        entries += [Entry(bottom, "dir"), Entry(f"hop{step}", "symlink", linkname=bottom)]
        base = f"hop{step}/"
    entries.append(Entry(base + "bottom", data=b"at the bottom\n"))
    return entries
