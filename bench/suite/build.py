#!/usr/bin/env python3
"""The local cold-start suite of `gantry bench`, HelloBench-style, built from
this machine's own Debian packages (their installed files, `dpkg -L`, with
each package's dependency closure) and pushed to a loopback registry.

Images (repositories suite/NAME:latest; sizes as built on a Debian 12 cpp
machine, unpacked / gzip):
  busybox-echo  the static busybox, one layer (~2 MiB / 1 MiB); `echo hello`
  debian-shell  a Debian base (base-files, bash, dash, coreutils and what
                they need), one layer (51 MiB / 20 MiB, 1.4k entries);
                `bash -c 'echo ready'`
  python        the base and python3.11 (minimal + its standard library) on
                top (84 MiB / 32 MiB, 2 layers); prints a line
  web-httpd     busybox and a www/ layer (2 MiB / 1 MiB); busybox httpd
                answers HTTP on 127.0.0.1:18080 (the host's network namespace)
  toolchain     the base, then gcc/g++ 12, make, cmake and gdb, then clang 14
                and LLVM 14's development files on top (1.1 GiB / 338 MiB, 3
                layers, 14k entries); compiles and runs a C program
The unpack benchmarks' corpus (bench/unpack_compare.py --image suite:NAME),
four layers each, at the two shapes of the performance goals:
  corpus-small  the base, python3.11, perl with its modules, git (194 MiB /
                73 MiB, 6.3k entries)
  corpus-large  the base, python3.11 and perl, gcc/g++ 12 with cmake, gdb and
                Boost's headers, then clang 14 and LLVM 14's development files
                (1269 MiB / 367 MiB, 33.5k entries)
The layers are built once and cached (`--cache`), keyed by the packages and
their versions: gzip of the toolchain in Python takes about a minute.

    tools/testbed registry start --mode plain --dir /tmp/suite-registry
    bench/suite/build.py --registry-dir /tmp/suite-registry
    export GANTRY_SUITE_REGISTRY=127.0.0.1:PORT       # as build.py prints it
    build/gantry bench --plain-http -f bench/suite/suite.txt --warm --compare ctr,podman
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import host_image  # noqa: E402
from gantry_testbed import images, layers, registry, trees  # noqa: E402
from gantry_testbed.push import RegistryClient  # noqa: E402
from gantry_testbed.tarwriter import Entry  # noqa: E402

BASE_PACKAGES = ["base-files", "bash", "dash", "coreutils", "libc6"]
PYTHON_PACKAGES = ["python3-minimal", "python3.11-minimal", "libpython3.11-stdlib"]
GCC_PACKAGES = ["gcc", "g++", "cpp", "binutils", "libc6-dev", "libstdc++-12-dev", "make", "cmake", "gdb"]
CLANG_PACKAGES = ["clang", "lld-14", "llvm-14-dev"]
PERL_PACKAGES = ["perl", "perl-modules-5.36", "libperl5.36"]
HTTPD_PORT = 18080

ETC_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
}


@lru_cache(maxsize=None)
def _query(package: str, field: str) -> str:
    result = subprocess.run(["dpkg-query", "-W", "-f", "${" + field + "}", package], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else ""


def _installed(package: str) -> bool:
    return _query(package, "Status") == "install ok installed"


def closure(packages: list[str]) -> list[str]:
    """The packages and, recursively, what they depend on (the first
    installed alternative of each dependency), sorted."""
    seen: set[str] = set()
    todo = list(packages)
    while todo:
        package = todo.pop()
        if package in seen:
            continue
        if not _installed(package):
            raise SystemExit(f"build.py: {package} is not installed (apt-get install {package})")
        seen.add(package)
        for dependency in re.split(r",\s*", _query(package, "Depends") + "," + _query(package, "Pre-Depends")):
            alternatives = [re.sub(r"\s*\(.*?\)|:\w+", "", a).strip() for a in dependency.split("|")]
            chosen = next((a for a in alternatives if a and _installed(a)), None)
            if chosen:
                todo.append(chosen)
    return sorted(seen)


def package_layer(name: str, packages: list[str], compression: str, cache: Path,
                  extra: list[Entry] = ()) -> layers.Layer:
    """The installed files of `packages` (and `extra`), cached by the
    packages' names and versions and the paths the layer holds."""
    files = [line for p in packages for line in subprocess.run(["dpkg", "-L", p], capture_output=True, text=True,
                                                               check=True).stdout.splitlines()]
    # One entry per path (a layer with two is refused by podman): `extra`'s
    # over the packages' (the host's /bin -> usr/bin is listed by some).
    entries = {e.path.rstrip("/"): e for e in [*host_image.file_entries(files), *extra]}
    key = ["suite", name, [(p, _query(p, "Version")) for p in packages], sorted(entries)]
    return host_image.cached_layer(key, [entries[p] for p in sorted(entries)], compression, cache)


def base_extras() -> list[Entry]:
    """Debian 12's merged /usr links, the account files gantry run reads, /tmp."""
    links = [Entry(name, kind="symlink", linkname=f"usr/{name}") for name in ("bin", "lib", "lib64", "sbin")]
    files = [Entry(path, data=text.encode(), mode=0o644) for path, text in ETC_FILES.items()]
    return links + files + [Entry("tmp/", kind="dir", mode=0o1777), Entry("root/", kind="dir", mode=0o700)]


def build(names: list[str], compression: str, cache: Path) -> dict[str, images.Image]:
    base_packages = closure(BASE_PACKAGES)
    base = lambda: package_layer("base", base_packages, compression, cache, base_extras())  # noqa: E731
    busybox = lambda: layers.build_layer(trees.busybox_entries(), compression)  # noqa: E731
    above = lambda packages, below: [p for p in closure(packages) if p not in below]  # noqa: E731
    config = images.ImageConfig(cmd=("sh",))
    made: dict[str, images.Image] = {}
    for name in names:
        if name == "busybox-echo":
            made[name] = images.build_image([busybox()], config=config)
        elif name == "debian-shell":
            made[name] = images.build_image([base()], config=images.ImageConfig(cmd=("bash",)))
        elif name == "python":
            made[name] = images.build_image(
                [base(), package_layer("python", above(PYTHON_PACKAGES, base_packages), compression, cache)],
                config=images.ImageConfig(cmd=("python3",)))
        elif name == "web-httpd":
            www = images.files_layer({"www/index.html": "<h1>hello from gantry's bench suite</h1>\n"}, compression)
            made[name] = images.build_image([busybox(), www], config=config)
        elif name == "toolchain":
            gcc = above(GCC_PACKAGES, base_packages)
            clang = above(CLANG_PACKAGES, base_packages + gcc)
            made[name] = images.build_image(
                [base(), package_layer("gcc", gcc, compression, cache), package_layer("clang", clang, compression, cache)],
                config=config)
        elif name in CORPUS:
            below = list(base_packages)
            stack = [base()]
            for layer_name, packages in CORPUS[name]:
                mine = above(packages, below)
                stack.append(package_layer(layer_name, mine, compression, cache))
                below += mine
            made[name] = images.build_image(stack, config=config)
    return made


SUITE = ["busybox-echo", "debian-shell", "python", "web-httpd", "toolchain"]
# The layers above the base of each corpus image (not in the suite file:
# they are unpacked, not run).
CORPUS = {
    "corpus-small": [("python", PYTHON_PACKAGES), ("perl", PERL_PACKAGES), ("git", ["git"])],
    "corpus-large": [("runtimes", PYTHON_PACKAGES + PERL_PACKAGES),
                     ("gcc-boost", GCC_PACKAGES + ["libboost1.81-dev"]), ("clang", CLANG_PACKAGES)],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--registry-dir", help="a registry started by `tools/testbed registry start --dir DIR`")
    where.add_argument("--registry", help="HOST:PORT of a plain-HTTP registry on loopback")
    parser.add_argument("--only", help="a comma-separated subset of " + ",".join([*SUITE, *CORPUS]))
    parser.add_argument("--cache", default="/var/tmp/gantry-bench-suite")
    parser.add_argument("--compression", choices=["gzip", "zstd"], default="gzip")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else SUITE
    unknown = [n for n in names if n not in SUITE and n not in CORPUS]
    if unknown:
        parser.error(f"unknown image {unknown[0]} (the suite has {', '.join([*SUITE, *CORPUS])})")
    if args.registry_dir:
        info = registry.running(args.registry_dir)
        if info is None:
            parser.error(f"no registry runs in {args.registry_dir}")
        host, client = info.host, info.client
    else:
        host = args.registry
        address = host.rsplit(":", 1)[0].strip("[]")
        if address != "localhost" and not ipaddress.ip_address(address).is_loopback:
            parser.error(f"{host} is not a loopback address: the suite is pushed to this machine only")
        client = RegistryClient(f"http://{host}")
    for name, image in build(names, args.compression, Path(args.cache)).items():
        client.push_image(f"suite/{name}", image, tag="latest")
        print(f"pushed {host}/suite/{name}:latest  {len(image.layers)} layer(s), "
              f"{sum(layer.blob.size for layer in image.layers) / 2**20:.1f} MiB {args.compression}")
    print(f"export GANTRY_SUITE_REGISTRY={host}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
