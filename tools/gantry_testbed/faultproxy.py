"""A fault-injecting HTTP proxy in front of a test-bed registry (standard
library only), for gantry's end-to-end tests.

It listens on 127.0.0.1 (plain HTTP toward the client under test), forwards
each request to the upstream registry (plain, or TLS with the bed's CA) and
records what the client sent. Rules, tried in the order they were added,
replace the forwarding for the requests they match:

    proxy = FaultProxy(registry.url, ca_file=registry.ca_file).start()
    proxy.add_rule(r"/blobs/sha256:", Status(500), times=2)
    proxy.add_rule(r"/blobs/" + digest, Cut(after=65536))
    ... gantry pull --plain-http {proxy.host}/REPO:TAG ...
    [r.header("Range") for r in proxy.requests(path=digest)]
    proxy.stop()

Actions: Status (any status, e.g. 503/429 with Retry-After), Cut (reset or
close the connection after N body bytes), Stall (headers and N bytes, then
silence), Corrupt (one body byte flipped, same length), Redirect (307 to
another server, such as a second FaultProxy acting as a blob store), Throttle
(a bandwidth cap), Delay (a slow first byte). require_bearer() makes the
proxy demand tokens from a tokenserver.TokenServer for the repository's pull
scope.
"""

from __future__ import annotations

import fcntl
import http.client
import io
import json
import re
import socket
import ssl
import struct
import sys
import termios
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from .tokenserver import TokenServer

CHUNK = 64 * 1024
UPSTREAM_TIMEOUT = 60.0
# RFC 9110 §7.6.1 hop-by-hop fields, plus Host (set for the upstream).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "host"}
# distribution-spec "Pulling manifests" / "Pulling blobs": /v2/<name>/<kind>/<reference>.
REPOSITORY_PATH = re.compile(r"^/v2/(?P<name>.+)/(?:manifests|blobs|tags|referrers)/")


@dataclass
class Recorded:
    """One request as the proxy received it, and what it answered."""

    method: str
    path: str                   # target as sent, query included
    headers: dict[str, str]     # lower-case names; repeated fields joined with ", "
    client_port: int            # tells the client's connections apart
    started: float              # time.monotonic() when the request line arrived
    action: str = "forward"     # the rule's action, "forward", or "auth" (401 from require_bearer)
    status: int | None = None   # what the client was sent (None: no head was sent)
    body_bytes: int = 0         # body bytes handed to the client's socket
    finished: float | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


# --- actions ------------------------------------------------------------------

class Action:
    """What the proxy does instead of plain forwarding."""

    def serve(self, exchange: _Exchange) -> None:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__.lower()


@dataclass
class Status(Action):
    """Answer `status` without asking upstream, with a distribution-spec
    error body ("Error codes") and extra headers such as Retry-After."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)

    def serve(self, exchange: _Exchange) -> None:
        body = json.dumps({"errors": [{"code": "UNAVAILABLE",
                                       "message": f"fault proxy: {self.status}"}]}).encode()
        exchange.answer(self.status, {"Content-Type": "application/json", **self.headers}, body)


@dataclass
class Cut(Action):
    """Forward the head and `after` body bytes, then drop the connection:
    a TCP reset (SO_LINGER 0) when `reset`, else an orderly close (FIN).

    A reset is sent only once the client's kernel has acknowledged every
    byte, so the break falls exactly at `after` (a reset overtaking bytes
    still in flight would make the client lose them)."""

    after: int
    reset: bool = True

    def serve(self, exchange: _Exchange) -> None:
        with exchange.upstream() as response:
            exchange.send_head(response.status, response.headers)
            exchange.send_body(response, limit=self.after)
        exchange.drop(reset=self.reset)


@dataclass
class IgnoreRange(Action):
    """Forward the request without its Range header: the whole body with
    200, as a server that does not do ranges answers a resume."""

    def serve(self, exchange: _Exchange) -> None:
        with exchange.upstream(drop_headers=("range",)) as response:
            exchange.send_head(response.status, response.headers)
            exchange.send_body(response)


@dataclass
class Stall(Action):
    """Forward the head and `after` body bytes, then send nothing for
    `seconds` (or until the proxy stops), then close."""

    after: int
    seconds: float

    def serve(self, exchange: _Exchange) -> None:
        with exchange.upstream() as response:
            exchange.send_head(response.status, response.headers)
            exchange.send_body(response, limit=self.after)
        exchange.proxy.stopping.wait(self.seconds)
        exchange.drop(reset=False)


@dataclass
class Corrupt(Action):
    """Forward the response with one body byte flipped: the same length, so
    only a digest check can tell (the byte at `offset` of the body as sent,
    the middle one by default)."""

    offset: int | None = None

    def serve(self, exchange: _Exchange) -> None:
        with exchange.upstream() as response:
            body = response.read()
            if body:
                at = len(body) // 2 if self.offset is None else min(self.offset, len(body) - 1)
                body = body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1:]
            exchange.answer(response.status, response.headers, body)


@dataclass
class Redirect(Action):
    """307 (or `status`) to the same path and query on `base` (a URL such as
    another FaultProxy's), as a registry sends a client to its blob store."""

    base: str
    status: int = 307

    def serve(self, exchange: _Exchange) -> None:
        location = self.base.rstrip("/") + exchange.handler.path
        exchange.answer(self.status, {"Location": location}, b"")


@dataclass
class Throttle(Action):
    """Forward at no more than `rate` body bytes per second."""

    rate: float

    def serve(self, exchange: _Exchange) -> None:
        with exchange.upstream() as response:
            exchange.send_head(response.status, response.headers)
            exchange.send_body(response, rate=self.rate)


@dataclass
class Delay(Action):
    """Forward after `seconds` of silence (a slow first byte), so that
    clients asking at about the same time overlap."""

    seconds: float

    def serve(self, exchange: _Exchange) -> None:
        exchange.proxy.stopping.wait(self.seconds)
        Forward().serve(exchange)


class Forward(Action):
    def serve(self, exchange: _Exchange) -> None:
        with exchange.upstream() as response:
            exchange.send_head(response.status, response.headers)
            exchange.send_body(response)


@dataclass
class Rule:
    """Matches requests by method and a regex searched in the path; applies
    its action to matches number skip+1 .. skip+times (times None: all)."""

    path: re.Pattern
    action: Action
    method: str | None = "GET"
    times: int | None = 1
    skip: int = 0
    matched: int = 0

    def take(self, method: str, path: str) -> bool:
        """Counts a match; True if this match gets the action."""
        if (self.method is not None and method != self.method) or not self.path.search(path):
            return False
        self.matched += 1
        ordinal = self.matched - self.skip
        return ordinal >= 1 and (self.times is None or ordinal <= self.times)


# --- one exchange ---------------------------------------------------------------

class _UpstreamResponse:
    """An upstream response with its connection, closed together. A body
    without a length (chunked: small error documents) is read at once and
    given one, so every answer to the client has a Content-Length."""

    def __init__(self, connection: http.client.HTTPConnection,
                 response: http.client.HTTPResponse, head_only: bool) -> None:
        self._connection = connection
        self._response: BinaryIO = response
        self.status = response.status
        self.headers = [(k, v) for k, v in response.getheaders()
                        if k.lower() not in HOP_BY_HOP]
        length = response.getheader("Content-Length")
        self.length = int(length) if length is not None and not response.chunked else None
        if self.length is None and not head_only and self.status not in (204, 304):
            body = response.read()
            self._response = io.BytesIO(body)
            self.length = len(body)
            self.headers.append(("Content-Length", str(self.length)))

    def read(self, n: int | None = None) -> bytes:
        return self._response.read(n)

    def __enter__(self) -> _UpstreamResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.close()


class _Exchange:
    """One request of one client connection, and the helpers actions use."""

    def __init__(self, proxy: FaultProxy, handler: _Handler, record: Recorded) -> None:
        self.proxy = proxy
        self.handler = handler
        self.record = record
        self.body = self._read_request_body()
        self._head_only = handler.command == "HEAD"

    def _read_request_body(self) -> bytes | None:
        length = self.handler.headers.get("Content-Length")
        return self.handler.rfile.read(int(length)) if length else None

    def upstream(self, drop_headers: tuple[str, ...] = ()) -> _UpstreamResponse:
        connection = self.proxy.upstream_connection()
        headers = {k: v for k, v in self.handler.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in drop_headers}
        if self.proxy.tokens is not None:
            headers.pop("Authorization", None)  # the proxy's own token, not upstream's business
        connection.request(self.handler.command, self.handler.path, body=self.body,
                           headers=headers)
        return _UpstreamResponse(connection, connection.getresponse(), self._head_only)

    def send_head(self, status: int, headers: list[tuple[str, str]] | dict[str, str]) -> None:
        handler = self.handler
        handler.send_response_only(status)
        items = headers.items() if isinstance(headers, dict) else headers
        for name, value in items:
            if name.lower() not in HOP_BY_HOP:
                handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.flush()
        self.record.status = status

    def answer(self, status: int, headers: list[tuple[str, str]] | dict[str, str],
               body: bytes) -> None:
        """A whole response with a Content-Length (no body for HEAD)."""
        items = [(k, v) for k, v in (headers.items() if isinstance(headers, dict) else headers)
                 if k.lower() != "content-length"]
        self.send_head(status, items + [("Content-Length", str(len(body)))])
        if not self._head_only:
            self._write(body)

    def send_body(self, response: _UpstreamResponse, *, limit: int | None = None,
                  rate: float | None = None) -> None:
        """Streams the upstream body: all of it, or its first `limit` bytes,
        paced to `rate` bytes per second when given."""
        if self._head_only:
            return
        left = response.length
        if limit is not None:
            left = limit if left is None else min(limit, left)
        begun = time.monotonic()
        sent = 0
        while left is None or left > 0:
            chunk = response.read(CHUNK if left is None else min(CHUNK, left))
            if not chunk:
                break
            self._write(chunk)
            sent += len(chunk)
            if left is not None:
                left -= len(chunk)
            if rate:
                ahead = begun + sent / rate - time.monotonic()
                if ahead > 0 and self.proxy.stopping.wait(ahead):
                    break

    def _write(self, data: bytes) -> None:
        self.handler.wfile.write(data)
        with self.proxy.lock:
            self.record.body_bytes += len(data)

    def drop(self, *, reset: bool) -> None:
        """Ends the client's connection now; a reset waits (up to 10 s) for
        the client to acknowledge what was sent."""
        sock = self.handler.connection
        self.handler.close_connection = True
        if reset:
            deadline = time.monotonic() + 10
            while _unacknowledged(sock) > 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # socketserver's own shutdown then fails quietly


def _unacknowledged(sock: socket.socket) -> int:
    """Bytes in the send queue not yet acknowledged by the peer (TIOCOUTQ)."""
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return 0
    return struct.unpack("i", raw)[0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as registries do
    server: _Server

    def _serve(self) -> None:
        self.server.proxy.handle(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request log is the record


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, proxy: FaultProxy) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.proxy = proxy

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that goes away mid-response (gantry killed, or dropping a
        # stalled connection) is part of the tests; anything else is a bug of
        # the proxy, kept for the test's teardown to report.
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            with self.proxy.lock:
                self.proxy.errors.append(traceback.format_exc())


@dataclass
class _Challenge(Action):
    """401 with a WWW-Authenticate: Bearer challenge (docker token auth)."""

    challenge: str

    @property
    def name(self) -> str:
        return "auth"

    def serve(self, exchange: _Exchange) -> None:
        body = json.dumps({"errors": [{"code": "UNAUTHORIZED",
                                       "message": "authentication required"}]}).encode()
        exchange.answer(401, {"Content-Type": "application/json",
                              "WWW-Authenticate": self.challenge}, body)


# --- the proxy --------------------------------------------------------------------

class FaultProxy:
    def __init__(self, upstream: str, ca_file: str | None = None) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.hostname not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"the fault proxy only talks to loopback, not {upstream}")
        self._upstream = parts
        self._context = (ssl.create_default_context(cafile=ca_file)
                         if parts.scheme == "https" else None)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.tokens: TokenServer | None = None
        self._rules: list[Rule] = []
        self._log: list[Recorded] = []
        self.errors: list[str] = []  # tracebacks of the proxy's own failures
        self._server = _Server(self)
        self._thread: threading.Thread | None = None

    # --- lifecycle

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    @property
    def host(self) -> str:
        """127.0.0.1:PORT, as a reference's registry part."""
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, repo: str, tag: str | None = None, digest: str | None = None) -> str:
        """A docker reference to `repo` through this proxy."""
        return f"{self.host}/{repo}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")

    # --- scripting

    def add_rule(self, path: str, action: Action, *, method: str | None = "GET",
                 times: int | None = 1, skip: int = 0) -> Rule:
        """Applies `action` to requests whose path matches the regex `path`
        (searched, so a digest alone will do): the (skip+1)-th through
        (skip+times)-th such request, or every one from there if times is None."""
        rule = Rule(re.compile(path), action, method, times, skip)
        with self.lock:
            self._rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        with self.lock:
            self._rules.clear()

    def require_bearer(self, tokens: TokenServer) -> None:
        """Demand `Authorization: Bearer T` with T issued by `tokens`: for
        /v2/NAME/... the token's grant must include repository:NAME:pull,
        for /v2/ any valid token will do (docker token auth, as distribution
        does it). Missing or insufficient: 401 with a Bearer challenge."""
        self.tokens = tokens

    # --- the record

    def requests(self, path: str | None = None, method: str | None = None) -> list[Recorded]:
        """Recorded requests, oldest first; `path` is a regex searched in the target."""
        pattern = re.compile(path) if path is not None else None
        with self.lock:
            return [r for r in self._log
                    if (method is None or r.method == method)
                    and (pattern is None or pattern.search(r.path))]

    def blob_gets(self, digest: str) -> list[Recorded]:
        return self.requests(path=f"/blobs/{re.escape(digest)}$", method="GET")

    def clear_log(self) -> None:
        with self.lock:
            self._log.clear()

    # --- serving

    def upstream_connection(self) -> http.client.HTTPConnection:
        host, port = self._upstream.hostname, self._upstream.port
        if self._context is not None:
            return http.client.HTTPSConnection(host, port, timeout=UPSTREAM_TIMEOUT,
                                               context=self._context)
        return http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT)

    def handle(self, handler: _Handler) -> None:
        headers: dict[str, str] = {}
        for name, value in handler.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        with self.lock:
            record = Recorded(handler.command, handler.path, headers, handler.client_address[1],
                              time.monotonic())
            self._log.append(record)
            action = self._auth_failure(handler) or self._action_for(handler)
        record.action = action.name
        try:
            action.serve(_Exchange(self, handler, record))
        finally:
            record.finished = time.monotonic()

    def _action_for(self, handler: _Handler) -> Action:
        for rule in self._rules:
            if rule.take(handler.command, handler.path):
                return rule.action
        return Forward()

    def _auth_failure(self, handler: _Handler) -> Action | None:
        if self.tokens is None or not handler.path.startswith("/v2/"):
            return None
        match = REPOSITORY_PATH.match(urllib.parse.urlsplit(handler.path).path)
        scope = f"repository:{match.group('name')}:pull" if match else None
        credentials = handler.headers.get("Authorization", "")
        scheme, _, token = credentials.partition(" ")
        if scheme.lower() == "bearer" and self.tokens.grants(token.strip(), scope):
            return None
        return _Challenge(self.tokens.challenge(scope))
