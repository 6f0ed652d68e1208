"""What a container of `gantry run` cannot reach: host devices (whether a
node comes from the image or is made inside), gantry's memory and
environment (credentials), and what a hostname can inject; and that it
still runs images of many layers on overlayfs."""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest

from gantry_testbed import images, trees
from gantry_testbed.layers import build_layer

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
