"""tools/testbed as the demo and ctest call it: start refuses a directory
whose registry is alive, stop is idempotent, a taken port is retried, and
push prints a reference that resolves."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from gantry_testbed import images, registry as testbed
from gantry_testbed.processes import running
from gantry_testbed.push import RegistryClient
from readback import assert_image_served

TESTBED = Path(__file__).resolve().parents[2] / "tools" / "testbed"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(TESTBED), *args], capture_output=True, text=True, timeout=60)


def _start(directory: Path):
    started = run("registry", "start", "--mode", "plain", "--dir", str(directory))
    assert started.returncode == 0, started.stderr
    return directory, json.loads(started.stdout)


@pytest.fixture(scope="module")
def cli_registry(module_scratch):
    """A plain registry started and stopped through the CLI, shared by the
    tests that leave it running."""
    directory, printed = _start(module_scratch / "registry")
    yield directory, printed
    run("registry", "stop", "--dir", str(directory))


@pytest.fixture
def own_registry(scratch):
    """A registry for one test that stops or replaces it."""
    directory, printed = _start(scratch / "registry")
    yield directory, printed
    run("registry", "stop", "--dir", str(directory))


def test_start_writes_the_state_and_refuses_a_live_registry(cli_registry):
    directory, printed = cli_registry
    assert json.loads((directory / "registry.json").read_text()) == printed
    assert RegistryClient(printed["url"]).ping() == 200
    again = run("registry", "start", "--mode", "plain", "--dir", str(directory))
    assert again.returncode == 1
    assert "already running" in again.stderr
    assert RegistryClient(printed["url"]).ping() == 200


@pytest.mark.parametrize("fmt,compression", [("oci", "zstd"), ("docker", "gzip")])
def test_push_prints_a_resolvable_ref(cli_registry, repo, fmt, compression):
    directory, printed = cli_registry
    pushed = run("push", "--registry-dir", str(directory), "--repo", repo, "--tag", "demo",
                 "--format", fmt, "--compression", compression)
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout == f"{printed['host']}/{repo}:demo\n"
    assert_image_served(RegistryClient(printed["url"]), repo, "demo",
                        images.busybox_image(fmt, compression))


def test_start_replace_restarts(own_registry):
    directory, printed = own_registry
    again = run("registry", "start", "--mode", "tls", "--dir", str(directory), "--replace")
    assert again.returncode == 0, again.stderr
    info = json.loads(again.stdout)
    assert not running(printed["pid"])
    assert RegistryClient(info["url"], info["ca_file"]).ping() == 200


def test_stop_kills_and_is_idempotent(own_registry):
    directory, printed = own_registry
    assert run("registry", "stop", "--dir", str(directory)).returncode == 0
    assert not running(printed["pid"])
    assert not (directory / "registry.json").exists()
    assert run("registry", "stop", "--dir", str(directory)).returncode == 0
    never = run("registry", "stop", "--dir", str(directory / "never-started"))
    assert never.returncode == 0, never.stderr


def test_push_without_a_registry_is_an_error(scratch):
    pushed = run("push", "--registry-dir", str(scratch), "--repo", "x", "--tag", "t")
    assert pushed.returncode == 1
    assert "no registry is running" in pushed.stderr


def test_start_retries_when_the_port_is_taken(scratch, monkeypatch):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken, testbed._free_port()])
        monkeypatch.setattr(testbed, "_free_port", lambda: next(ports))
        info = testbed.start(scratch, "plain")
        try:
            assert info.host != f"127.0.0.1:{taken}"
            assert info.client.ping() == 200
            assert "address already in use" in (scratch / "registry.log").read_text()
        finally:
            testbed.stop(scratch)
