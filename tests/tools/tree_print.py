#!/usr/bin/python3
"""Print a file tree as comparable text: one line per path, sorted by the
path's bytes, so two unpackers' trees can be diffed line by line.

    tree_print.py [--no-dir-mtimes] ROOT

Each line is the path relative to ROOT ("." for ROOT itself), then fields:

    type      file, dir, symlink, char, block, fifo, socket
    mode      permission bits with setuid/setgid/sticky, 4 octal digits
    uid, gid  numeric owner
    size      regular files
    sha256    of a regular file's content
    target    a symlink's target, bytes escaped
    link      hardlink group: paths sharing an inode share a group, numbered
              h1, h2, ... in order of their first path (files seen once have none)
    dev       major:minor of a character or block device
    mtime     seconds.nanoseconds; for every path but ROOT itself (its mtime
              is the unpacker's, not the image's), for directories only with
              dir_mtimes (OCI layers carry directory mtimes; umoci restores
              them, so unpack tests compare them too)
    xattrs    name=hex value, sorted by name; security.selinux is left out
              (the host's labelling, not the image's), and so is
              trusted.gantry.unsynced (the store's mark on a snapshot's root
              not yet synced to disk, the store's state, not the image's)

Bytes outside printable ASCII, backslash, space and '=' in names and targets
are escaped as \\xNN, so every line is ASCII and non-UTF-8 names compare
exactly. Symlinks are never followed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import stat
import sys
from pathlib import Path
from typing import Collection

IGNORED_XATTRS = {b"security.selinux", b"trusted.gantry.unsynced"}

_TYPES = (
    (stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
    (stat.S_ISCHR, "char"), (stat.S_ISBLK, "block"), (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
)


def escape(name: bytes) -> str:
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b not in b"\\=" else f"\\x{b:02x}"
                   for b in name)


def file_type(mode: int) -> str:
    for test, name in _TYPES:
        if test(mode):
            return name
    return f"unknown-{stat.S_IFMT(mode):o}"


def sha256_file(path: bytes) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def xattrs(path: bytes) -> list[str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []  # a filesystem or node type without xattrs
    out = []
    for name in sorted(os.fsencode(n) for n in names):
        if name in IGNORED_XATTRS:
            continue
        value = os.getxattr(path, name, follow_symlinks=False)
        out.append(f"{escape(name)}={value.hex()}")
    return out


def walk(root: str | os.PathLike | bytes) -> list[tuple[bytes, os.stat_result]]:
    """Every path under `root` (relative, root itself as "."), with its lstat,
    sorted by bytes. Directories are listed however their mode reads: root
    reads them anyway, and the caller may not be root only for mode-000 dirs
    it cannot list, which then stay empty here."""
    root = os.fsencode(root)
    found = [(b".", os.lstat(root))]
    stack = [b""]
    while stack:
        rel = stack.pop()
        for entry in os.scandir(os.path.join(root, rel) if rel else root):
            child = os.path.join(rel, entry.name) if rel else entry.name
            st = entry.stat(follow_symlinks=False)
            found.append((child, st))
            if stat.S_ISDIR(st.st_mode):
                stack.append(child)
    return sorted(found, key=lambda item: item[0])


def tree_lines(root: str | os.PathLike, dir_mtimes: bool = True,
               skip_mtimes: Collection[bytes] = ()) -> list[str]:
    """The lines for `root`; paths in `skip_mtimes` (relative, bytes) print
    no mtime (e.g. directories the unpacker made on its own clock)."""
    root_bytes = os.fsencode(root)
    paths = walk(root_bytes)
    inode_paths: dict[tuple[int, int], list[bytes]] = {}
    for rel, st in paths:
        if not stat.S_ISDIR(st.st_mode):
            inode_paths.setdefault((st.st_dev, st.st_ino), []).append(rel)
    groups: dict[tuple[int, int], str] = {}
    for rel, st in paths:  # sorted: groups are numbered by their first path
        key = (st.st_dev, st.st_ino)
        if len(inode_paths.get(key, ())) > 1 and key not in groups:
            groups[key] = f"h{len(groups) + 1}"

    lines = []
    for rel, st in paths:
        full = os.path.join(root_bytes, rel) if rel != b"." else root_bytes
        kind = file_type(st.st_mode)
        fields = [f"type={kind}", f"mode={stat.S_IMODE(st.st_mode):04o}",
                  f"uid={st.st_uid}", f"gid={st.st_gid}"]
        if kind == "file":
            fields += [f"size={st.st_size}", f"sha256={sha256_file(full)}"]
        if kind == "symlink":
            fields.append(f"target={escape(os.readlink(full))}")
        if (st.st_dev, st.st_ino) in groups:
            fields.append(f"link={groups[(st.st_dev, st.st_ino)]}")
        if kind in ("char", "block"):
            fields.append(f"dev={os.major(st.st_rdev)}:{os.minor(st.st_rdev)}")
        if rel != b"." and (kind != "dir" or dir_mtimes) and rel not in skip_mtimes:
            fields.append(f"mtime={st.st_mtime_ns // 10**9}.{st.st_mtime_ns % 10**9:09d}")
        fields += [f"xattr:{x}" for x in xattrs(full)]
        lines.append(" ".join([escape(rel), *fields]))
    return lines


def tree_text(root: str | os.PathLike, dir_mtimes: bool = True,
              skip_mtimes: Collection[bytes] = ()) -> str:
    return "".join(line + "\n" for line in tree_lines(root, dir_mtimes, skip_mtimes))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-dir-mtimes", action="store_true",
                        help="leave directory mtimes out")
    parser.add_argument("root", type=Path)
    args = parser.parse_args(argv)
    sys.stdout.write(tree_text(args.root, dir_mtimes=not args.no_dir_mtimes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
