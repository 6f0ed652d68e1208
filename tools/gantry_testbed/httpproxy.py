"""An HTTP forward proxy for tests: CONNECT tunnels (for https registries)
and absolute-form requests (for plain http ones), on loopback only, with
optional Basic credentials (407 without them). It records the request line
and headers of every request it received, so tests can check what a client
showed it: that CONNECT was used, that Proxy-Authorization came, that no
registry Authorization did. Targets must be loopback addresses too.

One thread per client connection; stop() closes every socket and joins them.
An absolute-form request is forwarded with "Connection: close" and its
connection closed after the answer: one request per connection keeps the
relay a byte copy, and a client has to cope with a closed keep-alive anyway.
"""

from __future__ import annotations

import base64
import select
import socket
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LOOPBACK_TARGETS = {"127.0.0.1", "localhost", "::1"}
HEADER_LIMIT = 64 * 1024
HOP_BY_HOP = {"proxy-authorization", "proxy-connection", "connection", "keep-alive"}


@dataclass
class Recorded:
    request_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def method(self) -> str:
        return self.request_line.split(" ", 1)[0]

    @property
    def target(self) -> str:
        return self.request_line.split(" ")[1]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class HttpProxy:
    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self._expected = None
        if username is not None:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._expected = f"Basic {token}"
        self.requests: list[Recorded] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.port = self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, username: str, password: str) -> str:
        return f"http://{username}:{password}@127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> HttpProxy:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            sockets = [self._listener, *self._sockets]
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in list(self._threads):
            thread.join(timeout=10)

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
        return sock

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(self._track(client),), daemon=True)
            with self._lock:
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        try:
            head, rest = _read_head(client)
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            record = Recorded(lines[0], [tuple(part.strip() for part in line.split(":", 1))
                                         for line in lines[1:] if line])
            with self._lock:
                self.requests.append(record)
            if self._expected is not None and record.header("Proxy-Authorization") != self._expected:
                client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                               b"Proxy-Authenticate: Basic realm=\"test\"\r\n"
                               b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                return
            if record.method == "CONNECT":
                self._tunnel(client, record, rest)
            else:
                self._forward(client, record, rest)
        except OSError as error:
            if not self._stopping.is_set():
                self.errors.append(f"{error}")
        finally:
            client.close()

    def _upstream(self, client: socket.socket, host: str, port: int) -> socket.socket | None:
        if host.strip("[]") not in LOOPBACK_TARGETS:
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return None
        try:
            return self._track(socket.create_connection((host.strip("[]"), port), timeout=10))
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return None

    def _tunnel(self, client: socket.socket, record: Recorded, rest: bytes) -> None:
        host, _, port = record.target.rpartition(":")
        upstream = self._upstream(client, host, int(port))
        if upstream is None:
            return
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            _relay(client, upstream, self._stopping)

    def _forward(self, client: socket.socket, record: Recorded, rest: bytes) -> None:
        method, target, version = record.request_line.split(" ")
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname:
            client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        upstream = self._upstream(client, url.hostname, url.port or 80)
        if upstream is None:
            return
        path = url.path + (f"?{url.query}" if url.query else "")
        head = [f"{method} {path} {version}"]
        head += [f"{k}: {v}" for k, v in record.headers if k.lower() not in HOP_BY_HOP]
        head.append("Connection: close")
        with upstream:
            upstream.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + rest)
            _relay(client, upstream, self._stopping)


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > HEADER_LIMIT:
            return None, b""
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _relay(a: socket.socket, b: socket.socket, stopping: threading.Event) -> None:
    """Copies both ways until either side closes or the proxy stops."""
    peers = {a: b, b: a}
    while not stopping.is_set():
        readable, _, _ = select.select(list(peers), [], [], 0.5)
        for sock in readable:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return
            peers[sock].sendall(chunk)
