"""A real containerd of a test's own, for the tests where gantry hands
images to it (export, the Kubernetes DaemonSet): its socket, root and state
are private, so nothing of the machine's containerd is touched."""

from __future__ import annotations

import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

START_TIMEOUT = 20.0


@contextmanager
def private_containerd(scratch: Path) -> Iterator[Path]:
    """Runs containerd with its root under `scratch`; yields its socket (in a
    short /tmp directory, within sun_path's 108 bytes). Needs root."""
    short = Path(tempfile.mkdtemp(prefix="gx-", dir="/tmp"))
    socket = short / "containerd.sock"
    config = scratch / "containerd.toml"
    config.write_text("version = 2\n"
                      f'root = "{scratch}/containerd-root"\n'
                      f'state = "{short}/state"\n'
                      'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                      f'[grpc]\n  address = "{socket}"\n')
    log_path = scratch / "containerd.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["containerd", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while subprocess.run(["ctr", "-a", str(socket), "version"], capture_output=True).returncode != 0:
                assert proc.poll() is None, log_path.read_text()[-2000:]
                assert time.monotonic() < deadline, "containerd did not start"
                time.sleep(0.1)
            yield socket
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            subprocess.run(["rm", "-rf", str(short)], check=False)


def ctr(socket: Path, namespace: str, *args: str, input: bytes | None = None) -> str:
    """`ctr ARGS` against `socket` in `namespace`; its stdout, or AssertionError with its stderr."""
    result = subprocess.run(["ctr", "-a", str(socket), "-n", namespace, *args], capture_output=True,
                            input=input, timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode()


def ctr_run(socket: Path, namespace: str, ref: str, name: str, script: str) -> str:
    """What `sh -c SCRIPT` prints in a container of `ref` under `ctr run --rm`.
    The output goes through a file bind-mounted from the host, not ctr's own
    stdout: ctr can lose the tail of a short-lived task's output (its copy
    from the shim's FIFO races the task's exit), as seen under load here."""
    out = Path(tempfile.mkdtemp(prefix="gx-run-"))
    try:
        ctr(socket, namespace, "run", "--rm", "--mount", f"type=bind,src={out},dst=/gantry-out,options=rbind:rw",
            ref, name, "sh", "-c", f"({script}) > /gantry-out/stdout")
        return (out / "stdout").read_text()
    finally:
        subprocess.run(["rm", "-rf", str(out)], check=False)
