#!/usr/bin/env python3
"""Handing an image to the node's containerd: `gantry export REF | ctr images
import -` of an image already in gantry's store (what the DaemonSet of
deploy/kubernetes does after its prewarm) against `ctr images pull` of it
from the loopback registry. Both end with the image in containerd's content
store and unpacked into its overlayfs snapshotter. Each run gets a freshly
made ext4 (MACHINE-NOTES), holding gantry's store and containerd's root; the
gantry store is filled by a `gantry pull` before the timed part (the image
was pre-warmed), so its blobs are in the page cache as they would be on a
node that just pulled them. Runs are interleaved. Needs root; `tools/install-deps`
installs containerd.

    bench/export_compare.py [--preset large] [--runs 5] [--gantry build/gantry]
"""

from __future__ import annotations

import argparse
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
from unpack_compare import FreshFilesystem, run_timed, start_containerd  # noqa: E402


def export_import(args, ref: str, fs: Path, socket: Path) -> float:
    store = str(fs / "store")
    run_timed([args.gantry, "pull", "--quiet", "--plain-http", "--store", store, ref])
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    pipeline = subprocess.run(["bash", "-o", "pipefail", "-c",
                               f'"$0" export --quiet --store "$1" "$2" | ctr --address "$3" images import -',
                               args.gantry, store, ref, str(socket)], capture_output=True)
    elapsed = time.perf_counter() - start
    if pipeline.returncode != 0:
        raise RuntimeError(f"export | import failed: {pipeline.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def ctr_pull(args, ref: str, fs: Path, socket: Path) -> float:
    return run_timed(["ctr", "--address", str(socket), "images", "pull", "--plain-http", ref])[0]


TOOLS = {"export | ctr import": export_import, "ctr pull": ctr_pull}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(host_image.PRESETS), default="large")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gantry", default=str(Path(__file__).resolve().parents[1] / "build" / "gantry"))
    parser.add_argument("--cache", default="/var/tmp/gantry-bench-images")
    args = parser.parse_args()

    image, stats = host_image.build(args.preset, "gzip", Path(args.cache))
    print(f"{args.preset}: {len(image.layers)} layers, {stats['compressed'] / 2**20:.0f} MiB gzip, "
          f"{stats['uncompressed'] / 2**20:.0f} MiB unpacked")
    print(subprocess.run(["ctr", "--version"], capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory(prefix="gantry-export-bench-", dir="/var/tmp") as tmp:
        tmp = Path(tmp)
        info = registry.start(tmp / "registry", "plain")
        try:
            info.client.push_image("bench/export", image, tag="latest")
            ref = info.ref("bench/export", "latest")
            times: dict[str, list[float]] = {tool: [] for tool in TOOLS}
            run = 0
            for _ in range(args.runs):
                for tool, measure in TOOLS.items():  # interleaved, so drift hits both alike
                    with FreshFilesystem(tmp / "fs.img", tmp / "mnt", 12) as fs:
                        subprocess.run(["sync"], check=True)
                        daemon, socket = start_containerd(fs, tmp, run)
                        run += 1
                        try:
                            times[tool].append(measure(args, ref, fs, socket))
                        finally:
                            daemon.terminate()
                            daemon.wait()
                            subprocess.run(["umount", "-R", str(fs / "containerd")], capture_output=True)
            for tool in TOOLS:
                print(f"{tool:20s} median {statistics.median(times[tool]):6.2f} s   runs: "
                      + " ".join(f"{t:.2f}" for t in times[tool]))
            ratio = statistics.median(times["ctr pull"]) / statistics.median(times["export | ctr import"])
            print(f"ctr pull / (export | ctr import) = {ratio:.2f}x")
        finally:
            registry.stop(tmp / "registry")
    return 0


if __name__ == "__main__":
    sys.exit(main())
