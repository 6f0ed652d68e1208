#!/usr/bin/env python3
"""docs/PERFORMANCE.md, regenerated in one session by one command: the
performance goals, the measurements that say where gantry stands against
them (the `tar -x` bound, containerd, podman, skopeo + umoci), the method,
the machine, and the profile that explains where the time goes.

It runs bench/unpack_compare.py on the corpus of bench/suite/build.py (two
shapes of Debian-package images, gzip and zstd, 1 and 2 CPUs), then
bench/run_compare.py (cold and warm `run -- true`), then one profiled run
(`perf record`), and writes the page. Needs root, a Release build and
`tools/install-deps`; takes about 15 minutes on a 2-vCPU machine (the first
time longer: the corpus' layers are built and cached).

    bench/performance_report.py [--runs 3] [--gantry build/gantry] [--out docs/PERFORMANCE.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
GIB = 2**30

# (image, compression, tools, CPU counts of gantry's columns)
UNPACK_CASES = [
    ("suite:corpus-small", "gzip", "tar-x,gantry,gantry-snapshots,skopeo+umoci,containerd", "1,2"),
    ("suite:corpus-large", "gzip", "tar-x,gantry,gantry-snapshots,skopeo+umoci,containerd", "1,2"),
    # umoci 0.4.7 cannot unpack zstd layers (MACHINE-NOTES)
    ("suite:corpus-small", "zstd", "tar-x,gantry,gantry-snapshots,containerd", "2"),
    ("suite:corpus-large", "zstd", "tar-x,gantry,gantry-snapshots,containerd", "2"),
]
PROFILED = ("suite:corpus-large", "gzip")
# What perf's shared objects stand for, for the profile's table.
DSO_ROLES = [
    ("[kernel.kallsyms]", "the kernel: file creation and writes, the socket, the partial file, scheduling"),
    ("libisal", "inflate (ISA-L)"),
    ("libzstd", "zstd decoding"),
    ("libcrypto", "sha256: the blob's digest and the diff ID"),
    ("libarchive", "tar header parsing"),
    ("libc", "memcpy and friends"),
    ("gantry", "gantry's own code (applier, path cache, queues)"),
]


def run(argv: list[str], **kw) -> str:
    print("+", " ".join(argv), flush=True)
    return subprocess.run(argv, check=True, text=True, stdout=subprocess.PIPE, **kw).stdout


def first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    os_name = next((line.split("=", 1)[1].strip('"') for line in Path("/etc/os-release").read_text().splitlines()
                    if line.startswith("PRETTY_NAME=")), "unknown")
    return {"CPU": f"{os.cpu_count()} x {cpu}", "memory": f"{mem / 2**20:.0f} GiB", "kernel": platform.release(),
            "system": os_name, "filesystem": "a freshly made ext4 on a loop device per run (MACHINE-NOTES)"}


def versions(gantry: str) -> dict[str, str]:
    return {"gantry": first_line([gantry, "--version"]), "GNU tar": first_line(["tar", "--version"]),
            "containerd": first_line(["containerd", "--version"]), "podman": first_line(["podman", "--version"]),
            "skopeo": first_line(["skopeo", "--version"]), "umoci": first_line(["umoci", "--version"]),
            "runc": first_line(["runc", "--version"])}


def unpack_section(case: dict) -> list[str]:
    stats = case["image"]
    gib = stats["uncompressed"] / GIB
    cols = {c["name"]: c for c in case["columns"]}
    bound = cols["tar-x"]["median"]
    lines = [f"#### {case['image_name']}, {case['compression']}: {case['layers']} layers, {stats['files']} entries, "
             f"{stats['uncompressed'] / 2**20:.0f} MiB unpacked, {stats['compressed'] / 2**20:.0f} MiB compressed",
             "", "| tool | median s | runs | × tar -x | CPU s/GiB | peak RSS MiB |", "|---|---|---|---|---|---|"]
    for c in case["columns"]:
        lines.append(f"| {c['name']} | {c['median']:.2f} | {' '.join(f'{s:.2f}' for s in c['seconds'])} | "
                     f"{c['median'] / bound:.2f} | {median(c['cpu_seconds']) / gib:.2f} | "
                     f"{max(c['rss_kib']) / 1024:.0f} |")
    return lines + [""]


def goal_rows(cases: list[dict], runs: dict) -> list[str]:
    rows = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    for case in cases:
        cols = {c["name"]: c["median"] for c in case["columns"]}
        label = f"{case['image_name'].split(':')[1]} {case['compression']}"
        ratio = cols["gantry"] / cols["tar-x"]
        rows.append(f"| cold `unpack` ≤ 1.1 × `tar -x` | {label} | {ratio:.2f}× | {verdict(ratio <= 1.1)} |")
        snap = cols["gantry-snapshots"] / cols["gantry"]
        rows.append(f"| cold `pull --unpack` ≤ 1.0 × cold `unpack` | {label} | {snap:.2f}× | {verdict(snap <= 1.0)} |")
        for tool in ("gantry", "gantry-snapshots"):
            if f"{tool}@1cpu" in cols:
                scale = cols[f"{tool}@1cpu"] / cols[tool]
                rows.append(f"| 2 CPUs ≥ 1.7 × faster than 1 (`{tool}`) | {label} | {scale:.2f}× | "
                            f"{verdict(scale >= 1.7)} |")
        rss = max(max(c["rss_kib"]) for c in case["columns"] if c["tool"].startswith("gantry")) / 1024
        rows.append(f"| peak RSS < 256 MiB | {label} | {rss:.0f} MiB | {verdict(rss < 256)} |")
    by = {(r["image"], r["tool"]): r for r in runs["runs"]}
    for image in runs["images"]:
        gantry, pull = by.get((image, "gantry")), by.get((image, "gantry-pull-unpack"))
        if gantry and pull:
            extra = (median(gantry["cold"]) - median(pull["cold"])) * 1000
            rows.append(f"| cold `run -- true` ≤ cold `pull --unpack` + 60 ms | {image} | +{extra:.0f} ms | "
                        f"{verdict(extra <= 60)} |")
        if gantry:
            warm = median(gantry["warm"]) * 1000
            rows.append(f"| warm `run -- true` ≤ 15 ms | {image} | {warm:.1f} ms | {verdict(warm <= 15)} |")
    return rows


def run_section(runs: dict) -> list[str]:
    lines = ["| image | tool | cold median s | warm median s | runs (cold/warm) |", "|---|---|---|---|---|"]
    for r in runs["runs"]:
        pairs = " ".join(f"{c:.3f}/{w:.3f}" for c, w in zip(r["cold"], r["warm"]))
        lines.append(f"| {r['image']} ({runs['images'][r['image']]}) | {r['tool']} | {median(r['cold']):.3f} | "
                     f"{median(r['warm']):.3f} | {pairs} |")
    return lines + [""]


def profile(perf_file: Path) -> list[str]:
    out = subprocess.run(["perf", "report", "-i", str(perf_file), "--no-children", "--sort", "dso", "--stdio",
                          "-g", "none"], capture_output=True, text=True, check=True).stdout
    shares = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)", line)
        if m:
            shares.append((float(m.group(1)), m.group(2)))
    lines = ["| share of gantry's CPU samples | shared object | what it does there |", "|---|---|---|"]
    for share, dso in shares:
        if share < 0.5:
            continue
        role = next((what for key, what in DSO_ROLES if dso.startswith(key)), "")
        lines.append(f"| {share:.1f} % | `{dso}` | {role} |")
    return lines + [""]


def timeline_lines(timeline: dict) -> list[str]:
    lines = ["| layer | first byte | last byte | decoded | applied | committed | waited: network / decoder / applier |",
             "|---|---|---|---|---|---|---|"]
    for layer in timeline["layers"]:
        at, waited = layer["at"], layer["waited"]
        cells = [f"{at[s]:.2f}" if s in at else "" for s in ("first_byte", "last_byte", "decoded", "applied",
                                                              "committed")]
        lines.append(f"| `{layer['digest'][7:19]}` | {' | '.join(cells)} | {waited['network']:.2f} / "
                     f"{waited['decoder']:.2f} / {waited['applier']:.2f} |")
    return lines + [""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gantry", default=str(ROOT / "build" / "gantry"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "PERFORMANCE.md"))
    args = parser.parse_args()
    gantry = str(Path(args.gantry).resolve())

    cases = []
    with tempfile.TemporaryDirectory(prefix="gantry-report-", dir="/var/tmp") as tmp:
        tmp = Path(tmp)
        for i, (image, compression, tools, cpus) in enumerate(UNPACK_CASES):
            out = tmp / f"unpack-{i}.json"
            run([sys.executable, str(BENCH / "unpack_compare.py"), "--image", image, "--compression", compression,
                 "--tools", tools, "--cpus", cpus, "--runs", str(args.runs), "--gantry", gantry,
                 "--json-out", str(out)])
            cases.append(json.loads(out.read_text()))
        runs_file = tmp / "run.json"
        run([sys.executable, str(BENCH / "run_compare.py"), "--tools", "gantry,gantry-pull-unpack,containerd,podman",
             "--runs", str(max(args.runs, 5)), "--gantry", gantry, "--json-out", str(runs_file)])
        runs = json.loads(runs_file.read_text())
        perf_dir = tmp / "perf"
        run([sys.executable, str(BENCH / "unpack_compare.py"), "--image", PROFILED[0], "--compression", PROFILED[1],
             "--tools", "gantry,gantry-snapshots", "--runs", "1", "--gantry", gantry, "--perf-dir", str(perf_dir)])
        profiles = {tool: profile(perf_dir / f"{tool}-0.perf") for tool in ("gantry", "gantry-snapshots")}

    profiled = next(c for c in cases if (c["image_name"], c["compression"]) == PROFILED)
    page = [
        "# Performance",
        "",
        "Regenerated by `bench/performance_report.py` (root, a Release build, `tools/install-deps`), "
        "every number from one session on the machine below. Absolute times differ by up to ~1.7× "
        "between machines of this kind: compare the ratios, which are measured in the same run.",
        "",
        "## The machine",
        "",
        *[f"- {k}: {v}" for k, v in machine().items()],
        *[f"- {k}: {v}" for k, v in versions(gantry).items()],
        "",
        "## The goals and where gantry stands",
        "",
        "| goal | image | measured | |",
        "|---|---|---|---|",
        *goal_rows(cases, runs),
        "",
        "## Method",
        "",
        f"- Every run on a freshly made ext4 (a loop device, `mkfs.ext4` anew: creating files soon after "
        f"deleting many is ~10× slower on this VM), cold from a loopback `docker-registry`, tools interleaved "
        f"run by run; medians of {args.runs} runs (run: at least 5).",
        "- `tar-x`, the bound: GNU tar, one thread, extracting each layer's already-decompressed tar (read "
        "from the page cache) in order into one directory: only the cost of creating the files. gantry also "
        "downloads, hashes twice (the blob and the diff ID), inflates and keeps the blob in its store.",
        "- `gantry` is `gantry unpack` (a flattened rootfs), `gantry-snapshots` is `gantry pull --unpack` "
        "(a snapshot per layer, what `run` uses); `@1cpu` is pinned to one CPU with `taskset`. "
        "`skopeo+umoci` is `skopeo copy` to an OCI layout then `umoci unpack`; `containerd` is `ctr images "
        "pull` into a private containerd (download, then unpack into its overlayfs snapshotter).",
        "- CPU s/GiB: user + sys of the command and its children per GiB unpacked (the kernel's writeback "
        "threads and the registry are not counted). Peak RSS: the client's.",
        "- The corpus (`bench/suite/build.py`): images of this machine's installed Debian packages, four "
        "layers each: `corpus-small` (a base, python3.11, perl, git) and `corpus-large` (a base, the "
        "runtimes, gcc 12 with cmake, gdb and Boost's headers, clang/LLVM 14).",
        "",
        "## Cold unpack",
        "",
        *[line for case in cases for line in unpack_section(case)],
        "## `run -- true`, cold and warm",
        "",
        "Cold: an empty store on a fresh filesystem; warm: the same command again. `gantry-pull-unpack` is "
        "`pull --unpack` alone, the part of a cold run before the process starts.",
        "",
        *run_section(runs),
        "## Where the time goes",
        "",
        f"The engine's timeline of the median `gantry unpack` of {PROFILED[0]} {PROFILED[1]} (seconds from "
        "the request; `waited` sums the time each stage of the layer waited for the one before it). A "
        "flattened rootfs applies its layers in order: while the layers below apply, an upper layer writes "
        "its files whole beside the target and keeps their headers, then applies the headers in order, each "
        "file renamed into place:",
        "",
        *timeline_lines(profiled["timelines"]["gantry"]),
        "The same image with `pull --unpack` (snapshots apply in parallel, each in its own directory):",
        "",
        *timeline_lines(profiled["timelines"]["gantry-snapshots"]),
        "`perf record -g` of one `gantry unpack` of that image, by shared object:",
        "",
        *profiles["gantry"],
        "And of one `gantry pull --unpack`:",
        "",
        *profiles["gantry-snapshots"],
    ]
    Path(args.out).write_text("\n".join(page) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
