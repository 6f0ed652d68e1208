"""Fixtures for integration tests.

Under ctest the registries are started by the fixtures `registry_MODE`
(CMakeLists.txt here) and described in $GANTRY_TESTBED_DIR/MODE/registry.json.
Run by hand (`/usr/bin/python3 -m pytest tests/integration`), each test session
starts and stops its own registries instead.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

# ctest sets PYTHONPATH; this lets a bare `pytest tests/integration` work too.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from gantry_testbed import images  # noqa: E402
from gantry_testbed import registry as testbed  # noqa: E402
from gantry_testbed.containerd import private_containerd  # noqa: E402
from gantry_testbed.faultproxy import FaultProxy  # noqa: E402
from gantry_testbed.gantry_cli import Gantry  # noqa: E402
from gantry_testbed.tokenserver import TokenServer  # noqa: E402

MODES = testbed.MODES

# What ctest reads as "Skipped" (SKIP_RETURN_CODE in CMakeLists.txt here):
# pytest itself exits 0 when tests were skipped, which ctest counts as Passed.
SKIPPED_EXIT = 77


def pytest_configure(config):
    config.addinivalue_line("markers", "root(reason): the test needs root; skipped otherwise, "
                                       "failed under CI=true")
    config.pluginmanager.register(_SkipsShowInCtest(), "gantry_skips_show_in_ctest")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """`@pytest.mark.root(REASON)` (or `pytestmark = ...` for a whole file):
    as another user the test is skipped, except under CI (CI=true, set by CI
    services), which runs the suite as root: a root-only test that does not
    run there is a broken CI machine, not a pass."""
    marker = item.get_closest_marker("root")
    if marker is None or os.geteuid() == 0:
        return
    reason = marker.args[0] if marker.args else "needs root"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI=true, and CI runs the suite as root", pytrace=False)
    pytest.skip(reason)


class _SkipsShowInCtest:
    """A session that passed but skipped something exits SKIPPED_EXIT."""

    def __init__(self):
        self.skipped = 0

    def pytest_runtest_logreport(self, report):
        self.skipped += report.skipped

    def pytest_sessionfinish(self, session, exitstatus):
        if exitstatus == pytest.ExitCode.OK and self.skipped:
            session.exitstatus = SKIPPED_EXIT


def _registry(mode: str, tmp_path_factory: pytest.TempPathFactory):
    base = os.environ.get("GANTRY_TESTBED_DIR")
    if base:
        info = testbed.running(Path(base) / mode)
        if info is None:
            pytest.fail(f"no {mode} registry runs from {base}/{mode}; "
                        f"ctest starts it with the fixture registry_{mode}")
        yield info
        return
    directory = tmp_path_factory.mktemp(f"registry-{mode}")
    info = testbed.start(directory, mode)
    try:
        yield info
    finally:
        testbed.stop(directory)


@pytest.fixture(scope="session")
def registry_plain(tmp_path_factory):
    yield from _registry("plain", tmp_path_factory)


@pytest.fixture(scope="session")
def registry_tls(tmp_path_factory):
    yield from _registry("tls", tmp_path_factory)


@pytest.fixture(scope="session")
def registry_auth(tmp_path_factory):
    yield from _registry("auth", tmp_path_factory)


@pytest.fixture(params=MODES)
def registry(request) -> testbed.RegistryInfo:
    """The test once per registry mode."""
    return request.getfixturevalue(f"registry_{request.param}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


@pytest.fixture
def repo(request) -> str:
    """A repository name no other test uses (ctest -j runs files in parallel
    against the same registries)."""
    return f"it/{_slug(request.node.name)}-{secrets.token_hex(4)}"


@pytest.fixture
def family(registry_plain, repo) -> dict:
    """Two runnable images pushed to `repo` on one busybox base layer, each
    with a file of its own (/etc/which: "one", "two"), by reference."""
    one = images.busybox_image(files={"etc/which": "one\n"})
    two = images.busybox_image(files={"etc/which": "two\n"})
    registry_plain.client.push_image(repo, one, tag="one")
    registry_plain.client.push_image(repo, two, tag="two")
    return {registry_plain.ref(repo, "one"): one, registry_plain.ref(repo, "two"): two}


def _scratch_dir(name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty directory under ctest's per-test scratch dir, else pytest's tmp."""
    base = os.environ.get("GANTRY_TEST_SCRATCH")
    if not base:
        return tmp_path_factory.mktemp(name)
    directory = Path(base) / name
    # GNU rm, not shutil.rmtree: what a test left may be thousands of
    # directories deep (the deep-tree tests' snapshots), past Python's
    # recursion limit; --one-file-system leaves a stale mount's content alone.
    subprocess.run(["rm", "-rf", "--one-file-system", str(directory)], check=False)
    directory.mkdir(parents=True)
    return directory


@pytest.fixture
def scratch(request, tmp_path_factory) -> Path:
    """An empty directory for this test."""
    return _scratch_dir(_slug(request.node.name), tmp_path_factory)


@pytest.fixture(scope="module")
def module_scratch(request, tmp_path_factory) -> Path:
    """An empty directory shared by the tests of one file."""
    return _scratch_dir(_slug(request.module.__name__), tmp_path_factory)


@pytest.fixture(scope="session")
def gantry_bin() -> Path:
    """The gantry binary under test ($GANTRY_BIN, set by ctest)."""
    path = os.environ.get("GANTRY_BIN")
    if not path:
        pytest.fail("GANTRY_BIN is not set; run through ctest or export it")
    return Path(path)


@pytest.fixture
def gantry(gantry_bin, scratch) -> Gantry:
    """The gantry binary with a fresh store (scratch/store) and a HOME of its
    own (scratch/home), so no credentials of the machine are read."""
    return Gantry(gantry_bin, scratch / "store", scratch / "home")


@pytest.fixture
def containerd(scratch):
    """A real containerd private to the test (needs root); its socket."""
    with private_containerd(scratch) as socket:
        yield socket


@pytest.fixture
def fault_proxy():
    """A factory: fault_proxy(REGISTRY) starts a FaultProxy in front of a
    RegistryInfo (or a URL, with ca_file=), stopped after the test. A failure
    inside a proxy fails the test."""
    started: list[FaultProxy] = []

    def start(upstream: testbed.RegistryInfo | str, ca_file: str | None = None) -> FaultProxy:
        if isinstance(upstream, testbed.RegistryInfo):
            upstream, ca_file = upstream.url, upstream.ca_file
        proxy = FaultProxy(upstream, ca_file=ca_file).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
    errors = [e for proxy in started for e in proxy.errors]
    assert not errors, "fault proxy failed:\n" + "\n".join(errors)


@pytest.fixture
def token_server():
    """A factory: token_server(**TokenServer fields) starts a token server,
    stopped after the test."""
    started: list[TokenServer] = []

    def start(**settings) -> TokenServer:
        server = TokenServer(**settings).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
