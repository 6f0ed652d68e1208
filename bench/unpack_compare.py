#!/usr/bin/env python3
"""Cold pull + unpack against the machine's bound and other tools: GNU `tar -x`
of the already-decompressed layers, gantry unpack (flattened) and pull
--unpack (snapshots), skopeo + umoci, containerd; same image, same registry,
same session, each run on a freshly made ext4 filesystem.

The bound, `tar-x`: GNU tar, one thread, extracting each layer's tar (already
decompressed, read from the page cache) in order into one directory on the
fresh filesystem: the time it takes just to write the files, with no
download, hashing or decompression. gantry's columns are cold from the
registry. With --cpus 1,2 gantry also runs pinned to one CPU (taskset), so
the scaling shows.

MACHINE-NOTES: creating files soon after an `rm -rf` of many files is ~10x
slower on this VM's ext4, so every run gets a new loop-mounted ext4 (mkfs'd
anew) and nothing is deleted between runs; tools run interleaved, so drift
hits every tool alike. Needs root; `tools/install-deps` installs containerd.

--link-rate MB/s puts the test bed's proxy between the tools and the
registry, pacing every blob response (one per connection at a time) to
that rate: a registry behind a WAN, where a connection's rate is bounded by
RTT x window while connections are not.

Besides the medians it prints, per tool: CPU seconds (user + sys of the
command and its children; the kernel's writeback threads are not counted)
per GiB unpacked, the client's peak RSS, and for gantry the engine's
timeline of its median run (per layer: when its bytes arrived, decoded,
applied and committed, and what it waited for). --json-out writes it all.

    bench/unpack_compare.py [--preset large] [--compression gzip] [--runs 3]
                            [--gantry build/gantry] [--cpus 2] [--link-rate MB/s] [--json-out FILE]
                            [--tools tar-x,gantry,gantry-snapshots,skopeo+umoci,containerd]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import host_image  # noqa: E402
from gantry_testbed import registry  # noqa: E402
from gantry_testbed.faultproxy import FaultProxy, Throttle  # noqa: E402

TOOLS = ["tar-x", "gantry", "gantry-snapshots", "skopeo+umoci", "containerd"]
GANTRY_TOOLS = {"gantry", "gantry-snapshots"}


class FreshFilesystem:
    """A new ext4 on a loop device, mounted at `mountpoint`, for one run."""

    def __init__(self, image: Path, mountpoint: Path, size_gib: int) -> None:
        self.image, self.mountpoint, self.size_gib = image, mountpoint, size_gib

    def __enter__(self) -> Path:
        with open(self.image, "wb") as f:
            f.truncate(self.size_gib << 30)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
                        str(self.image)], check=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-o", "loop", str(self.image), str(self.mountpoint)], check=True)
        return self.mountpoint

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["umount", str(self.mountpoint)], check=True)
        self.image.unlink()


@dataclass
class Measured:
    """One command's wall seconds, CPU seconds (user + sys, children
    included), peak RSS in KiB, and its stdout when asked for."""
    seconds: float
    cpu: float
    rss_kib: int
    stdout: str = ""


def run_measured(cmd: list[str], keep_stdout: bool = False) -> Measured:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    out = proc.stdout.read().decode() if keep_stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.read().decode(errors='replace')[-2000:]}")
    return Measured(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, out)


def run_timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and the child's peak RSS in KiB."""
    m = run_measured(cmd)
    return m.seconds, m.rss_kib


def decompressed_tars(image, cache: Path) -> list[Path]:
    """Each layer's tar, decompressed once into the cache (the bound's input)."""
    tars = []
    for layer in image.layers:
        blob = Path(layer.blob.path)
        tar = blob.with_name(blob.name + ".tar")
        if not tar.exists() or tar.stat().st_size == 0:
            tool = {"gzip": ["gzip", "-dc"], "zstd": ["zstd", "-dcq"], "none": ["cat"]}[layer.compression]
            partial = tar.with_name(tar.name + ".partial")
            with open(partial, "wb") as out:
                subprocess.run([*tool, str(blob)], stdout=out, check=True)
            partial.rename(tar)
        tars.append(tar)
    return tars


def warm_page_cache(paths: list[Path]) -> None:
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def tar_extract(tars: list[Path], fs: Path) -> list[list[str]]:
    root = fs / "rootfs"
    root.mkdir()
    return [["tar", "-x", "-f", str(tar), "-C", str(root)] for tar in tars]


def gantry(args, ref: str, fs: Path) -> list[list[str]]:
    return [[args.gantry, "unpack", "--json", "--plain-http", "--store", str(fs / "store"), ref, str(fs / "rootfs")]]


def gantry_snapshots(args, ref: str, fs: Path) -> list[list[str]]:
    """Per-layer snapshots in the store, as containerd's overlayfs snapshotter makes."""
    return [[args.gantry, "pull", "--unpack", "--json", "--plain-http", "--store", str(fs / "store"), ref]]


def skopeo_umoci(args, ref: str, fs: Path) -> list[list[str]]:
    return [["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}", f"oci:{fs}/oci:latest"],
            ["umoci", "unpack", "--image", f"{fs}/oci:latest", str(fs / "bundle")]]


def containerd_pull(args, ref: str, fs: Path, socket: Path) -> list[list[str]]:
    return [["ctr", "--address", str(socket), "images", "pull", "--plain-http", ref]]


def start_containerd(fs: Path, tmp: Path, run: int) -> tuple[subprocess.Popen, Path]:
    socket = tmp / f"containerd-{run}.sock"
    config = tmp / f"containerd-{run}.toml"
    config.write_text(
        "version = 2\n"
        f'root = "{fs}/containerd"\n'
        f'state = "{tmp}/containerd-state-{run}"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{socket}"\n')
    proc = subprocess.Popen(["containerd", "--config", str(config)], stdout=subprocess.DEVNULL,
                            stderr=open(tmp / f"containerd-{run}.log", "w"))
    for _ in range(100):
        if socket.exists() and subprocess.run(["ctr", "--address", str(socket), "version"],
                                              capture_output=True).returncode == 0:
            return proc, socket
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("containerd did not start")


def timeline_of(stdout: str) -> dict | None:
    """The engine's timeline event from gantry's --json lines."""
    for line in stdout.splitlines():
        event = json.loads(line)
        if event.get("event") == "timeline":
            return event
    return None


@dataclass
class Column:
    """One tool (gantry pinned to a CPU count is a column of its own)."""
    name: str
    tool: str
    cpus: int | None = None  # None: every CPU
    runs: list[Measured] = field(default_factory=list)

    def median_run(self) -> Measured:
        ordered = sorted(self.runs, key=lambda m: m.seconds)
        return ordered[(len(ordered) - 1) // 2]


def run_column(args, column: Column, ref: str, tars: list[Path], fs: Path, tmp: Path, run: int) -> Measured:
    daemon = None
    try:
        if column.tool == "tar-x":
            warm_page_cache(tars)  # the bound writes; it does not read from disk
            commands = tar_extract(tars, fs)
        elif column.tool == "gantry":
            commands = gantry(args, ref, fs)
        elif column.tool == "gantry-snapshots":
            commands = gantry_snapshots(args, ref, fs)
        elif column.tool == "skopeo+umoci":
            commands = skopeo_umoci(args, ref, fs)
        else:
            daemon, socket = start_containerd(fs, tmp, run)
            commands = containerd_pull(args, ref, fs, socket)
        if column.cpus is not None:
            commands = [["taskset", "-c", ",".join(str(c) for c in range(column.cpus)), *c] for c in commands]
        if args.perf_dir and column.tool in GANTRY_TOOLS:
            Path(args.perf_dir).mkdir(parents=True, exist_ok=True)
            record = Path(args.perf_dir) / f"{column.name}-{run}.perf"
            commands = [["perf", "record", "-q", "-g", "-F", "499", "-o", str(record), "--", *c] for c in commands]
        subprocess.run(["sync"], check=True)
        total = Measured(0.0, 0.0, 0)
        for command in commands:
            m = run_measured(command, keep_stdout=column.tool in GANTRY_TOOLS)
            total = Measured(total.seconds + m.seconds, total.cpu + m.cpu, max(total.rss_kib, m.rss_kib),
                             total.stdout + m.stdout)
        return total
    finally:
        if daemon:
            daemon.terminate()
            daemon.wait()
            subprocess.run(["umount", "-R", str(fs / "containerd")], capture_output=True)


def layer_profile(timeline: dict) -> list[str]:
    """One line per layer from the engine's timeline, seconds from the start."""
    lines = []
    for i, layer in enumerate(timeline["layers"]):
        at, waited = layer["at"], layer["waited"]
        steps = " ".join(f"{step} {at[step]:.2f}" for step in ("first_byte", "last_byte", "decoded", "applied",
                                                                 "committed") if step in at)
        waits = " ".join(f"{what} {waited[what]:.2f}" for what in ("network", "decoder", "applier"))
        lines.append(f"  layer {i} {layer['digest'][7:19]}: {steps}; waited: {waits}")
    return lines


def bench_image(args):
    """The image and its stats (entries, uncompressed and compressed bytes)."""
    if not args.image:
        return host_image.build(args.preset, args.compression, Path(args.cache))
    kind, _, name = args.image.partition(":")
    if kind != "suite":
        raise SystemExit(f"--image {args.image}: expected suite:NAME")
    sys.path.insert(0, str(Path(__file__).resolve().parent / "suite"))
    import build as suite  # noqa: E402
    image = suite.build([name], args.compression, Path(args.cache) / "suite")[name]
    stats = {"files": 0, "uncompressed": 0, "compressed": sum(layer.blob.size for layer in image.layers)}
    for tar in decompressed_tars(image, Path(args.cache)):  # a cached layer does not keep its entries
        with tarfile.open(tar) as members:
            for member in members:
                stats["files"] += 1
                stats["uncompressed"] += member.size
    return image, stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(host_image.PRESETS), default="large",
                        help="an image of this machine's directories (host_image.py)")
    parser.add_argument("--image", help="suite:NAME: an image of Debian packages from bench/suite/build.py "
                                        "(e.g. suite:corpus-large), instead of --preset")
    parser.add_argument("--compression", choices=["gzip", "zstd", "none"], default="gzip")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gantry", default=str(Path(__file__).resolve().parents[1] / "build" / "gantry"))
    parser.add_argument("--cache", default="/var/tmp/gantry-bench-images")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help="comma-separated; tar-x = the bound (GNU tar of the decompressed layers), "
                             "gantry = a flattened rootfs (unpack), gantry-snapshots = per-layer snapshots "
                             "(pull --unpack)")
    parser.add_argument("--cpus", default=str(os.cpu_count()),
                        help="comma-separated CPU counts for gantry's columns (taskset); e.g. 1,2")
    parser.add_argument("--link-rate", type=float, help="MB/s per connection for blobs (through a proxy)")
    parser.add_argument("--perf-dir", help="record each gantry run with `perf record -g` into this directory "
                                           "(a profile, not a timing: perf slows the run)")
    parser.add_argument("--json-out", help="write the measurements here")
    args = parser.parse_args()

    wanted = args.tools.split(",")
    unknown = set(wanted) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    cpu_counts = [int(c) for c in args.cpus.split(",")]
    columns: list[Column] = []
    for tool in wanted:
        if tool in GANTRY_TOOLS:
            for cpus in cpu_counts:
                pinned = cpus != os.cpu_count()
                columns.append(Column(f"{tool}@{cpus}cpu" if pinned else tool, tool, cpus if pinned else None))
        else:
            columns.append(Column(tool, tool))

    image, stats = bench_image(args)
    tars = decompressed_tars(image, Path(args.cache)) if "tar-x" in wanted else []
    size_gib = max(4, 3 * stats["uncompressed"] // (1 << 30) + 2)
    gib = stats["uncompressed"] / 2**30
    print(f"image: {len(image.layers)} layers, {stats['files']} entries, "
          f"{stats['uncompressed'] / 2**20:.0f} MiB uncompressed, {stats['compressed'] / 2**20:.0f} MiB {args.compression}")
    with tempfile.TemporaryDirectory(prefix="gantry-bench-", dir="/var/tmp") as tmp:
        tmp = Path(tmp)
        info = registry.start(tmp / "registry", "plain")
        proxy = None
        try:
            info.client.push_image("bench/image", image, tag="latest")
            ref = info.ref("bench/image", "latest")
            if args.link_rate:
                proxy = FaultProxy(info.url).start()
                proxy.add_rule("/blobs/", Throttle(args.link_rate * 1e6), times=None)
                ref = proxy.ref("bench/image", "latest")
            for run in range(args.runs):
                for column in columns:
                    with FreshFilesystem(tmp / "fs.img", tmp / "mnt", size_gib) as fs:
                        column.runs.append(run_column(args, column, ref, tars, fs, tmp, run))
        finally:
            if proxy:
                proxy.stop()
            registry.stop(tmp / "registry")

    medians = {c.name: statistics.median(m.seconds for m in c.runs) for c in columns}
    for column in columns:
        cpu = statistics.median(m.cpu for m in column.runs)
        print(f"{column.name:22s} median {medians[column.name]:6.2f} s   runs: "
              + " ".join(f"{m.seconds:.2f}" for m in column.runs)
              + f"   CPU {cpu / gib:5.2f} s/GiB   peak RSS {max(m.rss_kib for m in column.runs) / 1024:.0f} MiB")
    base = "tar-x" if "tar-x" in medians else ("gantry" if "gantry" in medians else None)
    if base:
        for column in columns:
            if column.name != base:
                print(f"{column.name} / {base} = {medians[column.name] / medians[base]:.2f}x")
    profiles = {}
    for column in columns:
        timeline = timeline_of(column.median_run().stdout) if column.tool in GANTRY_TOOLS else None
        if timeline:
            profiles[column.name] = timeline
            print(f"{column.name}, median run's timeline (seconds from the request):")
            print("\n".join(layer_profile(timeline)))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({
            "image_name": args.image or f"preset:{args.preset}", "compression": args.compression, "link_rate": args.link_rate, "image": stats,
            "layers": len(image.layers),
            "columns": [{"name": c.name, "tool": c.tool, "cpus": c.cpus or os.cpu_count(),
                         "seconds": [m.seconds for m in c.runs], "cpu_seconds": [m.cpu for m in c.runs],
                         "rss_kib": [m.rss_kib for m in c.runs], "median": medians[c.name]} for c in columns],
            "timelines": profiles}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
