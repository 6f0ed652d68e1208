"""The test bed's tar writer encodes each entry the way it was asked to (pax
records, GNU long entries and base-256, ustar prefix), Python's tarfile reads
back what was described, and hostile names are written verbatim."""

from __future__ import annotations

import gzip

import pytest

from gantry_testbed.content import RandomContent
from gantry_testbed.layers import build_layer, opaque, whiteout
from gantry_testbed.tarwriter import BLOCK, Entry, encode_headers, tar_bytes
from readback import assert_tar_matches, sha256, tar_members


def headers(entry: Entry) -> list[bytes]:
    raw = encode_headers(entry)
    return [raw[i:i + BLOCK] for i in range(0, len(raw), BLOCK)]


def typeflags(entry: Entry) -> bytes:
    """The typeflag of every 512-byte header block (data blocks included)."""
    return b"".join(block[156:157] for block in headers(entry))


@pytest.mark.parametrize("length", [101, 256, 1000])
@pytest.mark.parametrize("names,flag", [("pax", b"x"), ("gnu", b"L")])
def test_long_names(length, names, flag):
    path = ("d/" * length)[:length - 1] + "f"
    entry = Entry(path, data=b"x", names=names)
    assert typeflags(entry)[0:1] == flag
    assert_tar_matches(tar_bytes([entry]), [entry])


def test_ustar_prefix_split():
    entry = Entry("p" * 120 + "/" + "n" * 90, data=b"x", names="ustar")
    [header] = headers(entry)
    assert header[345:345 + 120] == b"p" * 120 and header[:90] == b"n" * 90
    assert_tar_matches(tar_bytes([entry]), [entry])
    with pytest.raises(ValueError):
        encode_headers(Entry("x" * 101, names="ustar"))


@pytest.mark.parametrize("names,flag", [("pax", b"x"), ("gnu", b"K")])
def test_long_link_targets(names, flag):
    entry = Entry("l", "symlink", linkname="/t" * 150, names=names)
    assert typeflags(entry)[0:1] == flag
    assert_tar_matches(tar_bytes([entry]), [entry])


def test_ids_beyond_the_octal_field():
    pax = Entry("p", uid=2_097_152, gid=70_000)
    records = headers(pax)[1]
    assert b" uid=2097152\n" in records and b"gid=" not in records  # 70000 fits in octal
    gnu = Entry("g", uid=2_097_152, gid=5_000_000, numbers="gnu")
    [header] = headers(gnu)
    assert header[108] & 0x80 and header[116] & 0x80  # base-256 marker
    assert_tar_matches(tar_bytes([pax, gnu]), [pax, gnu])


def test_size_beyond_8_gib_goes_to_pax():
    entry = Entry("huge", data=RandomContent(9 << 30))
    assert b" size=9663676416\n" in headers(entry)[1]


def test_subsecond_mtime_and_binary_xattrs():
    entry = Entry("t", mtime=1_600_000_000, mtime_nsec=5_000,
                  xattrs={"security.capability": b"\x01\x00\x00\x02" + bytes(16),
                          "user.bin": b"\xff\n\x00="})
    assert b" mtime=1600000000.000005\n" in headers(entry)[1]
    assert_tar_matches(tar_bytes([entry]), [entry])


@pytest.mark.parametrize("names", ["pax", "gnu"])
def test_non_utf8_names(names):
    short = Entry(b"caf\xe9", names=names)
    long = Entry(b"d/" + b"\xff" * 200, names=names)
    link = Entry(b"l\xfe", "symlink", linkname=b"\xfe" * 150, names=names)
    if names == "pax":
        assert b" hdrcharset=BINARY\n" in headers(long)[1]
    entries = [short, long, link]
    assert_tar_matches(tar_bytes(entries), entries)


def test_every_kind_and_mode():
    entries = [
        Entry("d", "dir", mode=0o000), Entry("s", "dir", mode=0o1777),
        Entry("d/f", data=b"data", mode=0o6755, uname="u" * 32, gname="g"),
        Entry("h", "hardlink", linkname="d/f"), Entry("l", "symlink", linkname="d/f"),
        Entry("c", "char", devmajor=1, devminor=3), Entry("b", "block", devmajor=259, devminor=7),
        Entry("p", "fifo", mode=0o600),
    ]
    assert headers(entries[0])[0][:2] == b"d/"  # directories carry a trailing slash
    assert_tar_matches(tar_bytes(entries), entries)


def test_hostile_names_are_written_verbatim():
    entries = [
        Entry("../escape", data=b"up"), Entry("/etc/absolute", data=b"abs"),
        Entry("a/../../b", data=b"mid"), Entry("./dot", data=b"dot"),
        Entry("out", "symlink", linkname="/etc"), Entry("up", "symlink", linkname="../../.."),
        Entry("hard", "hardlink", linkname="../outside"),
        Entry("dup", data=b"first"), Entry("dup", data=b"second"),
    ]
    assert [m.name for m, _ in tar_members(tar_bytes(entries))] == \
        ["../escape", "/etc/absolute", "a/../../b", "./dot", "out", "up", "hard", "dup", "dup"]
    assert_tar_matches(tar_bytes(entries), entries)


def test_extra_pax_records_are_written():
    entry = Entry("x", pax={"path": b"../renamed", "GANTRY.test": b"1"})
    [(member, _)] = tar_members(tar_bytes([entry]))
    assert member.name == "../renamed" and member.pax_headers["GANTRY.test"] == "1"


def test_whiteouts_and_opaque_markers():
    assert whiteout("a/b/c").path == "a/b/.wh.c"
    assert whiteout("top").path == ".wh.top"
    assert opaque("a/b/").path == "a/b/.wh..wh..opq"


def test_layer_hashes_tar_and_compressed_bytes(tmp_path):
    entries = [Entry("f", data=RandomContent(3 << 20, seed=7)), Entry("g", data=b"g")]
    in_memory = build_layer(entries, "gzip")
    on_disk = build_layer(entries, "gzip", path=tmp_path / "layer")
    assert in_memory.blob.digest == on_disk.blob.digest == sha256((tmp_path / "layer").read_bytes())
    assert on_disk.blob.data is None and on_disk.blob.size == (tmp_path / "layer").stat().st_size
    tar = gzip.decompress(in_memory.blob.data)
    assert in_memory.diff_id == sha256(tar) == build_layer(entries, "none").blob.digest
    assert_tar_matches(tar, entries)
