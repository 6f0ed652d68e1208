"""`gantry bundle REF DIR`: an OCI runtime bundle that Debian's runc runs as
it is, with the image's process by Docker's rules (Entrypoint + Cmd, Env,
WorkingDir created if missing, User with supplementary groups from the
image's own /etc/passwd and /etc/group) and the overrides of the command
line. Each test runs the bundle with `runc run` and checks what the process
printed and its exit status."""

from __future__ import annotations

import json
import os
import secrets
import subprocess

import pytest

from gantry_testbed import images, trees
from gantry_testbed.layers import build_layer
from gantry_testbed.tarwriter import Entry

pytestmark = pytest.mark.root("runc, as root, runs the bundles")

PASSWD = trees.PASSWD + b"app:x:1000:1000:App:/home/app:/bin/sh\n"
GROUP = trees.GROUP + b"app:x:1000:\nextra:x:3000:app\n"
REPORT = ("echo $FOO from $(pwd) as $(id -u):$(id -g) groups $(id -G) "
          "on $(hostname) home=$HOME")


def busybox_layer():
    entries = [e for e in trees.busybox_entries() if e.path not in ("etc/passwd", "etc/group")]
    return build_layer(entries + [Entry("etc/passwd", data=PASSWD), Entry("etc/group", data=GROUP)])


@pytest.fixture(scope="module")
def image_ref(registry_plain):
    """A busybox image whose config sets every process field."""
    config = images.ImageConfig(cmd=("sh", "-c", REPORT), env=(images.DEFAULT_PATH, "FOO=bar"),
                                user="app", working_dir="/work/dir")
    image = images.build_image([busybox_layer()], config=config)
    repo = f"it/bundle-{secrets.token_hex(4)}"
    registry_plain.client.push_image(repo, image, tag="v1")
    return registry_plain.ref(repo, "v1")


def runc_run(bundle) -> subprocess.CompletedProcess:
    return subprocess.run(["runc", "run", "--bundle", str(bundle), f"gantry-test-{secrets.token_hex(6)}"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def bundle_and_run(gantry, ref, bundle, *args) -> subprocess.CompletedProcess:
    """`gantry bundle [OPTIONS] REF BUNDLE [-- CMD...]` with `args` = OPTIONS [-- CMD...], then runc."""
    split = args.index("--") if "--" in args else len(args)
    gantry.ok("bundle", "--plain-http", "--quiet", *args[:split], ref, str(bundle), *args[split:])
    return runc_run(bundle)


def test_runc_runs_the_images_process(gantry, image_ref, scratch):
    run = bundle_and_run(gantry, image_ref, scratch / "bundle")

    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout == "bar from /work/dir as 1000:1000 groups 1000 3000 on gantry home=/home/app\n"
    config = json.loads((scratch / "bundle" / "config.json").read_text())
    assert config["process"]["args"] == ["sh", "-c", REPORT]
    assert (scratch / "bundle" / "rootfs" / "work" / "dir").is_dir()


def test_command_line_overrides(gantry, image_ref, scratch):
    run = bundle_and_run(gantry, image_ref, scratch / "bundle",
                         "-e", "FOO=cli", "-u", "0:3000", "-w", "/tmp", "--hostname", "box",
                         "--", "sh", "-c", REPORT)

    assert run.stdout == "cli from /tmp as 0:3000 groups 3000 on box home=/root\n", run.stderr


def test_entrypoint_override_drops_the_images_cmd(gantry, image_ref, scratch):
    run = bundle_and_run(gantry, image_ref, scratch / "a", "--entrypoint", "/bin/echo", "--", "x", "y")
    assert run.stdout == "x y\n", run.stderr
    run = bundle_and_run(gantry, image_ref, scratch / "b", "--entrypoint", "/bin/pwd")
    assert run.stdout == "/work/dir\n", run.stderr


def test_exit_status_and_stderr_come_through(gantry, image_ref, scratch):
    run = bundle_and_run(gantry, image_ref, scratch / "bundle",
                         "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (run.returncode, run.stdout, run.stderr) == (7, "out\n", "err\n")


def test_isolated_network_has_only_loopback(gantry, image_ref, scratch):
    run = bundle_and_run(gantry, image_ref, scratch / "bundle", "--net", "none", "--", "ls", "/sys/class/net")
    assert run.stdout.split() == ["lo"], run.stderr


def test_rootless_bundle_maps_the_caller_to_root(gantry, image_ref, scratch):
    run = bundle_and_run(gantry, image_ref, scratch / "bundle", "--rootless", "-u", "0",
                         "--", "cat", "/proc/self/uid_map")
    assert run.stdout.split() == ["0", str(os.getuid()), "1"], run.stderr
    error = gantry.fails("bundle", "--plain-http", "--rootless", image_ref, str(scratch / "other"))
    assert "rootless" in error and "1000:1000" in error


@pytest.mark.parametrize("case", ["unknown user", "unknown group", "relative workdir", "no command",
                                  "not empty"])
def test_errors_leave_the_directory_as_found(gantry, image_ref, registry_plain, repo, scratch, case):
    bundle = scratch / "bundle"
    ref, args = image_ref, []
    if case == "unknown user":
        args = ["-u", "ghost"]
    elif case == "unknown group":
        args = ["-u", "app:ghosts"]
    elif case == "relative workdir":
        args = ["-w", "relative"]
    elif case == "no command":
        image = images.build_image([busybox_layer()])
        registry_plain.client.push_image(repo, image, tag="v1")
        ref = registry_plain.ref(repo, "v1")
    else:
        bundle.mkdir()
        (bundle / "keep").write_text("mine")

    error = gantry.fails("bundle", "--plain-http", *args, ref, str(bundle))

    expected = {"unknown user": "unable to find user ghost: no matching entries in passwd file",
                "unknown group": "unable to find group ghosts: no matching entries in group file",
                "relative workdir": "needs to be an absolute path", "no command": "no command",
                "not empty": "not empty"}[case]
    assert expected in error
    if case == "not empty":
        assert [p.name for p in bundle.iterdir()] == ["keep"]
    else:
        assert not bundle.exists()
