"""Misbehaving responses for `LocalWeb.fault`: the ways real servers go wrong.

Each fault is a frozen dataclass whose fields are the keyword parameters that
`LocalWeb.fault(path, kind, **params)` accepts, so a misspelt parameter fails at
set-up with a ``TypeError`` rather than silently serving the default. Faults that
run for a long time (``slow``, ``hang``, ``endless``, ``gzip_bomb``) watch the
server's stop event so that shutting the server down never waits on them.
"""

from __future__ import annotations

import itertools
import random
import socket
import struct
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import ClassVar, Protocol

MIB = 1 << 20
_ZEROS = bytes(MIB)
_TICK = 0.05  # seconds between writes of a trickling response


class Responder(Protocol):
    """What a fault needs from the request handler serving it."""

    path: str  # the route's path, without query string
    target: str  # the request target as sent, with query string
    head: bool  # a HEAD request: send headers only
    stop: threading.Event  # set when the server shuts down

    def start(self, status: int, headers: Sequence[tuple[str, str]]) -> None:
        """Log the request with ``status`` and send the status line and headers."""

    def log_only(self, status: int | None) -> None:
        """Log the request without sending anything."""

    def write(self, data: bytes) -> None: ...

    def drop(self, *, rst: bool) -> None:
        """Close the connection now: with a TCP reset when ``rst``, else a FIN."""


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def _fixed(content_type: str, body: bytes) -> list[tuple[str, str]]:
    return [("Content-Type", content_type), ("Content-Length", str(len(body)))]


class Fault:
    kind: ClassVar[str]

    def serve(self, r: Responder) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Slow(Fault):
    """Headers at once (after ``delay`` seconds), then the body at ``rate`` bytes per second.

    The body is ``body`` when given, else ``size`` filler bytes.
    """

    kind: ClassVar[str] = "slow"
    rate: float = 10.0
    body: bytes | str = b""
    size: int = MIB
    delay: float = 0.0
    content_type: str = "application/rss+xml; charset=utf-8"

    def serve(self, r: Responder) -> None:
        data = _as_bytes(self.body) or (b"<!-- slow -->\n" * (self.size // 14 + 1))[: self.size]
        if self.delay and r.stop.wait(self.delay):
            return
        r.start(200, _fixed(self.content_type, data))
        if r.head:
            return
        sent, ticks = 0, 0
        while sent < len(data) and not r.stop.is_set():
            ticks += 1
            allowed = min(len(data), int(self.rate * ticks * _TICK))
            if allowed > sent:
                r.write(data[sent:allowed])
                sent = allowed
            if sent < len(data):
                r.stop.wait(_TICK)


@dataclass(frozen=True)
class Hang(Fault):
    """Read the request and never answer: for ``seconds``, or until the server stops."""

    kind: ClassVar[str] = "hang"
    seconds: float | None = None

    def serve(self, r: Responder) -> None:
        r.log_only(None)
        r.stop.wait(self.seconds)
        r.drop(rst=False)


@dataclass(frozen=True)
class Endless(Fault):
    """A chunked 200 response whose body never ends."""

    kind: ClassVar[str] = "endless"
    chunk: bytes | str = b"<item><title>again</title></item>\n" * 2000
    content_type: str = "application/rss+xml; charset=utf-8"

    def serve(self, r: Responder) -> None:
        data = _as_bytes(self.chunk)
        framed = b"%x\r\n%s\r\n" % (len(data), data)
        r.start(200, [("Content-Type", self.content_type), ("Transfer-Encoding", "chunked")])
        while not r.head and not r.stop.is_set():
            r.write(framed)


@dataclass(frozen=True)
class Reset(Fault):
    """Promise ``size`` bytes, send ``after`` of them, then drop the connection.

    ``headers=False`` drops it before any response; ``rst=False`` closes with a FIN
    (a truncated body) instead of a TCP reset.
    """

    kind: ClassVar[str] = "reset"
    size: int = 100_000
    after: int = 1024
    headers: bool = True
    rst: bool = True
    content_type: str = "text/html; charset=utf-8"

    def serve(self, r: Responder) -> None:
        if not self.headers:
            r.log_only(None)
        else:
            r.start(200, [("Content-Type", self.content_type), ("Content-Length", str(self.size))])
            if not r.head:
                r.write(b"x" * min(self.after, self.size))
        r.drop(rst=self.rst)


@cache
def _deflated_mib() -> tuple[bytes, bytes]:
    """One MiB of zeros as a self-contained deflate segment, and the final empty block.

    A full flush resets the compressor, so the segment can be repeated any number of
    times and still form one valid deflate stream: the bomb is never built whole.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = compressor.compress(_ZEROS) + compressor.flush(zlib.Z_FULL_FLUSH)
    return segment, compressor.flush(zlib.Z_FINISH)


@dataclass(frozen=True)
class GzipBomb(Fault):
    """``Content-Encoding: gzip`` whose ~1 MB body decodes to ``size`` zero bytes (1 GiB)."""

    kind: ClassVar[str] = "gzip_bomb"
    size: int = 1024 * MIB
    content_type: str = "application/rss+xml; charset=utf-8"

    def serve(self, r: Responder) -> None:
        segment, final = _deflated_mib()
        mibs = max(1, self.size // MIB)
        header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip, deflate, no name, unix
        length = len(header) + mibs * len(segment) + len(final) + 8
        r.start(
            200,
            [
                ("Content-Type", self.content_type),
                ("Content-Encoding", "gzip"),
                ("Content-Length", str(length)),
            ],
        )
        if r.head:
            return
        r.write(header)
        crc = 0
        for _ in range(mibs):
            if r.stop.is_set():
                r.drop(rst=True)
                return
            r.write(segment)
            crc = zlib.crc32(_ZEROS, crc)
        r.write(final + struct.pack("<II", crc, (mibs * MIB) & 0xFFFFFFFF))


REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def _redirect(r: Responder, status: int, location: str) -> None:
    body = b"moved\n"
    r.start(status, [("Location", location), *_fixed("text/plain", body)])
    if not r.head:
        r.write(body)


@dataclass(frozen=True)
class Redirect(Fault):
    """Redirect to ``to`` (a path on this server or any URL) with ``status``."""

    kind: ClassVar[str] = "redirect"
    to: str
    status: int = 302

    def __post_init__(self) -> None:
        if self.status not in REDIRECT_STATUSES:
            raise ValueError(f"redirect status must be one of {sorted(REDIRECT_STATUSES)}")

    def serve(self, r: Responder) -> None:
        _redirect(r, self.status, self.to)


@dataclass(frozen=True)
class RedirectLoop(Fault):
    """Redirect to itself forever; with ``distinct`` every hop gets a new ``?hop=N`` URL."""

    kind: ClassVar[str] = "redirect_loop"
    status: int = 302
    distinct: bool = False
    _hops: itertools.count[int] = field(default_factory=itertools.count, compare=False)

    def serve(self, r: Responder) -> None:
        location = f"{r.path}?hop={next(self._hops) + 1}" if self.distinct else r.path
        _redirect(r, self.status, location)


@dataclass(frozen=True)
class Status(Fault):
    """Any status with optional headers (``Retry-After``, ``WWW-Authenticate``…) and body."""

    kind: ClassVar[str] = "status"
    status: int = 503
    headers: dict[str, str] | None = None
    body: bytes | str = b""
    content_type: str = "text/plain; charset=utf-8"

    def serve(self, r: Responder) -> None:
        data = _as_bytes(self.body)
        extra = list((self.headers or {}).items())
        r.start(self.status, [*extra, *_fixed(self.content_type, data)])
        if not r.head:
            r.write(data)


@dataclass(frozen=True)
class Flapping(Fault):
    """Cycle through ``statuses`` (500, then 200 with ``body``, then 500, …)."""

    kind: ClassVar[str] = "flapping"
    body: bytes | str = b""
    statuses: tuple[int, ...] = (500, 200)
    content_type: str = "application/rss+xml; charset=utf-8"
    _turn: itertools.count[int] = field(default_factory=itertools.count, compare=False)

    def serve(self, r: Responder) -> None:
        status = self.statuses[next(self._turn) % len(self.statuses)]
        data = _as_bytes(self.body) if 200 <= status < 300 else b"internal error\n"
        r.start(status, _fixed(self.content_type, data))
        if not r.head:
            r.write(data)


@dataclass(frozen=True)
class Garbage(Fault):
    """``size`` random bytes (the same for the same ``seed``) under a feed's content type."""

    kind: ClassVar[str] = "garbage"
    size: int = 4096
    seed: int = 0
    content_type: str = "application/rss+xml; charset=utf-8"

    def serve(self, r: Responder) -> None:
        data = random.Random(self.seed).randbytes(self.size)
        r.start(200, _fixed(self.content_type, data))
        if not r.head:
            r.write(data)


@dataclass(frozen=True)
class Empty(Fault):
    """A response with an empty body (200 unless told otherwise)."""

    kind: ClassVar[str] = "empty"
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"

    def serve(self, r: Responder) -> None:
        r.start(self.status, _fixed(self.content_type, b""))


FAULTS: dict[str, type[Fault]] = {
    cls.kind: cls
    for cls in (
        Slow,
        Hang,
        Endless,
        Reset,
        GzipBomb,
        Redirect,
        RedirectLoop,
        Status,
        Flapping,
        Garbage,
        Empty,
    )
}


def linger_reset(sock: socket.socket) -> None:
    """Make the next ``close()`` of ``sock`` send a TCP RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
