"""Described file trees: the busybox root, the feature-rich tree, and small
ones. Each function returns fresh Entry lists, in the order a tar carries them
(a directory before its contents)."""

from __future__ import annotations

from pathlib import Path

from .layers import opaque, whiteout
from .tarwriter import Entry

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
