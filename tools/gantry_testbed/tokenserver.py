"""A docker registry token server on loopback (standard library only), for
gantry's Bearer flow tests together with faultproxy.FaultProxy.require_bearer.

It follows the docker token authentication spec ("Requesting a Token"):
GET REALM?service=SERVICE&scope=repository:NAME:pull[&scope=...] with Basic
credentials or none, answered with {"token", "access_token", "expires_in",
"issued_at"}. It checks what it is asked:

  - the service must be this server's (else 400);
  - credentials, when sent, must be right (else 401); none at all are
    accepted only when `anonymous` is set (else 401);
  - each scope must be well-formed, `repository:NAME:ACTIONS` (else 400); a
    token grants `repository:NAME:pull` only when pull was asked for and
    NAME is in `repositories` (None: every repository). Like real token
    servers it issues a token granting less rather than refusing, so the
    registry (the proxy) is the one that turns the client away.

Every request is recorded (query, headers, status) so tests can assert on
the scope and credentials the client sent.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# distribution's reference grammar for a repository path, then the actions.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
SCOPE = re.compile(rf"repository:(?P<name>{_COMPONENT}(?:/{_COMPONENT})*)"
                   r":(?P<actions>[a-z*]+(?:,[a-z*]+)*)")


@dataclass
class TokenRequest:
    """One request to the token endpoint and the answer it got."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]        # lower-case names
    status: int = 0
    user: str | None = None        # the Basic user that authenticated, if any
    granted: frozenset[str] = frozenset()

    @property
    def scopes(self) -> list[str]:
        return self.query.get("scope", [])

    @property
    def service(self) -> str | None:
        return (self.query.get("service") or [None])[0]


@dataclass
class _Issued:
    granted: frozenset[str]
    expires: float


@dataclass
class TokenServer:
    service: str = "gantry-testbed-registry"
    users: dict[str, str] = field(default_factory=dict)   # username -> password
    anonymous: bool = True
    repositories: set[str] | None = None
    expires_in: int = 300
    # Appended to every token issued: a hostile token server's
    # ("\r\nX-Injected: 1" tries header injection); such tokens grant nothing.
    token_suffix: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._issued: dict[str, _Issued] = {}
        self._log: list[TokenRequest] = []
        self._server = _Server(self)
        self._thread: threading.Thread | None = None

    # --- lifecycle

    def start(self) -> TokenServer:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    # --- what the registry side asks

    def challenge(self, scope: str | None) -> str:
        """The WWW-Authenticate value a registry sends for `scope` (None: /v2/)."""
        value = f'Bearer realm="{self.realm}",service="{self.service}"'
        return value + (f',scope="{scope}"' if scope else "")

    def grants(self, token: str, scope: str | None) -> bool:
        """True if `token` was issued here, is unexpired and grants `scope`
        (None: any valid token)."""
        with self._lock:
            issued = self._issued.get(token)
        if issued is None or issued.expires < time.monotonic():
            return False
        return scope is None or scope in issued.granted

    def revoke_all(self) -> None:
        """Every token issued so far stops working (as if expired)."""
        with self._lock:
            self._issued.clear()

    def requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._log)

    # --- serving

    def handle(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict]:
        url = urllib.parse.urlsplit(handler.path)
        record = TokenRequest(handler.path, urllib.parse.parse_qs(url.query),
                              {k.lower(): v for k, v in handler.headers.items()})
        with self._lock:
            self._log.append(record)
        record.status, answer = self._answer(url.path, record)
        return record.status, answer

    def _answer(self, path: str, record: TokenRequest) -> tuple[int, dict]:
        if path != "/token":
            return 404, _error("NOT_FOUND", path)
        if record.service != self.service:
            return 400, _error("INVALID_REQUEST", f"unknown service {record.service!r}")
        authorization = record.headers.get("authorization")
        if authorization is not None:
            record.user = self._basic_user(authorization)
            if record.user is None:
                return 401, _error("UNAUTHORIZED", "wrong credentials")
        elif not self.anonymous:
            return 401, _error("UNAUTHORIZED", "credentials required")
        granted = set()
        for scope in record.scopes:
            match = SCOPE.fullmatch(scope)
            if match is None:
                return 400, _error("INVALID_REQUEST", f"malformed scope {scope!r}")
            name, actions = match.group("name"), match.group("actions").split(",")
            if "pull" in actions and (self.repositories is None or name in self.repositories):
                granted.add(f"repository:{name}:pull")
        record.granted = frozenset(granted)
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._issued[token] = _Issued(record.granted, time.monotonic() + self.expires_in)
        issued_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        token += self.token_suffix
        return 200, {"token": token, "access_token": token, "expires_in": self.expires_in,
                     "issued_at": issued_at}

    def _basic_user(self, authorization: str) -> str | None:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True) \
                .decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        known = user in self.users and secrets.compare_digest(self.users[user], password)
        return user if known else None


def _error(code: str, message: str) -> dict:
    return {"errors": [{"code": code, "message": message}]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        status, answer = self.server.tokens.handle(self)
        body = json.dumps(answer).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="gantry-testbed-tokens"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, tokens: TokenServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tokens = tokens
