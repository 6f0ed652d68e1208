"""Streaming compressors: gzip through zlib, zstd through the `zstd` command.

Each takes uncompressed bytes with write() and passes compressed bytes to a
sink, so a layer is compressed while its tar is being written.
"""

from __future__ import annotations

import subprocess
import threading
import zlib

from .content import CHUNK
from .tarwriter import Sink

GZIP_LEVEL = 6
ZSTD_LEVEL = 3


class Gzip:
    """RFC 1952 gzip; zlib writes a header with mtime 0, so output is reproducible."""

    def __init__(self, sink: Sink, level: int | None = None) -> None:
        self._sink = sink
        self._z = zlib.compressobj(GZIP_LEVEL if level is None else level, zlib.DEFLATED, 31)

    def write(self, data: bytes) -> None:
        if out := self._z.compress(data):
            self._sink.write(out)

    def close(self) -> None:
        self._sink.write(self._z.flush())


class Zstd:
    """RFC 8878 zstd via the `zstd` command (the standard library has no zstd).
    A thread drains the command's stdout so neither pipe can fill and deadlock."""

    def __init__(self, sink: Sink, level: int | None = None) -> None:
        level = ZSTD_LEVEL if level is None else level
        self._proc = subprocess.Popen(["zstd", "-q", "-c", f"-{level}", "-"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._pump = threading.Thread(target=self._drain, args=(sink,), daemon=True)
        self._pump.start()

    def _drain(self, sink: Sink) -> None:
        while chunk := self._proc.stdout.read(CHUNK):
            sink.write(chunk)

    def write(self, data: bytes) -> None:
        self._proc.stdin.write(data)

    def close(self) -> None:
        self._proc.stdin.close()
        self._pump.join()
        if (rc := self._proc.wait()) != 0:
            raise RuntimeError(f"zstd exited with status {rc}")


class Identity:
    def __init__(self, sink: Sink, level: int | None = None) -> None:
        self._sink = sink

    def write(self, data: bytes) -> None:
        self._sink.write(data)

    def close(self) -> None:
        pass


COMPRESSORS = {"gzip": Gzip, "zstd": Zstd, "none": Identity}

