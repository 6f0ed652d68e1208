"""The command line's contract (DESIGN.md, "The command line"): help for every
command that exists, and every error as exactly one `gantry: error: ...` line on
stderr with a non-zero exit status."""

from __future__ import annotations

import re
import subprocess

import pytest

# The image commands take the common options; the store's own (rmi) only --store.
# In the order `gantry --help` lists them (DESIGN.md's).
COMMANDS = ["pull", "unpack", "bundle", "run", "prewarm", "bench", "inspect", "images", "rmi", "gc", "df", "export",
            "import"]
# Those that only touch the store: no registry options.
STORE_COMMANDS = ["images", "rmi", "gc", "df", "import"]
IMAGE_COMMANDS = [c for c in COMMANDS if c not in STORE_COMMANDS]


def gantry(gantry_bin, *args, **kwargs):
    return subprocess.run([str(gantry_bin), *args], capture_output=True, text=True, timeout=60, **kwargs)


def assert_one_error_line(result, fragment):
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gantry: error: "), lines[0]
    assert fragment in lines[0]


def test_main_help_lists_every_command(gantry_bin):
    result = gantry(gantry_bin, "--help")
    assert result.returncode == 0
    listed = re.findall(r"^  (\w+)\s+\S", result.stdout, re.M)
    assert listed == COMMANDS


def test_no_arguments_shows_help_and_fails(gantry_bin):
    result = gantry(gantry_bin)
    assert result.returncode != 0
    assert "Usage: gantry COMMAND" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_describes_usage_and_options(gantry_bin, command):
    common = ("--store DIR", "--platform", "--plain-http", "--ca-file", "--auth-file", "--mirror",
              "--jobs N", "--stall-timeout SECONDS", "--json", "--quiet")
    for spelling in ("--help", "-h"):
        result = gantry(gantry_bin, command, spelling)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"Usage: gantry {command} ")
        for option in common if command in IMAGE_COMMANDS else ("--store DIR",):
            assert option in result.stdout, option
        if command in STORE_COMMANDS:
            assert "--plain-http" not in result.stdout
    assert gantry(gantry_bin, "help", command).stdout == gantry(gantry_bin, command, "--help").stdout


def test_version(gantry_bin):
    result = gantry(gantry_bin, "--version")
    assert result.returncode == 0
    assert re.fullmatch(r"gantry \d+\.\d+\.\d+\n", result.stdout)


def test_unknown_command(gantry_bin):
    assert_one_error_line(gantry(gantry_bin, "frobnicate"), 'unknown command "frobnicate"')


def test_unknown_option(gantry_bin):
    assert_one_error_line(gantry(gantry_bin, "pull", "--frob", "x"), "unknown option --frob")


def test_missing_reference(gantry_bin):
    assert_one_error_line(gantry(gantry_bin, "pull"), "missing image reference")


@pytest.mark.parametrize("ref,why", [
    ("Busybox", "lowercase"),
    ("busybox:" + "t" * 129, "128"),
    ("busybox@sha256:abc", "digest"),
])
def test_bad_reference(gantry_bin, scratch, ref, why):
    assert_one_error_line(gantry(gantry_bin, "pull", "--store", str(scratch / "store"), ref), why)


@pytest.mark.parametrize("args,fragment", [
    (["--jobs", "0"], "--jobs"),
    (["--jobs", "many"], "--jobs"),
    (["--stall-timeout", "0"], "--stall-timeout"),
    (["--stall-timeout", "1s"], "--stall-timeout"),
    (["--platform", "linux"], "linux"),
    (["--ca-file", "/nonexistent/ca.pem"], "--ca-file"),
])
def test_bad_option_values(gantry_bin, scratch, args, fragment):
    result = gantry(gantry_bin, "pull", "--store", str(scratch / "store"), *args, "127.0.0.1:1/x:y")
    assert_one_error_line(result, fragment)


@pytest.mark.parametrize("args,fragment", [
    (["pull", "--max-layer-size", "1M", "127.0.0.1:1/x:y"], "--unpack"),
    (["pull", "--unpack", "--max-layer-size", "lots", "127.0.0.1:1/x:y"], "max-layer-size"),
    (["bundle", "127.0.0.1:1/x:y"], "expected REF DIR"),
    (["bundle", "--net", "bridge", "127.0.0.1:1/x:y", "dir"], "--net"),
    (["bundle", "--hostname", "h" * 65, "127.0.0.1:1/x:y", "dir"], "--hostname"),
    (["run"], "expected [OPTIONS] IMAGE [COMMAND] [ARG...]"),
    (["run", "--pull", "sometimes", "127.0.0.1:1/x:y"], "--pull"),
    (["run", "--rm", "--keep", "127.0.0.1:1/x:y"], "--rm and --keep"),
    (["run", "-d", "127.0.0.1:1/x:y"], "unknown option -d"),
    (["run", "--privileged", "127.0.0.1:1/x:y"], "unknown option --privileged"),
    (["run", "-itd", "127.0.0.1:1/x:y"], "unknown option -d"),
])
def test_bad_arguments_of_commands(gantry_bin, scratch, args, fragment):
    command, *rest = args
    result = gantry(gantry_bin, command, "--store", str(scratch / "store"), *rest)
    assert_one_error_line(result, fragment)
    assert not (scratch / "dir").exists() and not (scratch / "store").exists()
    # docker's status for its own failures, apart from any container's
    assert result.returncode == (125 if command in ("run", "bundle") else 1)


def test_run_and_bundle_fail_with_125_when_the_pull_fails(gantry_bin, scratch):
    for command in (["run", "127.0.0.1:1/x:y", "true"], ["bundle", "127.0.0.1:1/x:y", str(scratch / "dir")]):
        result = gantry(gantry_bin, command[0], "--quiet", "--plain-http", "--store", str(scratch / "store"),
                        *command[1:])
        assert_one_error_line(result, "127.0.0.1:1")
        assert result.returncode == 125


def test_unreachable_registry_is_one_network_error(gantry_bin, scratch):
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    args = ["pull", "--plain-http", "--store", str(scratch / "store"), "127.0.0.1:1/x:y"]
    assert_one_error_line(gantry(gantry_bin, "pull", "--quiet", *args[1:]), "127.0.0.1:1")
    # Without --quiet the retries are logged first; the error is still one line, the last.
    result = gantry(gantry_bin, *args)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert any(line.startswith("retry ") for line in lines[:-1])
    assert lines[-1].startswith("gantry: error: ") and "127.0.0.1:1" in lines[-1]
    assert sum(line.startswith("gantry: error: ") for line in lines) == 1
