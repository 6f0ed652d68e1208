"""A realistic benchmark image made from this machine's own directories: real
file sizes, real compressibility, real file counts (one layer per directory
group). Each layer is built once and cached, because gzip-compressing a GiB
in Python takes a while; the cache is keyed by its directories and compression
(delete the cache after the host's directories change)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from gantry_testbed import images, layers  # noqa: E402
from gantry_testbed.blob import Blob  # noqa: E402
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


def _cached_layer(path: Path) -> layers.Layer | None:
    """The layer written to `path` by an earlier run, if it was completed
    (its sidecar is written last) and `path` still has its size."""
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
    except FileNotFoundError:
        return None
    if not path.exists() or path.stat().st_size != meta["size"]:
        return None
    return layers.Layer(Blob(meta["digest"], meta["size"], path=path), meta["compression"], meta["diff_id"], ())


def _cache_layer(layer: layers.Layer, path: Path) -> layers.Layer:
    path.with_suffix(".json").write_text(json.dumps({"digest": layer.blob.digest, "size": layer.blob.size,
                                                    "compression": layer.compression, "diff_id": layer.diff_id}))
    return layer


def file_entries(paths: list[str]) -> list[Entry]:
    """The files and symlinks at these host paths, each once at its real
    location (a path through /bin, a symlink to usr/bin on Debian 12, is
    stored under usr/bin), with every parent directory, parents first."""
    entries: dict[str, Entry] = {}
    for listed in paths:
        real = os.path.join(os.path.realpath(os.path.dirname(listed)), os.path.basename(listed))
        if not os.path.lexists(real) or (os.path.isdir(real) and not os.path.islink(real)):
            continue  # not installed (dpkg's path excludes), or a directory: added as a parent
        parts = Path(real).relative_to("/").parts
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent + "/" not in entries:
                st = os.lstat("/" + parent)
                entries[parent + "/"] = Entry(parent + "/", kind="dir", mode=stat.S_IMODE(st.st_mode),
                                              mtime=int(st.st_mtime))
        st = os.lstat(real)
        path = "/".join(parts)
        common = dict(mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid, mtime=int(st.st_mtime))
        if stat.S_ISLNK(st.st_mode):
            entries[path] = Entry(path, kind="symlink", linkname=os.readlink(real), **common)
        elif stat.S_ISREG(st.st_mode):
            entries[path] = Entry(path, kind="file", data=Path(real), **common)
    return [entries[p] for p in sorted(entries)]


def cached_layer(key: object, entries: list[Entry], compression: str, cache: Path) -> layers.Layer:
    """The layer of `entries`, built once: cached under `cache` by `key` (what
    names the entries: the host directories, the packages and versions)."""
    digest = hashlib.sha256(json.dumps([key, compression]).encode()).hexdigest()[:16]
    path = cache / f"layer-{digest}.{compression}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return _cached_layer(path) or _cache_layer(layers.build_layer(entries, compression, path=path), path)


def build_layers(groups: list[list[str]], compression: str, cache: Path) -> tuple[list[layers.Layer], dict]:
    """One layer per group of host directories, built once and cached, with
    the entry count and the uncompressed and compressed bytes of them all."""
    built = []
    stats = {"files": 0, "uncompressed": 0, "compressed": 0}
    for roots in groups:
        entries = tree_entries(roots)
        stats["files"] += len(entries)
        stats["uncompressed"] += sum(e.size for e in entries)
        layer = cached_layer(roots, entries, compression, cache)
        stats["compressed"] += layer.blob.size
        built.append(layer)
    return built, stats


def build(preset: str, compression: str, cache: Path) -> tuple[images.Image, dict]:
    built, stats = build_layers(PRESETS[preset], compression, cache)
    return images.build_image(built, config=images.ImageConfig(cmd=("/bin/sh",))), stats
