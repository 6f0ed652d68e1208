"""Throwaway PKI and credentials for the registry's TLS and auth modes, made
with the `openssl` and `htpasswd` commands (no Python crypto dependency)."""

from __future__ import annotations

import subprocess
from pathlib import Path

# P-256 keys: generated in milliseconds, accepted by Go, OpenSSL and Python.
_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {result.stderr.strip()}")


def make_ca(directory: Path, name: str = "ca", subject: str = "gantry testbed CA") -> tuple[Path, Path]:
    """A self-signed CA (basicConstraints CA:TRUE, keyCertSign) -> (cert, key),
    DIR/NAME.pem and DIR/NAME.key."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _run(["openssl", "req", "-x509", "-new", *_EC_KEY, "-keyout", str(key), "-out", str(cert),
          "-days", "3650", "-subj", f"/CN={subject}",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    return cert, key


def make_server_cert(directory: Path, ca_cert: Path, ca_key: Path) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1 and localhost signed by the CA
    (RFC 6125: clients match the IP and DNS subjectAltNames, not the CN)."""
    cert, key = directory / "server.pem", directory / "server.key"
    _run(["openssl", "req", "-x509", "-new", *_EC_KEY, "-keyout", str(key), "-out", str(cert),
          "-CA", str(ca_cert), "-CAkey", str(ca_key), "-days", "825",
          "-subj", "/CN=localhost",
          "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
          "-addext", "basicConstraints=critical,CA:FALSE",
          "-addext", "keyUsage=critical,digitalSignature",
          "-addext", "extendedKeyUsage=serverAuth"])
    return cert, key


def make_client_cert(directory: Path, ca_cert: Path, ca_key: Path) -> tuple[Path, Path]:
    """A client certificate (extendedKeyUsage clientAuth) signed by the CA,
    for a registry that requires TLS client authentication."""
    cert, key = directory / "client.pem", directory / "client.key"
    _run(["openssl", "req", "-x509", "-new", *_EC_KEY, "-keyout", str(key), "-out", str(cert),
          "-CA", str(ca_cert), "-CAkey", str(ca_key), "-days", "825",
          "-subj", "/CN=gantry testbed client",
          "-addext", "basicConstraints=critical,CA:FALSE",
          "-addext", "keyUsage=critical,digitalSignature",
          "-addext", "extendedKeyUsage=clientAuth"])
    return cert, key


def make_htpasswd(path: Path, username: str, password: str) -> None:
    """The registry's htpasswd auth accepts bcrypt entries only (-B)."""
    _run(["htpasswd", "-B", "-b", "-c", str(path), username, password])
