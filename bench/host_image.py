"""A realistic benchmark image made from this machine's own directories: real
file sizes, real compressibility, real file counts (one layer per directory
group). Built once per layout and cached, because gzip-compressing a GiB in
Python takes a while; the cache is keyed by the directories and compression."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from gantry_testbed import images, layers  # noqa: E402
from gantry_testbed.tarwriter import Entry  # noqa: E402

# Presets shaped like the images of the project's targets (DESIGN: a 1.2 GiB,
# 46k-file, 4-layer image and a 164 MiB one), from a Debian 12 cpp machine.
PRESETS = {
    "small": [["/usr/lib/gcc"]],
    # ~150 MiB in two layers, for bench/run_compare.py (over a busybox layer)
    "run": [["/usr/lib/python3.11", "/usr/libexec"], ["/usr/share/perl", "/usr/sbin"]],
    "medium": [["/usr/include"], ["/usr/bin"], ["/usr/lib/gcc"]],
    "large": [["/usr/include", "/usr/libexec"], ["/usr/bin", "/usr/sbin"], ["/usr/lib/gcc", "/usr/lib/python3.11"],
              ["/usr/share/doc", "/usr/share/locale", "/usr/share/perl", "/usr/share/i18n"]],
}


def tree_entries(roots: list[str]) -> list[Entry]:
    """Every directory, file and symlink under `roots`, named as in the host
    (without the leading slash), with modes, owners and mtimes."""
    entries: list[Entry] = []
    seen_dirs: set[str] = set()
    for root in roots:
        parts = Path(root).relative_to("/").parts
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in seen_dirs:
                seen_dirs.add(parent)
                entries.append(Entry(parent + "/", kind="dir", mode=0o755))
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel = os.path.relpath(dirpath, "/")
            st = os.lstat(dirpath)
            if rel not in seen_dirs:
                seen_dirs.add(rel)
                entries.append(Entry(rel + "/", kind="dir", mode=stat.S_IMODE(st.st_mode), uid=st.st_uid,
                                     gid=st.st_gid, mtime=int(st.st_mtime)))
            for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                path = os.path.join(rel, name)
                common = dict(mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid, mtime=int(st.st_mtime))
                if stat.S_ISLNK(st.st_mode):
                    entries.append(Entry(path, kind="symlink", linkname=os.readlink(full), **common))
                elif stat.S_ISREG(st.st_mode):
                    entries.append(Entry(path, kind="file", data=Path(full), **common))
    return entries


def build(preset: str, compression: str, cache: Path) -> tuple[images.Image, dict]:
    groups = PRESETS[preset]
    key = hashlib.sha256(json.dumps([groups, compression]).encode()).hexdigest()[:16]
    directory = cache / f"{preset}-{compression}-{key}"
    directory.mkdir(parents=True, exist_ok=True)
    built = []
    stats = {"files": 0, "uncompressed": 0, "compressed": 0}
    for i, roots in enumerate(groups):
        entries = tree_entries(roots)
        stats["files"] += len(entries)
        stats["uncompressed"] += sum(e.size for e in entries)
        path = directory / f"layer{i}.{compression}"
        layer = layers.build_layer(entries, compression, path=path)
        stats["compressed"] += path.stat().st_size
        built.append(layer)
    return images.build_image(built, config=images.ImageConfig(cmd=("/bin/sh",))), stats
