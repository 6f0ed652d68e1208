"""tests/tools/tree_print.py, the unpack tests' oracle format, on a tree made
here with known attributes: every field it promises is printed, and a
change to any of them changes the text (as root: owners, devices,
security.capability)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import tree_print  # noqa: E402

TOOL = Path(__file__).resolve().parents[1] / "tools" / "tree_print.py"
T = 1_700_000_000_123_456_789
SHA_A = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"  # sha256(b"a")


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "d").mkdir(mode=0o755)
    (root / "d/one").write_bytes(b"a")
    os.link(root / "d/one", root / "b-two")
    os.chown(root / "d/one", 1000, 4_000_000)
    os.chmod(root / "d/one", 0o4750)  # after chown(2), which clears setuid
    os.setxattr(root / "d/one", "user.z", b"\x00\xff")
    os.setxattr(root / "d/one", "user.a", b"v")
    os.symlink("d/one", root / "link")
    os.mkfifo(root / "fifo", 0o600)
    os.mknod(root / "dev", 0o640 | 0o020000, os.makedev(1, 3))
    (root / os.fsdecode(b"raw-\xff name")).write_bytes(b"")
    os.chmod(root / "d", 0o1700)
    for path in ("d/one", "fifo", "dev", os.fsdecode(b"raw-\xff name"), "d"):
        os.utime(root / path, ns=(T, T))
    os.utime(root / "link", ns=(T, T), follow_symlinks=False)
    return root


def expected(root: Path) -> list[str]:
    m = f"mtime={T // 10**9}.{T % 10**9:09d}"
    root_mode = f"{os.lstat(root).st_mode & 0o7777:04o}"
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    return [
        f". type=dir mode={root_mode} uid=0 gid=0",
        f"b-two type=file mode=4750 uid=1000 gid=4000000 size=1 sha256={SHA_A} link=h1 {m}"
        " xattr:user.a=76 xattr:user.z=00ff",
        f"d type=dir mode=1700 uid=0 gid=0 {m}",
        f"d/one type=file mode=4750 uid=1000 gid=4000000 size=1 sha256={SHA_A} link=h1 {m}"
        " xattr:user.a=76 xattr:user.z=00ff",
        f"dev type=char mode=0640 uid=0 gid=0 dev=1:3 {m}",
        f"fifo type=fifo mode=0600 uid=0 gid=0 {m}",
        f"link type=symlink mode=0777 uid=0 gid=0 target=d/one {m}",
        f"raw-\\xff\\x20name type=file mode=0644 uid=0 gid=0 size=0 sha256={empty} {m}",
    ]


@pytest.mark.root("owners and devices need root")
def test_every_field_is_printed(tree):
    assert tree_print.tree_lines(tree) == expected(tree)


@pytest.mark.root("owners and devices need root")
def test_command_line_prints_the_same(tree):
    out = subprocess.run([sys.executable, str(TOOL), str(tree)], capture_output=True, check=True)
    assert out.stdout.decode().splitlines() == expected(tree)


@pytest.mark.root("owners and devices need root")
@pytest.mark.parametrize("change", [
    lambda r: os.chmod(r / "d/one", 0o750),
    lambda r: os.chown(r / "fifo", 0, 1),
    lambda r: (r / "d/one").write_bytes(b"b"),
    lambda r: os.utime(r / "fifo", ns=(T, T + 1)),
    lambda r: os.utime(r / "d", ns=(T, T + 1)),
    lambda r: os.setxattr(r / "d/one", "user.a", b"w"),
    lambda r: os.setxattr(r / "d/one", "security.capability",
                          (0x02000001).to_bytes(4, "little") + bytes(16)),
    lambda r: (os.unlink(r / "b-two"), (r / "b-two").write_bytes(b"a")),
    lambda r: (os.unlink(r / "link"), os.symlink("d/two", r / "link")),
    lambda r: (os.unlink(r / "dev"), os.mknod(r / "dev", 0o640 | 0o020000, os.makedev(1, 5))),
], ids=["mode", "gid", "content", "mtime", "dir-mtime", "xattr", "capability", "hardlink",
        "target", "device"])
def test_any_change_shows(tree, change):
    before = tree_print.tree_text(tree)
    change(tree)
    assert tree_print.tree_text(tree) != before


def test_selinux_label_and_root_mtime_are_left_out(tmp_path):
    (tmp_path / "f").write_bytes(b"")
    before = tree_print.tree_text(tmp_path)
    os.utime(tmp_path, ns=(T, T))
    os.setxattr(tmp_path / "f", "security.selinux", b"system_u:object_r:tmp_t:s0\x00")
    assert tree_print.tree_text(tmp_path) == before
