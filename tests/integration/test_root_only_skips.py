"""A root-only test run as another user shows as skipped in ctest, and fails
under CI=true (conftest.py: the `root` marker and SKIPPED_EXIT). The sample
(root_only_sample.py) runs through pytest as nobody, the way ctest runs
every integration test, and then through ctest itself with the skip code the
real integration tests are registered with."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SKIPPED_EXIT

pytestmark = pytest.mark.root("setpriv needs root")

SAMPLE = Path(__file__).with_name("root_only_sample.py")
AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
PYTEST = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(SAMPLE)]


def run_sample(*, as_nobody: bool, ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    argv = AS_NOBODY + PYTEST if as_nobody else PYTEST
    return subprocess.run(argv, env=env, cwd="/", capture_output=True, text=True, timeout=120)


def test_as_root_the_sample_runs():
    result = run_sample(as_nobody=False, ci="true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_as_nobody_the_sample_is_skipped_with_its_reason():
    result = run_sample(as_nobody=True, ci=None)
    assert result.returncode == SKIPPED_EXIT, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "the sample needs root" in result.stdout


@pytest.mark.parametrize("ci", ["", "false"])
def test_only_ci_true_counts_as_ci(ci):
    assert run_sample(as_nobody=True, ci=ci).returncode == SKIPPED_EXIT


def test_under_ci_the_skip_is_a_failure():
    result = run_sample(as_nobody=True, ci="true")
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert "the sample needs root: CI=true, and CI runs the suite as root" in result.stdout
    assert "1 error" in result.stdout


def registered_skip_code(test: str) -> int:
    """SKIP_RETURN_CODE of a test of this build, as ctest reads it."""
    shown = subprocess.run(["ctest", "--show-only=json-v1", "-R", f"^{test}$"], cwd=os.environ["GANTRY_BUILD_DIR"],
                           capture_output=True, text=True, check=True)
    # The listing includes the fixtures the test requires.
    [entry] = [t for t in json.loads(shown.stdout)["tests"] if t["name"] == test]
    [code] = [p["value"] for p in entry["properties"] if p["name"] == "SKIP_RETURN_CODE"]
    return int(code)


def test_ctest_shows_the_skip_as_skipped(scratch):
    """A hand-written CTestTestfile: the sample as nobody, with the skip code
    integration.run is registered with."""
    code = registered_skip_code("integration.run")
    assert code == SKIPPED_EXIT
    argv = " ".join(f'"{a}"' for a in AS_NOBODY + PYTEST)
    environment = ";".join(f"{k}={os.environ[k]}" for k in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE"))
    (scratch / "CTestTestfile.cmake").write_text(
        f"add_test(sample {argv})\n"
        f'set_tests_properties(sample PROPERTIES SKIP_RETURN_CODE {code} ENVIRONMENT "{environment}")\n')
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    result = subprocess.run(["ctest", "--output-on-failure"], cwd=scratch, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"sample \.+\*+Skipped", result.stdout), result.stdout
