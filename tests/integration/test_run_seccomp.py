"""seccomp: `gantry run` confines the container's process with Docker's
default profile (built into gantry) unless `--security-opt
seccomp=unconfined`, or with a Docker-format profile given as
`--security-opt seccomp=FILE`; `gantry bundle` writes the same filter into
config.json's linux.seccomp, so that runc confines it as well. Each test runs
real programs of the test bed's images (static busybox, Debian's keyctl and
python3 with their libraries) and checks what the kernel let them do."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest

from gantry_testbed import images, trees
from gantry_testbed.layers import build_layer
from gantry_testbed.tarwriter import Entry
from test_bundle import runc_run
from test_run import dynamic_entries, run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="gantry run needs root")

PYTHON = "/usr/bin/python3.11"
UNCONFINED = ("--security-opt", "seccomp=unconfined")


def python_entries() -> list[Entry]:
    """Debian's python3 with the least of its library it starts with (-S -I):
    the encodings it needs and os.py, by which it finds its prefix."""
    lib = Path("/usr/lib/python3.11")
    files = [lib / "os.py"] + [lib / "encodings" / f"{m}.py" for m in ("__init__", "aliases", "utf_8")]
    return (dynamic_entries(PYTHON)
            + [Entry("usr/lib/python3.11", "dir"), Entry("usr/lib/python3.11/encodings", "dir"),
               Entry("usr/lib/python3.11/lib-dynload", "dir")]
            + [Entry(str(f).lstrip("/"), data=f.read_bytes()) for f in files])


@pytest.fixture(scope="module")
def image_ref(registry_plain):
    """busybox, with keyctl and python3 (dynamically linked) in layers above it."""
    layers = [build_layer(trees.busybox_entries()), build_layer(dynamic_entries("/usr/bin/keyctl")),
              build_layer(python_entries())]
    image = images.build_image(layers, config=images.ImageConfig(cmd=("sh",), env=(images.DEFAULT_PATH,)))
    repo = f"it/seccomp-{secrets.token_hex(4)}"
    registry_plain.client.push_image(repo, image, tag="v1")
    return registry_plain.ref(repo, "v1")


def seccomp_status(stdout: str) -> dict[str, str]:
    return dict(line.split(":\t") for line in stdout.splitlines() if line.startswith("Seccomp"))


@pytest.mark.parametrize("user", ["0", "65534"])
def test_the_process_runs_under_one_filter(gantry, image_ref, user):
    result = run(gantry, image_ref, "cat", "/proc/self/status", options=("-u", user))
    assert result.returncode == 0, result.stderr
    assert seccomp_status(result.stdout) == {"Seccomp": "2", "Seccomp_filters": "1"}


def test_unconfined_has_no_filter(gantry, image_ref):
    result = run(gantry, image_ref, "cat", "/proc/self/status", options=UNCONFINED)
    assert result.returncode == 0, result.stderr
    assert seccomp_status(result.stdout) == {"Seccomp": "0", "Seccomp_filters": "0"}


def test_no_new_user_namespace_and_its_capabilities(gantry, image_ref):
    """The escape the filter closes: unconfined, the container's root gets
    every capability in a nested user namespace."""
    confined = run(gantry, image_ref, "busybox", "unshare", "-U", "-r", "true")
    assert confined.returncode != 0
    assert "Operation not permitted" in confined.stderr

    unconfined = run(gantry, image_ref, "busybox", "unshare", "-U", "-r", "grep", "CapEff", "/proc/self/status",
                     options=UNCONFINED)
    assert (unconfined.returncode, unconfined.stdout) == (0, "CapEff:\t000001ffffffffff\n"), unconfined.stderr


def test_no_kernel_keyrings(gantry, image_ref):
    confined = run(gantry, image_ref, "keyctl", "describe", "@s")
    assert confined.returncode != 0
    assert "Operation not permitted" in confined.stderr

    unconfined = run(gantry, image_ref, "keyctl", "describe", "@s", options=UNCONFINED)
    assert unconfined.returncode == 0, unconfined.stderr


def test_ordinary_programs_work(gantry, image_ref):
    script = ("echo hi > /tmp/f && cat /tmp/f && mkdir /tmp/d && ls /tmp && sleep 0.01 && "
              "(true &) && wait && echo $(id -u) && keyctl --version | head -c 6 && echo")
    shell = run(gantry, image_ref, "sh", "-c", script)
    assert (shell.returncode, shell.stdout) == (0, "hi\nd\nf\n0\nkeyctl\n"), shell.stderr

    code = ("import os, time; r, w = os.pipe(); pid = os.fork()\n"
            "if pid == 0: os.write(w, os.urandom(4).hex().encode()); os._exit(0)\n"
            "os.waitpid(pid, 0); print(len(os.read(r, 8)), os.uname().sysname, time.time() > 0)")
    python = run(gantry, image_ref, PYTHON, "-S", "-I", "-c", code)
    assert (python.returncode, python.stdout, python.stderr) == (0, "8 Linux True\n", "")


def test_init_and_command_are_both_confined(gantry, image_ref):
    result = run(gantry, image_ref, "sh", "-c", "grep -h ^Seccomp: /proc/1/status /proc/self/status; echo pid=$$",
                 options=("--init",))
    assert (result.returncode, result.stdout) == (0, "Seccomp:\t2\nSeccomp:\t2\npid=2\n"), result.stderr


def test_a_profile_file_denies_with_its_errno(gantry, image_ref, scratch):
    profile = scratch / "no-mkdir.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            # Unknown to libseccomp: skipped, as runc does.
            {"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"},
        ]}))
    result = run(gantry, image_ref, "sh", "-c", "mkdir /tmp/d; echo made > /tmp/f && cat /tmp/f",
                 options=("--security-opt", f"seccomp={profile}"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "made\n"
    assert "Permission denied" in result.stderr  # EACCES, the profile's errnoRet


def test_the_compiled_filter_is_kept_and_a_damaged_copy_replaced(gantry, image_ref):
    assert run(gantry, image_ref, "true").returncode == 0
    [cached] = (gantry.store / "cache" / "seccomp").iterdir()
    good = cached.read_bytes()
    cached.write_bytes(good[:-100])

    result = run(gantry, image_ref, "cat", "/proc/self/status")

    assert seccomp_status(result.stdout)["Seccomp"] == "2", result.stderr
    assert cached.read_bytes() == good


@pytest.mark.parametrize("content,message", [
    ("{\"defaultAction\": ", "invalid JSON at byte 19 (unexpected end of input)"),
    ('{"defaultAction": "SCMP_ACT_DENY"}', 'defaultAction: unknown action "SCMP_ACT_DENY"'),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", '
     '"args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}',
     "syscalls[0].args[0].index: expected an integer from 0 to 5, got 9"),
])
@pytest.mark.parametrize("command", ["run", "bundle"])
def test_a_malformed_profile_is_one_line_before_any_work(gantry, scratch, content, message, command):
    """The reference names a registry nobody listens on: the error comes first."""
    profile = scratch / "bad.json"
    profile.write_text(content)
    target = (str(scratch / "bundle"),) if command == "bundle" else ()
    line = gantry.fails(command, "--security-opt", f"seccomp={profile}", "127.0.0.1:9/none:v1", *target)
    assert line == f"gantry: error: seccomp profile {profile}: {message}"
    assert not gantry.store.exists()
    assert not (scratch / "bundle").exists()


@pytest.mark.parametrize("option,message", [
    ("apparmor=unconfined", '--security-opt: want seccomp=unconfined or seccomp=FILE, not "apparmor=unconfined"'),
    ("seccomp=/nonexistent/profile.json", "seccomp profile /nonexistent/profile.json: no such file"),
])
def test_other_security_options_are_one_line(gantry, option, message):
    assert gantry.fails("run", "--security-opt", option, "127.0.0.1:9/none:v1") == f"gantry: error: {message}"


def test_the_bundle_is_confined_under_runc(gantry, image_ref, scratch):
    script = "grep ^Seccomp: /proc/self/status; busybox unshare -U -r true || echo unshare denied"
    gantry.ok("bundle", "--plain-http", "--quiet", image_ref, str(scratch / "bundle"), "--", "sh", "-c", script)
    config = json.loads((scratch / "bundle" / "config.json").read_text())
    assert config["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"

    result = runc_run(scratch / "bundle")

    assert (result.returncode, result.stdout) == (0, "Seccomp:\t2\nunshare denied\n"), result.stderr

    gantry.ok("bundle", "--plain-http", "--quiet", *UNCONFINED, image_ref, str(scratch / "open"), "--",
              "grep", "^Seccomp:", "/proc/self/status")
    assert "seccomp" not in json.loads((scratch / "open" / "config.json").read_text())["linux"]
    assert runc_run(scratch / "open").stdout == "Seccomp:\t0\n"
