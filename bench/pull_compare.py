#!/usr/bin/env python3
"""gantry pull against skopeo copy, same image, same registry, same session.

Starts a plain-HTTP registry on loopback (tools/testbed), pushes an image made
from this machine's directories (bench/host_image.py), then times RUNS cold
pulls by each tool into a fresh directory and prints the medians.

    bench/pull_compare.py [--preset medium] [--runs 5] [--gantry build/gantry] [--registry plain|tls]

With --registry tls both tools verify the registry's certificate (the test
bed's CA): the TLS a real registry costs, on top of hashing and writing.
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


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(host_image.PRESETS), default="medium")
    parser.add_argument("--compression", choices=["gzip", "zstd", "none"], default="gzip")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gantry", default=str(Path(__file__).resolve().parents[1] / "build" / "gantry"))
    parser.add_argument("--cache", default="/var/tmp/gantry-bench-images")
    parser.add_argument("--registry", choices=["plain", "tls"], default="plain")
    args = parser.parse_args()

    image, stats = host_image.build(args.preset, args.compression, Path(args.cache))
    print(f"image: {len(image.layers)} layers, {stats['files']} entries, "
          f"{stats['uncompressed'] / 2**20:.0f} MiB uncompressed, {stats['compressed'] / 2**20:.0f} MiB {args.compression}")
    with tempfile.TemporaryDirectory(prefix="gantry-bench-") as tmp:
        tmp = Path(tmp)
        info = registry.start(tmp / "registry", args.registry)
        try:
            info.client.push_image("bench/image", image, tag="latest")
            ref = info.ref("bench/image", "latest")
            if info.ca_file:
                certs = tmp / "certs.d"  # skopeo reads the CA from a directory
                certs.mkdir()
                (certs / "ca.crt").write_bytes(Path(info.ca_file).read_bytes())
                gantry_tls, skopeo_tls = ["--ca-file", info.ca_file], [f"--src-cert-dir={certs}"]
            else:
                gantry_tls, skopeo_tls = ["--plain-http"], ["--src-tls-verify=false"]
            tools = {
                "gantry pull": lambda d: [args.gantry, "pull", "--quiet", *gantry_tls, "--store", str(d), ref],
                "skopeo copy": lambda d: ["skopeo", "copy", "--quiet", *skopeo_tls,
                                          f"docker://{ref}", f"oci:{d}:latest"],
            }
            results: dict[str, list[float]] = {name: [] for name in tools}
            for run in range(args.runs):
                for name, command in tools.items():  # interleaved, so drift hits both alike
                    target = tmp / f"{name.split()[0]}-{run}"
                    results[name].append(timed(command(target)))
                    subprocess.run(["rm", "-rf", str(target)], check=True)
            for name, times in results.items():
                print(f"{name:12s} median {statistics.median(times):6.2f} s   runs: "
                      + " ".join(f"{t:.2f}" for t in times))
            g, s = (statistics.median(results[n]) for n in tools)
            print(f"skopeo / gantry = {s / g:.2f}x")
        finally:
            registry.stop(tmp / "registry")
    return 0


if __name__ == "__main__":
    sys.exit(main())
