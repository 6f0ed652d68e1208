"""What a container of `gantry run` cannot reach: host devices (whether a
node comes from the image or is made inside), gantry's memory and
environment (credentials), and what a hostname can inject; and that it
still runs images of many layers on overlayfs."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest

from gantry_testbed import images, trees
from gantry_testbed.gantry_cli import Gantry
from gantry_testbed.layers import build_layer
from gantry_testbed.tarwriter import Entry

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="gantry run needs root")


def run(gantry, ref, *args, options=(), env=None, timeout=120):
    argv = gantry.argv("run", "--plain-http", "--quiet", *options, ref, *(("--", *args) if args else ()))
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env={**gantry.env, **(env or {})})


# ---- --hostname ---------------------------------------------------------------

BAD_HOSTNAMES = ["a\nb", "a\n127.0.0.1\tevil", "-x", "x-", "a_b", "a" * 64, "a..b", ""]


@pytest.mark.parametrize("hostname", BAD_HOSTNAMES)
@pytest.mark.parametrize("command", ["run", "bundle"])
def test_a_hostname_other_than_rfc_1123_is_refused_before_any_work(gantry, registry_plain, fault_proxy, scratch,
                                                                   command, hostname):
    if command == "run" and os.geteuid() != 0:
        pytest.skip("gantry run needs root")
    proxy = fault_proxy(registry_plain)
    target = [str(scratch / "bundle")] if command == "bundle" else []
    result = gantry.run(command, "--plain-http", "--quiet", f"--hostname={hostname}", proxy.ref("x", "y"), *target)
    assert result.returncode != 0
    assert result.stderr.startswith("gantry: error: --hostname: want an RFC 1123 name"), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert proxy.requests() == []
    assert not gantry.store.exists() and not (scratch / "bundle").exists()


@needs_root
def test_an_rfc_1123_hostname_is_the_containers(gantry, registry_plain, repo):
    registry_plain.client.push_image(repo, images.busybox_image(), tag="v1")
    name = "x-" + "a" * 61  # a 63-character label is the longest
    result = run(gantry, registry_plain.ref(repo, "v1"), "sh", "-c", "hostname; cat /etc/hostname",
                 options=("--hostname", name))
    assert (result.returncode, result.stdout) == (0, f"{name}\n{name}\n"), result.stderr


# ---- host devices -------------------------------------------------------------

@pytest.fixture
def host_disk(scratch):
    """A block device of the host: a loop device over a sentinel file."""
    sentinel = scratch / "sentinel"
    content = secrets.token_bytes(64 * 1024)
    sentinel.write_bytes(content)
    device = subprocess.run(["losetup", "--find", "--show", str(sentinel)], capture_output=True, text=True,
                            check=True).stdout.strip()
    try:
        yield Path(device), sentinel, content
    finally:
        subprocess.run(["losetup", "--detach", device], check=True)


# Each node: is it a block device, can it be read, can it be written.
PROBE = """
for node in "$@"; do
  case $node in /image/*) ;; *) busybox mknod $node b $MAJOR $MINOR 2>/dev/null ;; esac
  if [ -b $node ]; then kind=block; else kind=none; fi
  if head -c 16 $node >/dev/null 2>&1; then r=read; else r=noread; fi
  if { printf owned > $node; } 2>/dev/null; then w=wrote; else w=nowrite; fi
  echo "$node $kind $(stat -c %a $node 2>/dev/null) $r $w"
done
"""
MADE = ["/tmp/made", "/dev/made", "/dev/shm/made", "/made"]


@needs_root
@pytest.mark.parametrize("layout", ["overlay", "flattened"])
def test_no_host_device_opens_whether_the_image_ships_it_or_root_makes_it(gantry, registry_plain, repo, host_disk,
                                                                         layout):
    device, sentinel, content = host_disk
    rdev = os.stat(device).st_rdev
    major, minor = os.major(rdev), os.minor(rdev)
    entries = trees.busybox_entries() + [
        Entry("image", "dir"),
        Entry("image/disk", "block", mode=0o666, devmajor=major, devminor=minor)]
    image = images.build_image([build_layer(entries)], config=images.ImageConfig(cmd=("sh",)))
    registry_plain.client.push_image(repo, image, tag="v1")
    ref = registry_plain.ref(repo, "v1")
    options = ("-e", f"MAJOR={major}", "-e", f"MINOR={minor}") + (("--no-overlay",) if layout == "flattened" else ())

    as_root = run(gantry, ref, "sh", "-c", PROBE, "probe", "/image/disk", *MADE, options=options)
    as_nobody = run(gantry, ref, "sh", "-c", PROBE, "probe", "/image/disk", "/tmp/other",
                    options=options + ("-u", "65534"))

    assert (as_root.returncode, as_root.stderr) == (0, "")
    # The container's root may make the node (CAP_MKNOD, as in Docker) but
    # never open it; the image's node is there, world-readable, and closed.
    assert as_root.stdout.splitlines() == [
        "/image/disk block 666 noread nowrite",
        *(f"{node} block 644 noread nowrite" for node in MADE)]
    assert (as_nobody.returncode, as_nobody.stderr) == (0, "")
    assert as_nobody.stdout.splitlines() == ["/image/disk block 666 noread nowrite", "/tmp/other none 644 noread wrote"]
    assert sentinel.read_bytes() == content


@needs_root
def test_the_standard_nodes_work_and_the_hosts_stay_as_they_are(gantry, registry_plain, repo):
    registry_plain.client.push_image(repo, images.busybox_image(), tag="v1")
    ref = registry_plain.ref(repo, "v1")
    host_modes = {name: os.stat(f"/dev/{name}").st_mode for name in ("null", "zero", "full", "random", "urandom", "tty")}
    script = ("echo x > /dev/null && echo null ok; head -c 4 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c; "
              "head -c 4 /dev/random | wc -c; { echo x > /dev/full; } 2>/dev/null || echo full is full; "
              "busybox chmod 0600 /dev/null 2>/dev/null || echo no chmod; "
              "busybox chown 65534 /dev/zero 2>/dev/null || echo no chown; "
              "{ : > /dev/ptmx; } 2>/dev/null && echo ptmx ok; ls /dev/pts")
    for user in ("0", "65534"):
        result = run(gantry, ref, "sh", "-c", script, options=("-u", user))
        assert (result.returncode, result.stderr) == (0, ""), user
        assert result.stdout.split("\n")[:8] == ["null ok", "4", "4", "4", "full is full", "no chmod", "no chown",
                                                 "ptmx ok"], (user, result.stdout)
        assert "ptmx" in result.stdout.split("\n")[8:]
    assert {name: os.stat(f"/dev/{name}").st_mode for name in host_modes} == host_modes

    tty = run(gantry, ref, "sh", "-c", "test -t 0 && echo x > /dev/tty && echo x > /dev/console && echo tty ok",
              options=("-t",))
    assert (tty.returncode, tty.stdout) == (0, "x\nx\ntty ok\n"), tty.stderr


DEVICES_CONTROLLER = Path("/sys/fs/cgroup/devices")
needs_devices_controller = pytest.mark.skipif(not (DEVICES_CONTROLLER / "devices.allow").exists(),
                                              reason="no cgroup v1 devices controller: nodev alone (tested above)")


def _device_cgroup(pid: int) -> Path:
    [line] = [line for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if ":devices:" in line]
    return DEVICES_CONTROLLER / line.split(":", 2)[2].lstrip("/")


@needs_root
@needs_devices_controller
def test_a_device_cgroup_refuses_a_host_device_reached_through_a_magic_link(gantry, registry_plain, repo,
                                                                             host_disk):
    """A host disk given as stdin (read-only) is the container's to read, but
    reopening it through /proc/self/fd/0 (the host's /dev, not nodev) for
    writing is the device cgroup's to refuse, as under Docker."""
    device, sentinel, content = host_disk
    registry_plain.client.push_image(repo, images.busybox_image(), tag="v1")
    script = ("head -c 16 | wc -c; { printf owned > /proc/self/fd/0; } 2>/dev/null || echo no reopen; "
              "grep devices /proc/self/cgroup | cut -d : -f 3")
    with open(device, "rb") as disk:
        result = subprocess.run(gantry.argv("run", "--plain-http", "--quiet", "-i", registry_plain.ref(repo, "v1"),
                                            "--", "sh", "-c", script),
                                stdin=disk, capture_output=True, text=True, timeout=120, env=gantry.env)
    assert result.returncode == 0, result.stderr
    count, refused, cgroup = result.stdout.splitlines()
    assert (count, refused) == ("16", "no reopen")
    assert cgroup.startswith("/gantry/") and not (DEVICES_CONTROLLER / cgroup.lstrip("/")).exists()  # removed
    assert sentinel.read_bytes() == content


@needs_root
@needs_devices_controller
def test_the_device_cgroup_of_a_killed_gantry_goes_with_the_next_run(gantry, registry_plain, repo):
    registry_plain.client.push_image(repo, images.busybox_image(), tag="v1")
    ref = registry_plain.ref(repo, "v1")
    proc = subprocess.Popen(gantry.argv("run", "--plain-http", "--quiet", ref, "--", "sh", "-c", "echo ready; sleep 100"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=gantry.env)
    assert proc.stdout.readline() == "ready\n"
    [container] = _container_processes(proc.pid)
    cgroup = _device_cgroup(container)
    proc.kill()
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 30
    while (cgroup / "cgroup.procs").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cgroup.exists(), "left by the killed gantry"

    assert run(gantry, ref, "true").returncode == 0

    assert not cgroup.exists()


# ---- gantry's memory and environment ------------------------------------------

# Larger regions are not read (sanitizer shadow memory is terabytes); the
# test requires that no container process has one.
MAX_REGION = 256 << 20


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


def _container_processes(gantry_pid: int) -> list[int]:
    """The processes of the container (another PID namespace than ours)."""
    ours = os.readlink("/proc/self/ns/pid")
    return [pid for pid in _descendants(gantry_pid) if os.readlink(f"/proc/{pid}/ns/pid") != ours]


def _readable_memory(pid: int) -> bytes:
    """Every readable mapping of `pid`, as the host's root reads it (more
    than the container's root may: a non-dumpable process is closed to it)."""
    chunks = []
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            match = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            start, end, perms = int(match[1], 16), int(match[2], 16), match[3]
            if not perms.startswith("r") or line.endswith("[vvar]") or line.endswith("[vvar_vclock]"):
                continue
            assert end - start <= MAX_REGION, f"pid {pid}: a mapping too large to read: {line}"
            mem.seek(start)
            try:
                chunks.append(mem.read(end - start))
            except OSError:
                pass  # e.g. an I/O mapping
    return b"\0".join(chunks)


@needs_root
@pytest.mark.parametrize("init", [False, True], ids=["no-init", "init"])
def test_no_credential_or_host_environment_of_gantry_reaches_the_container(gantry, registry_auth, repo, scratch,
                                                                           init):
    registry_auth.client.push_image(repo, images.busybox_image(), tag="v1")
    auth = base64.b64encode(f"{registry_auth.username}:{registry_auth.password}".encode())
    config = scratch / "config.json"
    config.write_text(json.dumps({"auths": {registry_auth.host: {"auth": auth.decode()}}}))
    host_only, control = secrets.token_hex(16), secrets.token_hex(16)
    secrets_of_gantry = [registry_auth.password.encode(), auth, host_only.encode()]
    # --pull always: gantry asks the registry, is challenged, and reads the
    # credentials into its memory before it starts the container.
    argv = gantry.argv("run", "--quiet", "--ca-file", registry_auth.ca_file, "--auth-file", str(config),
                       "--pull", "always", "-e", f"CONTROL={control}", *(("--init",) if init else ()),
                       registry_auth.ref(repo, "v1"), "--", "sh", "-c", "echo ready; exec sleep 100")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**gantry.env, "GANTRY_TEST_HOST_ONLY": host_only})
    try:
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
        pids = _container_processes(proc.pid)
        assert len(pids) == (2 if init else 1)
        # "ready" comes before the command execs sleep: a scan during that
        # execve can read neither the old memory nor the new one.
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pids[-1]}/cmdline").read_bytes() != b"sleep\x00100\x00":
            assert time.monotonic() < deadline, "the command never became sleep"
            time.sleep(0.01)
        seen = {pid: (_readable_memory(pid), Path(f"/proc/{pid}/environ").read_bytes()) for pid in pids}
        os.kill(pids[0], signal.SIGKILL)  # PID 1: gantry ends the run and cleans up
        assert proc.wait(timeout=30) == 128 + signal.SIGKILL
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    # The scan sees what the container has: its own environment (-e).
    # (Booleans first: pytest would print the whole memory.)
    found_control = any(control.encode() in memory and control.encode() in environ for memory, environ in seen.values())
    assert found_control
    for pid, (memory, environ) in seen.items():
        for secret in secrets_of_gantry:
            in_memory, in_environ = secret in memory, secret in environ
            assert not in_memory, f"pid {pid}: gantry's secret {secret!r} is in its memory"
            assert not in_environ, f"pid {pid}: gantry's secret {secret!r} is in its environment"


@needs_root
def test_the_init_is_closed_to_the_container(gantry, registry_plain, repo):
    """gantry-init is not dumpable: the container's root (without
    CAP_SYS_PTRACE) can read neither its memory (maps, mem), its environment
    nor its binary; it forwards signals and reaps as before (test_run.py)."""
    registry_plain.client.push_image(repo, images.busybox_image(), tag="v1")
    script = ("for f in maps environ; do head -c 1 /proc/1/$f >/dev/null 2>&1 || echo no $f; done; "
              "readlink /proc/1/exe >/dev/null 2>&1 || echo no exe; echo pid $$; cat /proc/1/cmdline | tr '\\0' ' '")
    result = run(gantry, registry_plain.ref(repo, "v1"), "sh", "-c", script, options=("--init",))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == ["no maps", "no environ", "no exe", "pid 2"]
    assert lines[4].startswith("gantry-init ")


@needs_root
def test_without_its_init_beside_it_gantry_says_so_in_one_line(gantry_bin, registry_plain, repo, scratch):
    registry_plain.client.push_image(repo, images.busybox_image(), tag="v1")
    (scratch / "bin").mkdir()
    os.link(gantry_bin, scratch / "bin" / "gantry")  # /proc/self/exe: the link, without gantry-init beside it
    lonely = Gantry(scratch / "bin" / "gantry", scratch / "store", scratch / "home")

    result = run(lonely, registry_plain.ref(repo, "v1"), "true", options=("--init",))

    assert result.returncode != 0
    assert result.stderr.startswith("gantry: error: cannot open the init for --init"), result.stderr
    assert f"{scratch}/bin/gantry-init" in result.stderr and len(result.stderr.splitlines()) == 1
    assert list((scratch / "store" / "containers").iterdir()) == []
    assert run(lonely, registry_plain.ref(repo, "v1"), "true").returncode == 0  # only --init needs it


# ---- many layers --------------------------------------------------------------

@needs_root
def test_an_image_of_128_layers_runs_on_overlayfs(gantry, registry_plain, repo):
    """mount(2)'s one page of options holds about 40 absolute lower dirs;
    the new mount API stacks one at a time, up to overlayfs's 500."""
    layers = [build_layer(trees.busybox_entries())]
    for i in range(1, 128):
        layers.append(build_layer([Entry("etc", "dir"), Entry("etc/top", data=f"{i}\n".encode()),
                                   Entry("layers", "dir"), Entry(f"layers/{i}", data=b"x")]))
    image = images.build_image(layers, config=images.ImageConfig(cmd=("sh",)))
    registry_plain.client.push_image(repo, image, tag="v1")

    result = run(gantry, registry_plain.ref(repo, "v1"), "sh", "-c",
                 "cat /etc/top; ls /layers | wc -l; grep ' / ' /proc/mounts | cut -d ' ' -f 1-3", timeout=280)

    assert (result.returncode, result.stderr) == (0, "")  # nothing said about a flattened copy
    assert result.stdout.splitlines() == ["127", "127", "overlay / overlay"]
