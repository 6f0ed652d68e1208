"""Real registries on loopback: Debian's `docker-registry` (distribution 2.8)
in three modes, each with throwaway storage in its own directory.

  plain  HTTP
  tls    HTTPS with a CA and server certificate made for this run
  auth   HTTPS + htpasswd Basic auth (distribution only allows Basic over TLS)
  mtls   HTTPS requiring a client certificate signed by a client CA of this
         run (not a shared ctest fixture: started by the tests that use it)

and, in front of a plain one, a pull-through cache (start_proxy: mode
"proxy", distribution's `proxy.remoteurl`), over HTTP as well.

DIR/registry.json describes a running registry; it exists only while one runs.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

from . import certs
from .push import RegistryClient

MODES = ("plain", "tls", "auth")  # the shared ctest fixtures, and the `registry` fixture's
ALL_MODES = (*MODES, "mtls")
PROXY = "proxy"  # not a mode of its own: it needs a registry to stand in front of
STATE_FILE = "registry.json"
USERNAME = "gantry"
PORT_ATTEMPTS = 5


class TestbedError(RuntimeError):
    pass


@dataclass
class RegistryInfo:
    """The contents of DIR/registry.json, plus a client for that registry."""

    mode: str
    host: str           # 127.0.0.1:PORT
    url: str            # http(s)://127.0.0.1:PORT
    ca_file: str | None
    username: str | None
    password: str | None
    pid: int
    storage: str        # the filesystem driver's rootdirectory
    upstream: str | None = None  # a proxy's remote URL (http://127.0.0.1:PORT)
    client_cert: str | None = None  # mtls: the client certificate and its key
    client_key: str | None = None

    @classmethod
    def load(cls, directory: str | Path) -> RegistryInfo:
        return cls(**json.loads((Path(directory) / STATE_FILE).read_text()))

    def to_json(self) -> dict:
        return asdict(self)

    @cached_property
    def client(self) -> RegistryClient:
        return RegistryClient(self.url, self.ca_file, self.username, self.password,
                              client_cert=self._client_pair)

    @property
    def _client_pair(self) -> tuple[str, str] | None:
        return (self.client_cert, self.client_key) if self.client_cert else None

    def ref(self, repo: str, tag: str | None = None, digest: str | None = None) -> str:
        """A docker reference to `repo` here: HOST/REPO[:TAG][@DIGEST]."""
        return f"{self.host}/{repo}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")

    def blob_data_path(self, digest: str) -> Path:
        """Where the filesystem driver keeps a blob's bytes (shared by all
        repositories): docker/registry/v2/blobs/<alg>/<2 hex>/<hex>/data."""
        algorithm, hexpart = digest.split(":", 1)
        return (Path(self.storage) / "docker/registry/v2/blobs" / algorithm
                / hexpart[:2] / hexpart / "data")


# --- processes --------------------------------------------------------------

def _config_path(directory: Path) -> Path:
    return directory / "config.yml"


def _alive(pid: int, directory: Path) -> bool:
    """True if `pid` is a running registry serving DIR's config (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\x00")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    if state == "Z":
        _reap(pid)
        return False
    return str(_config_path(directory)).encode() in cmdline


def _reap(pid: int) -> None:
    """Collect the exit status if we are the parent (start and stop in one
    process, as pytest does); a daemon started by the CLI belongs to init."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _owns_listener(pid: int, port: int) -> bool:
    """True if `pid` holds the socket listening on 127.0.0.1:PORT. A bare
    connect is not enough: another process may have taken the port between
    _free_port and our bind, and it would answer in our registry's place."""
    wanted = f"0100007F:{port:04X}"
    inodes = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[1] == wanted and fields[3] == "0A":  # 0A: TCP_LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return False
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd_dir / fd) in inodes for fd in os.listdir(fd_dir))
    except FileNotFoundError:
        return False


def _write_config(directory: Path, mode: str, port: int, storage: Path,
                  upstream: str | None) -> Path:
    quote = json.dumps  # a JSON string is a valid YAML double-quoted scalar
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {quote(str(storage))}",
        "  delete:",
        "    enabled: true",
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: {secrets.token_hex(16)}",
    ]
    if mode in ("tls", "auth", "mtls"):
        lines += ["  tls:",
                  f"    certificate: {quote(str(directory / 'server.pem'))}",
                  f"    key: {quote(str(directory / 'server.key'))}"]
    if mode == "mtls":
        lines += ["    clientcas:", f"      - {quote(str(directory / 'client-ca.pem'))}"]
    if mode == "auth":
        lines += ["auth:", "  htpasswd:", "    realm: gantry-testbed",
                  f"    path: {quote(str(directory / 'htpasswd'))}"]
    if upstream is not None:
        lines += ["proxy:", f"  remoteurl: {quote(upstream)}"]
    lines += ["health:", "  storagedriver:", "    enabled: false", ""]
    path = _config_path(directory)
    path.write_text("\n".join(lines))
    return path


def _log_path(directory: Path) -> Path:
    return directory / "registry.log"


def _spawn(directory: Path, config: Path) -> subprocess.Popen:
    """Daemonised: its own session, no inherited stdio (ctest waits for the
    pipes it hands a test to close), REGISTRY_* variables dropped because
    they override the config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    with open(_log_path(directory), "ab") as log:
        return subprocess.Popen(["docker-registry", "serve", str(config)], cwd=directory,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)


class _PortTaken(Exception):
    pass


def _wait_ready(proc: subprocess.Popen, info: RegistryInfo, port: int,
                log: Path, log_start: int, deadline: float) -> None:
    probe = RegistryClient(info.url, info.ca_file, timeout=2.0, client_cert=info._client_pair)
    expected = 401 if info.mode == "auth" else 200
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log, "rb") as f:
                f.seek(log_start)
                tail = f.read().decode(errors="replace")
            if "address already in use" in tail:
                raise _PortTaken()
            raise TestbedError(f"registry exited with status {proc.returncode}:\n{tail[-2000:]}")
        if _owns_listener(proc.pid, port):
            status = probe.ping()
            if status == expected:
                return
            raise TestbedError(f"GET {info.url}/v2/ answered {status}, expected {expected}")
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    raise TestbedError(f"registry did not answer on {info.host} in time; see {log}")


# --- public API -------------------------------------------------------------

def running(directory: str | Path) -> RegistryInfo | None:
    """The registry running from DIR, or None."""
    directory = Path(directory).resolve()
    try:
        info = RegistryInfo.load(directory)
    except FileNotFoundError:
        return None
    return info if _alive(info.pid, directory) else None


def start(directory: str | Path, mode: str, *, timeout: float = 20.0,
          replace: bool = False) -> RegistryInfo:
    """Start a `mode` registry from DIR with fresh storage and credentials.

    A registry already running from DIR is an error, unless `replace` stops
    it first (ctest's setup fixture uses that after an aborted run).
    """
    if mode not in ALL_MODES:
        raise TestbedError(f"unknown mode {mode!r}; expected one of {', '.join(ALL_MODES)}")
    directory = _prepare(directory, replace)
    ca_file = username = password = client_cert = client_key = None
    if mode in ("tls", "auth", "mtls"):
        ca_cert, ca_key = certs.make_ca(directory)
        certs.make_server_cert(directory, ca_cert, ca_key)
        ca_file = str(ca_cert)
    if mode == "mtls":
        client_ca, client_ca_key = certs.make_ca(directory, "client-ca", "gantry testbed client CA")
        client_cert, client_key = map(str, certs.make_client_cert(directory, client_ca, client_ca_key))
    if mode == "auth":
        username, password = USERNAME, secrets.token_urlsafe(12)
        certs.make_htpasswd(directory / "htpasswd", username, password)
    return _launch(directory, mode, ca_file, username, password, None, timeout,
                   client_cert, client_key)


def start_proxy(directory: str | Path, upstream: RegistryInfo, *, timeout: float = 20.0,
                replace: bool = False) -> RegistryInfo:
    """Start a pull-through cache of the plain registry `upstream` from DIR,
    over plain HTTP, with fresh storage; stopped with stop(DIR) like the others.

    What distribution 2.8 does in this mode: it answers the /v2/ ping (200),
    serves manifests and blobs, fetching from `upstream` what its storage
    lacks and keeping it there (a blob is stored by a second fetch of its
    own, in the background: it may land a moment after it was served), and
    falls back to a stored tag when `upstream` cannot be reached. It takes
    no pushes (405 Method Not Allowed): content comes from `upstream` only.
    """
    if upstream.mode != "plain":
        raise TestbedError(f"a pull-through cache here fronts a plain registry, not {upstream.mode!r}")
    return _launch(_prepare(directory, replace), PROXY, None, None, None, upstream.url, timeout)


def _prepare(directory: str | Path, replace: bool) -> Path:
    """DIR resolved, with no registry running from it and empty storage."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if (live := running(directory)) is not None:
        if not replace:
            raise TestbedError(f"a registry (pid {live.pid}) is already running from {directory}")
        stop(directory)
    (directory / STATE_FILE).unlink(missing_ok=True)
    storage = directory / "storage"
    shutil.rmtree(storage, ignore_errors=True)
    storage.mkdir()
    return directory


def _launch(directory: Path, mode: str, ca_file: str | None, username: str | None,
            password: str | None, upstream: str | None, timeout: float,
            client_cert: str | None = None, client_key: str | None = None) -> RegistryInfo:
    """Spawns the registry on a free port (another when the port was taken
    meanwhile), waits until it answers, and writes DIR/registry.json."""
    storage = directory / "storage"
    scheme = "https" if mode in ("tls", "auth", "mtls") else "http"
    deadline = time.monotonic() + timeout
    for _ in range(PORT_ATTEMPTS):
        port = _free_port()
        config = _write_config(directory, mode, port, storage, upstream)
        log = _log_path(directory)
        log_start = log.stat().st_size if log.exists() else 0
        proc = _spawn(directory, config)
        info = RegistryInfo(mode, f"127.0.0.1:{port}", f"{scheme}://127.0.0.1:{port}",
                            ca_file, username, password, proc.pid, str(storage), upstream,
                            client_cert, client_key)
        try:
            _wait_ready(proc, info, port, log, log_start, deadline)
        except _PortTaken:
            continue
        state = directory / STATE_FILE
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n")
        tmp.rename(state)  # readers never see a half-written file
        return info
    raise TestbedError(f"no free port after {PORT_ATTEMPTS} attempts")


def stop(directory: str | Path, timeout: float = 10.0) -> bool:
    """Stop the registry running from DIR; True if there was one. A dead or
    missing registry is not an error."""
    directory = Path(directory).resolve()
    info = running(directory)
    (directory / STATE_FILE).unlink(missing_ok=True)
    if info is None:
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        try:
            os.kill(info.pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(info.pid, directory):
                return True
            time.sleep(0.02)
    raise TestbedError(f"registry pid {info.pid} did not exit")
