#!/usr/bin/env python3
"""Cold and warm `run IMAGE -- true`: gantry against containerd (`ctr images
pull` + `ctr run`) and podman, same images, same registry, same session.

Cold: a fresh ext4 filesystem (unpack_compare.FreshFilesystem) holding an
empty store, so the image is pulled, unpacked and started. Warm: the same
command again on that store. Two images: busybox alone (about 1 MiB), and
busybox under two layers of this machine's /usr dirs (~150 MiB: the `run`
preset of host_image.py). Needs root; `tools/install-deps` installs containerd
and podman (run here with runc, per MACHINE-NOTES).

    bench/run_compare.py [--runs 3] [--gantry build/gantry] [--tools gantry,containerd,podman]
                         [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import host_image  # noqa: E402
from gantry_testbed import images, registry, trees  # noqa: E402
from gantry_testbed.layers import build_layer  # noqa: E402
from unpack_compare import FreshFilesystem, start_containerd  # noqa: E402

PODMAN_FLAGS = ["--runtime", "runc", "--cgroup-manager", "cgroupfs", "--ulimit", "nofile=1024:1024",
                "--ulimit", "nproc=4096:4096", "--network", "host", "--tls-verify=false"]


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} {argv[1]} failed ({result.returncode}): {result.stderr[-2000:]}")
    return elapsed


def gantry_cold_and_warm(args, fs: Path, command: list[str], ref: str, *tail: str) -> tuple[float, float]:
    """A gantry command on an empty store, then again on the store it filled."""
    argv = [args.gantry, *command, "--quiet", "--plain-http", "--store", str(fs / "store"), ref, *tail]
    return timed(argv), timed(argv)


def containerd_runs(args, ref: str, fs: Path, tmp: Path, run: int) -> tuple[float, float]:
    daemon, socket = start_containerd(fs, tmp, run)
    try:
        ctr = ["ctr", "--address", str(socket)]
        start = time.perf_counter()
        timed([*ctr, "images", "pull", "--plain-http", ref])
        timed([*ctr, "run", "--rm", "--net-host", ref, f"cold-{secrets.token_hex(4)}", "true"])
        cold = time.perf_counter() - start
        warm = timed([*ctr, "run", "--rm", "--net-host", ref, f"warm-{secrets.token_hex(4)}", "true"])
        return cold, warm
    finally:
        daemon.terminate()
        daemon.wait()
        subprocess.run(["umount", "-R", str(fs / "containerd")], capture_output=True)


def podman_runs(args, ref: str, fs: Path) -> tuple[float, float]:
    argv = ["podman", "--root", str(fs / "podman"), "--runroot", str(fs / "podman-run"),
            "--storage-driver", "overlay", "run", "--rm", *PODMAN_FLAGS, ref, "true"]
    try:
        return timed(argv), timed(argv)
    finally:
        subprocess.run(["podman", "--root", str(fs / "podman"), "--runroot", str(fs / "podman-run"),
                        "--storage-driver", "overlay", "system", "reset", "--force"], capture_output=True)


def build_images(cache: Path) -> dict[str, tuple[images.Image, str]]:
    busybox = build_layer(trees.busybox_entries())
    bulk, stats = host_image.build("run", "gzip", cache)
    config = images.ImageConfig(cmd=("sh",))
    return {
        "busybox": (images.build_image([busybox], config=config), "1 layer, 1 MiB"),
        "busybox+usr": (images.build_image([busybox, *bulk.layers], config=config),
                        f"{1 + len(bulk.layers)} layers, {stats['files']} entries, "
                        f"{(stats['uncompressed'] >> 20) + 2} MiB, {(stats['compressed'] >> 20) + 1} MiB gzip"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gantry", default=str(Path(__file__).resolve().parents[1] / "build" / "gantry"))
    parser.add_argument("--cache", default="/var/tmp/gantry-bench-images")
    parser.add_argument("--tools", default="gantry,containerd,podman",
                        help="comma-separated: gantry, gantry-pull-unpack (cold and warm `pull --unpack`, "
                             "the part of a cold run before the process), containerd, podman")
    parser.add_argument("--json-out", help="write the measurements here")
    args = parser.parse_args()
    wanted = args.tools.split(",")
    built = build_images(Path(args.cache))
    with tempfile.TemporaryDirectory(prefix="gantry-run-bench-", dir="/var/tmp") as tmp:
        tmp = Path(tmp)
        info = registry.start(tmp / "registry", "plain")
        try:
            refs = {}
            for name, (image, _) in built.items():
                info.client.push_image(f"bench/{name.replace('+', '-')}", image, tag="latest")
                refs[name] = info.ref(f"bench/{name.replace('+', '-')}", "latest")
            results: dict[tuple[str, str], list[tuple[float, float]]] = {}
            for run in range(args.runs):
                for name, ref in refs.items():
                    for tool in wanted:  # interleaved, so drift hits every tool alike
                        with FreshFilesystem(tmp / "fs.img", tmp / "mnt", 4) as fs:
                            subprocess.run(["sync"], check=True)
                            if tool == "gantry":
                                times = gantry_cold_and_warm(args, fs, ["run"], ref, "--", "true")
                            elif tool == "gantry-pull-unpack":  # what a cold run does before the process
                                times = gantry_cold_and_warm(args, fs, ["pull", "--unpack"], ref)
                            elif tool == "containerd":
                                times = containerd_runs(args, ref, fs, tmp, run)
                            else:
                                times = podman_runs(args, ref, fs)
                        results.setdefault((name, tool), []).append(times)
            for name, (_, what) in built.items():
                print(f"{name} ({what}):")
                for tool in wanted:
                    runs = results[(name, tool)]
                    cold = statistics.median(c for c, _ in runs)
                    warm = statistics.median(w for _, w in runs)
                    print(f"  {tool:11s} cold median {cold:6.3f} s  warm median {warm:6.3f} s   runs (cold/warm): "
                          + " ".join(f"{c:.3f}/{w:.3f}" for c, w in runs))
        finally:
            registry.stop(tmp / "registry")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({
            "images": {name: what for name, (_, what) in built.items()},
            "runs": [{"image": name, "tool": tool, "cold": [c for c, _ in runs], "warm": [w for _, w in runs]}
                     for (name, tool), runs in results.items()]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
