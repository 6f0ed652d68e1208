#!/usr/bin/env python3
"""Cold pull + unpack: gantry against skopeo + umoci and containerd, same image,
same registry, same session, each run on a freshly made ext4 filesystem.

MACHINE-NOTES: creating files soon after an `rm -rf` of many files is ~10x
slower on this VM's ext4, so every run gets a new loop-mounted ext4 (mkfs'd
anew) and nothing is deleted between runs. Needs root; `tools/install-deps`
installs containerd.

    bench/unpack_compare.py [--preset large] [--runs 3] [--gantry build/gantry]
                            [--tools gantry,gantry-snapshots,skopeo+umoci,containerd]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import host_image  # noqa: E402
from gantry_testbed import registry  # noqa: E402


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


def run_timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and the child's peak RSS in KiB."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.read().decode(errors='replace')[-2000:]}")
    return elapsed, usage.ru_maxrss


def gantry(args, ref: str, fs: Path) -> list[list[str]]:
    return [[args.gantry, "unpack", "--quiet", "--plain-http", "--store", str(fs / "store"), ref, str(fs / "rootfs")]]


def gantry_snapshots(args, ref: str, fs: Path) -> list[list[str]]:
    """Per-layer snapshots in the store, as containerd's overlayfs snapshotter makes."""
    return [[args.gantry, "pull", "--unpack", "--quiet", "--plain-http", "--store", str(fs / "store"), ref]]


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(host_image.PRESETS), default="large")
    parser.add_argument("--compression", choices=["gzip", "zstd", "none"], default="gzip")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gantry", default=str(Path(__file__).resolve().parents[1] / "build" / "gantry"))
    parser.add_argument("--cache", default="/var/tmp/gantry-bench-images")
    parser.add_argument("--tools", default="gantry,gantry-snapshots,skopeo+umoci,containerd",
                        help="comma-separated; gantry = a flattened rootfs (unpack), "
                             "gantry-snapshots = per-layer snapshots (pull --unpack)")
    args = parser.parse_args()

    image, stats = host_image.build(args.preset, args.compression, Path(args.cache))
    size_gib = max(4, 3 * stats["uncompressed"] // (1 << 30) + 2)
    print(f"image: {len(image.layers)} layers, {stats['files']} entries, "
          f"{stats['uncompressed'] / 2**20:.0f} MiB uncompressed, {stats['compressed'] / 2**20:.0f} MiB {args.compression}")
    wanted = args.tools.split(",")
    with tempfile.TemporaryDirectory(prefix="gantry-bench-", dir="/var/tmp") as tmp:
        tmp = Path(tmp)
        info = registry.start(tmp / "registry", "plain")
        try:
            info.client.push_image("bench/image", image, tag="latest")
            ref = info.ref("bench/image", "latest")
            times: dict[str, list[float]] = {t: [] for t in wanted}
            rss: dict[str, list[int]] = {t: [] for t in wanted}
            for run in range(args.runs):
                for tool in wanted:  # interleaved, so drift hits every tool alike
                    with FreshFilesystem(tmp / "fs.img", tmp / "mnt", size_gib) as fs:
                        subprocess.run(["sync"], check=True)
                        daemon = None
                        try:
                            if tool == "gantry":
                                commands = gantry(args, ref, fs)
                            elif tool == "gantry-snapshots":
                                commands = gantry_snapshots(args, ref, fs)
                            elif tool == "skopeo+umoci":
                                commands = skopeo_umoci(args, ref, fs)
                            else:
                                daemon, socket = start_containerd(fs, tmp, run)
                                commands = containerd_pull(args, ref, fs, socket)
                            total, peak = 0.0, 0
                            for command in commands:
                                seconds, kib = run_timed(command)
                                total += seconds
                                peak = max(peak, kib)
                            times[tool].append(total)
                            rss[tool].append(peak)
                        finally:
                            if daemon:
                                daemon.terminate()
                                daemon.wait()
                                subprocess.run(["umount", "-R", str(fs / "containerd")], capture_output=True)
            for tool in wanted:
                print(f"{tool:16s} median {statistics.median(times[tool]):6.2f} s   runs: "
                      + " ".join(f"{t:.2f}" for t in times[tool])
                      + f"   client peak RSS {max(rss[tool]) / 1024:.0f} MiB")
            if "gantry" in wanted:
                g = statistics.median(times["gantry"])
                for tool in wanted:
                    if not tool.startswith("gantry"):
                        print(f"{tool} / gantry = {statistics.median(times[tool]) / g:.2f}x")
        finally:
            registry.stop(tmp / "registry")
    return 0


if __name__ == "__main__":
    sys.exit(main())
