"""Running the `gantry` binary under test and reading what it says: the exit
status, stdout, `--json` events and the one-line error on stderr.

Each Gantry runs with a HOME of its own and without the REGISTRY_AUTH_FILE /
DOCKER_CONFIG of the caller, so no credentials leak in from the machine;
tests pass the ones they mean through `env`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 120.0
AUTH_VARIABLES = ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")


@dataclass(frozen=True)
class Run:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list[dict]:
        """The --json events; every stdout line must be a JSON object with "event"."""
        return parse_events(self.stdout)

    def of(self, event: str) -> list[dict]:
        return [e for e in self.events if e["event"] == event]

    def describe(self) -> str:
        return (f"$ {' '.join(self.argv)}\nexit {self.returncode}\n"
                f"--- stdout\n{self.stdout[-4000:]}--- stderr\n{self.stderr[-4000:]}")


def parse_events(stdout: str) -> list[dict]:
    events = []
    for line in stdout.splitlines():
        event = json.loads(line)
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            raise ValueError(f"not an event: {line!r}")
        events.append(event)
    return events


class Gantry:
    """`gantry` with a given store and environment."""

    def __init__(self, binary: Path, store: Path, home: Path,
                 env: dict[str, str] | None = None) -> None:
        self.binary = Path(binary)
        self.store = Path(store)
        home.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if k not in AUTH_VARIABLES}
        self.env.update({"HOME": str(home), "XDG_DATA_HOME": str(home / "data")})
        self.env.update(env or {})

    def argv(self, command: str, *args: str) -> list[str]:
        return [str(self.binary), command, "--store", str(self.store), *args]

    def run(self, command: str, *args: str, env: dict[str, str] | None = None,
            timeout: float = TIMEOUT) -> Run:
        argv = self.argv(command, *args)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                env={**self.env, **(env or {})}, stdin=subprocess.DEVNULL)
        return Run(argv, result.returncode, result.stdout, result.stderr)

    def ok(self, command: str, *args: str, env: dict[str, str] | None = None) -> Run:
        """Runs and requires exit status 0."""
        run = self.run(command, *args, env=env)
        if run.returncode != 0:
            raise AssertionError(f"gantry failed:\n{run.describe()}")
        return run

    def fails(self, command: str, *args: str, env: dict[str, str] | None = None) -> str:
        """Runs with --quiet, requires a non-zero exit and exactly one line on
        stderr, `gantry: error: ...`; returns that line."""
        run = self.run(command, "--quiet", *args, env=env)
        lines = run.stderr.splitlines()
        if run.returncode == 0 or len(lines) != 1 or not lines[0].startswith("gantry: error: "):
            raise AssertionError(f"expected one error line and a non-zero exit:\n{run.describe()}")
        return lines[0]

    def spawn(self, command: str, *args: str) -> subprocess.Popen:
        """Started in the background, stdout a pipe of text lines (for --json)."""
        return subprocess.Popen(self.argv(command, *args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                env=self.env)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL and reap: no handler, no cleanup, as a node losing power."""
    process.send_signal(signal.SIGKILL)
    process.communicate()
