#!/usr/bin/env python3
"""Pre-warming a node: `gantry prewarm --unpack` of a list of images against a
`ctr images pull` loop and a `podman pull` loop of the same list, same registry,
same session, each run on a freshly made ext4 (MACHINE-NOTES: never `rm -rf`
between runs). All three end with every image fetched, verified and unpacked
into the tool's own layer snapshots.

The list: five images made from this machine's directories, all on one base
layer, so a puller that fetches a shared blob once has less to do. Needs root;
`tools/install-deps` installs containerd and podman.

    bench/prewarm_compare.py [--runs 3] [--gantry build/gantry] [--tools gantry,containerd,podman]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import host_image  # noqa: E402
from gantry_testbed import images, registry  # noqa: E402
from unpack_compare import FreshFilesystem, run_timed, start_containerd  # noqa: E402

BASE = ["/usr/include", "/usr/share/perl", "/usr/lib/x86_64-linux-gnu"]
TOPS = {
    "tools": [["/usr/bin"]],
    "gcc": [["/usr/lib/gcc"]],
    "locale": [["/usr/share/locale"]],
    "doc": [["/usr/share/doc", "/usr/libexec"]],
    "python": [["/usr/lib/python3.11", "/usr/sbin"], ["/usr/share/i18n"]],
}


def build_list(cache: Path) -> tuple[dict[str, images.Image], str]:
    """The images by name, and a line saying what they hold."""
    (base,), base_stats = host_image.build_layers([BASE], "gzip", cache)
    built, total, unique = {}, base_stats["compressed"] * len(TOPS), base_stats["compressed"]
    raw = base_stats["uncompressed"] * len(TOPS)
    for name, groups in TOPS.items():
        tops, stats = host_image.build_layers(groups, "gzip", cache)
        built[name] = images.build_image([base, *tops], config=images.ImageConfig(cmd=("/bin/sh",)))
        total += stats["compressed"]
        unique += stats["compressed"]
        raw += stats["uncompressed"]
    what = (f"{len(built)} images on one base: {raw / 2**30:.2f} GiB unpacked in all, "
            f"{total / 2**30:.2f} GiB gzip in all, {unique / 2**30:.2f} GiB of distinct blobs")
    return built, what


def gantry(args, refs: list[str], fs: Path, tmp: Path, run: int) -> float:
    seconds, _ = run_timed([args.gantry, "prewarm", "--unpack", "--quiet", "--plain-http",
                            "--store", str(fs / "store"), *refs])
    return seconds


def containerd(args, refs: list[str], fs: Path, tmp: Path, run: int) -> float:
    daemon, socket = start_containerd(fs, tmp, run)
    try:
        return sum(run_timed(["ctr", "--address", str(socket), "images", "pull", "--plain-http", ref])[0]
                   for ref in refs)
    finally:
        daemon.terminate()
        daemon.wait()
        subprocess.run(["umount", "-R", str(fs / "containerd")], capture_output=True)


def podman(args, refs: list[str], fs: Path, tmp: Path, run: int) -> float:
    # podman refuses a runroot (its lock and state files, not the images)
    # longer than 50 characters: a short one in /tmp.
    runroot = tempfile.mkdtemp(prefix="gpw-", dir="/tmp")
    argv = ["podman", "--root", str(fs / "podman"), "--runroot", runroot,
            "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs"]
    try:
        return sum(run_timed([*argv, "pull", "--quiet", "--tls-verify=false", ref])[0] for ref in refs)
    finally:
        subprocess.run([*argv, "system", "reset", "--force"], capture_output=True)
        subprocess.run(["rm", "-rf", runroot], check=False)


TOOLS = {"gantry": gantry, "containerd": containerd, "podman": podman}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gantry", default=str(Path(__file__).resolve().parents[1] / "build" / "gantry"))
    parser.add_argument("--cache", default="/var/tmp/gantry-bench-images")
    parser.add_argument("--tools", default=",".join(TOOLS))
    args = parser.parse_args()
    wanted = args.tools.split(",")
    if unknown := set(wanted) - TOOLS.keys():
        parser.error(f"unknown tools {', '.join(sorted(unknown))}; expected some of {', '.join(TOOLS)}")

    built, what = build_list(Path(args.cache))
    print(what)
    with tempfile.TemporaryDirectory(prefix="gantry-prewarm-bench-", dir="/var/tmp") as tmp:
        tmp = Path(tmp)
        info = registry.start(tmp / "registry", "plain")
        try:
            refs = []
            for name, image in built.items():
                info.client.push_image(f"bench/{name}", image, tag="latest")
                refs.append(info.ref(f"bench/{name}", "latest"))
            times: dict[str, list[float]] = {tool: [] for tool in wanted}
            for run in range(args.runs):
                for tool in wanted:  # interleaved, so drift hits every tool alike
                    with FreshFilesystem(tmp / "fs.img", tmp / "mnt", 12) as fs:
                        subprocess.run(["sync"], check=True)
                        times[tool].append(TOOLS[tool](args, refs, fs, tmp, run))
            for tool in wanted:
                print(f"{tool:11s} median {statistics.median(times[tool]):6.2f} s   runs: "
                      + " ".join(f"{t:.2f}" for t in times[tool]))
            if "gantry" in wanted:
                g = statistics.median(times["gantry"])
                for tool in wanted:
                    if tool != "gantry":
                        print(f"{tool} / gantry = {statistics.median(times[tool]) / g:.2f}x")
        finally:
            registry.stop(tmp / "registry")
    return 0


if __name__ == "__main__":
    sys.exit(main())
