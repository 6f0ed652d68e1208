"""A tar writer of our own, so the test bed controls every header byte.

Python's tarfile normalises names and refuses some entries; gantry's tests need
the opposite: names with `..`, absolute names, links out of the root, numbers
that only fit in PAX records or GNU base-256, binary xattrs and non-UTF-8
names, each in the exact encoding under test. Formats: POSIX.1-1988 ustar
headers, POSIX.1-2001 pax extended headers ('x'), GNU long name/link entries
('L'/'K'), GNU base-256 numbers and GNU's pax sparse files (format 1.0).

Entries are written as given; the writer never rewrites a path.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Protocol

from .content import Content, content_chunks, content_size

BLOCK = 512

# typeflag per entry kind (POSIX ustar).
TYPEFLAGS = {
    "file": b"0",
    "hardlink": b"1",
    "symlink": b"2",
    "char": b"3",
    "block": b"4",
    "dir": b"5",
    "fifo": b"6",
}
DEFAULT_MODES = {"dir": 0o755, "symlink": 0o777}
DEFAULT_MTIME = 1_700_000_000  # fixed, so layers (and their digests) are reproducible

POSIX_MAGIC = b"ustar\x0000"
GNU_MAGIC = b"ustar  \x00"  # "ustar " + version " \0"


@dataclass
class Entry:
    """One tar member, described the way a test thinks about it.

    `path` and `linkname` are str (UTF-8) or bytes (taken verbatim, for
    non-UTF-8 names). `names` picks how a name over 100 bytes is carried:
    "pax" (a pax `path`/`linkpath` record), "gnu" ('L'/'K' entries) or
    "ustar" (the 155-byte prefix field; fails if the name cannot be split).
    `numbers` picks how a uid/gid/size/mtime that overflows its octal field
    is carried: "pax" records or "gnu" base-256. `pax` adds raw records
    (for hostile tests), written after the ones the writer derives.
    """

    path: str | bytes
    kind: str = "file"
    data: Content = b""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    mtime: int = DEFAULT_MTIME
    mtime_nsec: int = 0
    linkname: str | bytes = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)
    names: str = "pax"
    numbers: str = "pax"
    pax: dict[str, bytes] = field(default_factory=dict)
    sparse: Sparse | None = None  # a sparse file: its content instead of `data`

    def __post_init__(self) -> None:
        if self.kind not in TYPEFLAGS:
            raise ValueError(f"unknown entry kind {self.kind!r}")
        if self.mode is None:
            self.mode = DEFAULT_MODES.get(self.kind, 0o644)

    @property
    def size(self) -> int:
        """Bytes of member data: only regular files carry any."""
        if self.kind != "file":
            return 0
        return self.sparse.stored_size if self.sparse is not None else content_size(self.data)

    @property
    def path_bytes(self) -> bytes:
        return _encode(self.path)


@dataclass(frozen=True)
class Sparse:
    """A sparse file's content in GNU tar's pax format 1.0 (GNU.sparse.major=1,
    minor=0): `size` bytes, data only in `segments`, (offset, bytes) at
    increasing offsets, holes between. The member's data is the map ("N\\n",
    then "offset\\nlength\\n" per segment, in decimal, padded to a block)
    followed by the segments' bytes; pax records carry the real name and
    size, the header a "GNUSparseFile.0" name as GNU tar writes it."""

    size: int
    segments: tuple[tuple[int, bytes], ...]

    def map_bytes(self) -> bytes:
        # A file ending in a hole ends its map with an empty segment at its
        # size, as GNU tar writes it (and needs it, to extend the file).
        spans = [(off, len(data)) for off, data in self.segments]
        if not spans or sum(spans[-1]) != self.size:
            spans.append((self.size, 0))
        text = b"%d\n" % len(spans) + b"".join(b"%d\n%d\n" % span for span in spans)
        return text + _padding(len(text))

    @property
    def stored_size(self) -> int:
        return len(self.map_bytes()) + sum(len(data) for _, data in self.segments)


class Sink(Protocol):
    def write(self, data: bytes) -> object: ...


def _encode(name: str | bytes) -> bytes:
    return name if isinstance(name, bytes) else name.encode("utf-8")


def _is_utf8(name: bytes) -> bool:
    try:
        name.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def pax_record(key: str, value: bytes) -> bytes:
    """One `"%d %s=%s\\n"` record; the length counts its own digits."""
    body = b" " + key.encode("utf-8") + b"=" + value + b"\n"
    n = len(body)
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    return str(n).encode() + body


def _octal(value: int, width: int) -> bytes | None:
    """`width-1` octal digits and a NUL, or None when the value does not fit."""
    if 0 <= value < 8 ** (width - 1):
        return b"%0*o\x00" % (width - 1, value)
    return None


def _base256(value: int, width: int) -> bytes:
    """GNU base-256: high bit of the first byte set, big-endian two's complement."""
    raw = value.to_bytes(width, "big", signed=True)
    return bytes([raw[0] | 0x80]) + raw[1:] if value >= 0 else raw


class _Header:
    """Field values of one 512-byte header plus the pax records it needs."""

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.pax: list[tuple[str, bytes]] = []
        self.gnu = entry.numbers == "gnu" or entry.names == "gnu"
        self.prefix = b""

    def number(self, key: str, value: int, width: int) -> bytes:
        if (octal := _octal(value, width)) is not None:
            return octal
        if self.entry.numbers == "gnu":
            return _base256(value, width)
        self.pax.append((key, str(value).encode()))
        return _octal(0, width)

    def mtime(self) -> bytes:
        e = self.entry
        if e.mtime_nsec:
            frac = f"{e.mtime_nsec:09d}".rstrip("0")
            self.pax.append(("mtime", f"{e.mtime}.{frac}".encode()))
            return _octal(max(e.mtime, 0), 12) or _octal(0, 12)
        return self.number("mtime", e.mtime, 12)

    def name(self, key: str, value: bytes, long_type: bytes, width: int,
             prelude: list[bytes]) -> bytes:
        """The field value for a path or link target, adding the pax record or
        GNU long entry that carries it when it is over `width` bytes."""
        if len(value) <= width:
            return value
        style = self.entry.names
        if style == "gnu":
            prelude.append(_gnu_long_entry(long_type, value))
        elif style == "pax":
            if not _is_utf8(value) and ("hdrcharset", b"BINARY") not in self.pax:
                # POSIX.1-2001 pax: hdrcharset=BINARY says the names are raw bytes.
                self.pax.append(("hdrcharset", b"BINARY"))
            self.pax.append((key, value))
        elif style == "ustar" and key == "path":
            self.prefix, value = _ustar_split(value)
            return value
        else:
            raise ValueError(f"{key} of {len(value)} bytes does not fit with names={style!r}")
        return value[:width]


def _ustar_split(path: bytes) -> tuple[bytes, bytes]:
    """Split at a '/' so the prefix is <= 155 bytes and the name <= 100."""
    for i in range(len(path) - 1, -1, -1):
        if path[i:i + 1] == b"/" and i <= 155 and len(path) - i - 1 <= 100:
            return path[:i], path[i + 1:]
    raise ValueError(f"path of {len(path)} bytes cannot be split for ustar")


def _pack(name: bytes, mode: bytes, uid: bytes, gid: bytes, size: bytes, mtime: bytes,
          typeflag: bytes, linkname: bytes, magic: bytes, uname: bytes, gname: bytes,
          devmajor: bytes, devminor: bytes, prefix: bytes) -> bytes:
    def fixed(value: bytes, width: int) -> bytes:
        if len(value) > width:
            raise ValueError(f"header field {value[:20]!r}... over {width} bytes")
        return value.ljust(width, b"\x00")

    header = b"".join([
        fixed(name, 100), fixed(mode, 8), fixed(uid, 8), fixed(gid, 8),
        fixed(size, 12), fixed(mtime, 12), b" " * 8, fixed(typeflag, 1),
        fixed(linkname, 100), magic, fixed(uname, 32), fixed(gname, 32),
        fixed(devmajor, 8), fixed(devminor, 8), fixed(prefix, 155),
    ]).ljust(BLOCK, b"\x00")
    checksum = b"%06o\x00 " % sum(header)
    return header[:148] + checksum + header[156:]


def _padding(size: int) -> bytes:
    return b"\x00" * (-size % BLOCK)


def _meta_entry(typeflag: bytes, name: bytes, payload: bytes, magic: bytes) -> bytes:
    """A header-only member ('x', 'L', 'K') whose data is `payload`."""
    zero = _octal(0, 8)
    header = _pack(name, _octal(0o644, 8), zero, zero, _octal(len(payload), 12),
                   _octal(0, 12), typeflag, b"", magic, b"", b"", zero, zero, b"")
    return header + payload + _padding(len(payload))


def _gnu_long_entry(typeflag: bytes, value: bytes) -> bytes:
    # GNU tar stores the name NUL-terminated under the name "././@LongLink".
    return _meta_entry(typeflag, b"././@LongLink", value + b"\x00", GNU_MAGIC)


def encode_headers(entry: Entry) -> bytes:
    """Every header block that precedes `entry`'s data (long-name entries, the
    pax extended header, then the ustar header itself)."""
    h = _Header(entry)
    prelude: list[bytes] = []
    path = entry.path_bytes + (b"/" if entry.kind == "dir" and not entry.path_bytes.endswith(b"/") else b"")
    if entry.sparse is not None:
        h.pax += [("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0"), ("GNU.sparse.name", path),
                  ("GNU.sparse.realsize", str(entry.sparse.size).encode())]
        head, slash, tail = path.rpartition(b"/")
        path = head + slash + b"GNUSparseFile.0/" + tail
    name = h.name("path", path, b"L", 100, prelude)
    linkname = h.name("linkpath", _encode(entry.linkname), b"K", 100, prelude)
    uid = h.number("uid", entry.uid, 8)
    gid = h.number("gid", entry.gid, 8)
    size = h.number("size", entry.size, 12)
    mtime = h.mtime()
    uname, gname = entry.uname.encode(), entry.gname.encode()
    for key, value in (("uname", uname), ("gname", gname)):
        if len(value) > 32:
            h.pax.append((key, value))
    for xname, xvalue in entry.xattrs.items():
        h.pax.append((f"SCHILY.xattr.{xname}", xvalue))
    h.pax.extend(entry.pax.items())

    magic = GNU_MAGIC if h.gnu else POSIX_MAGIC
    if h.pax:
        records = b"".join(pax_record(k, v) for k, v in h.pax)
        prelude.append(_meta_entry(b"x", b"././@PaxHeader", records, magic))
    header = _pack(name, _octal(entry.mode, 8), uid, gid, size, mtime,
                   TYPEFLAGS[entry.kind], linkname, magic, uname[:32], gname[:32],
                   _octal(entry.devmajor, 8), _octal(entry.devminor, 8), h.prefix)
    return b"".join(prelude) + header


class TarWriter:
    """Streams entries into `sink` (anything with write(bytes))."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def add(self, entry: Entry) -> None:
        self._sink.write(encode_headers(entry))
        if entry.kind != "file":
            return
        written = 0
        chunks = content_chunks(entry.data) if entry.sparse is None else (
            [entry.sparse.map_bytes()] + [data for _, data in entry.sparse.segments])
        for chunk in chunks:
            self._sink.write(chunk)
            written += len(chunk)
        if written != entry.size:
            raise ValueError(f"{entry.path!r}: content changed size while writing")
        self._sink.write(_padding(written))

    def close(self) -> None:
        """The end-of-archive marker: two zero blocks."""
        self._sink.write(b"\x00" * (2 * BLOCK))


def write_tar(entries: list[Entry], sink: Sink) -> None:
    writer = TarWriter(sink)
    for entry in entries:
        writer.add(entry)
    writer.close()


def tar_bytes(entries: list[Entry]) -> bytes:
    """The whole archive in memory (small test layers)."""
    buf = io.BytesIO()
    write_tar(entries, buf)
    return buf.getvalue()
