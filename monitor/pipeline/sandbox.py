"""Worker processes for the steps that read untrusted bytes: feed parsing and page
extraction.

Both run third-party parsers (feedparser, trafilatura, lxml) whose cost on hostile
input can be super-linear: a description of many HTML comments took feedparser
minutes, and while it ran in the daemon's own process nothing else did. Here each
job runs in a worker process under a time limit (a worker that overruns is killed
and replaced) and a memory limit (``RLIMIT_AS``: a job that blows up fails in its
worker), so one hostile feed or page costs one worker for at most the limit, and
the event loop, the other feeds and ``/healthz`` go on.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import resource
import signal
import socket
import struct
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Literal

from monitor.errors import ExtractError, FeedParseError
from monitor.models import ExtractedPage, ParsedFeed
from monitor.pipeline.extract import extract_page
from monitor.pipeline.parse import parse_feed

Job = Literal["extract", "parse"]
FRAME = struct.Struct("!I")
DEFAULT_MEMORY_MB = 1536


def _run(job: Job, args: tuple[object, ...]) -> tuple[str, object]:
    """One job in a worker: ``("ok", value)`` or ``("error", reason)``."""
    try:
        if job == "extract":
            html, url = args
            assert isinstance(html, bytes) and isinstance(url, str)
            return "ok", extract_page(html, url)
        body, url, content_type = args
        assert isinstance(body, bytes) and isinstance(url, str)
        assert content_type is None or isinstance(content_type, str)
        return "ok", parse_feed(body, url, content_type)
    except (ExtractError, FeedParseError) as exc:
        return "error", exc.reason
    except MemoryError:
        return "error", f"the {_WHAT[job]} needs more memory than allowed"
    except RecursionError:
        return "error", f"the {_WHAT[job]} is nested too deeply to read"


_WHAT: dict[Job, str] = {"extract": "page", "parse": "feed"}


def _serve(connection: socket.socket, limit_bytes: int) -> None:
    """A worker process: run each job sent on ``connection`` until it is closed.

    Ctrl-C reaches the whole process group; the daemon shuts the pool down itself,
    so a worker ignores SIGINT rather than dying with a traceback mid-job.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if limit_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    with connection:
        while True:
            try:
                job, args = pickle.loads(_receive(connection))
            except EOFError:
                return
            data = pickle.dumps(_run(job, args), protocol=pickle.HIGHEST_PROTOCOL)
            connection.sendall(FRAME.pack(len(data)) + data)


def _receive(connection: socket.socket) -> bytes:
    size = FRAME.unpack(_exactly(connection, FRAME.size))[0]
    return _exactly(connection, size)


def _exactly(connection: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = connection.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


@dataclass
class _Worker:
    process: BaseProcess
    connection: socket.socket
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    async def streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(sock=self.connection)
        return self.reader, self.writer

    def stop(self, *, kill: bool) -> None:
        if kill:
            self.process.kill()
        # Shut the socket down now: closing its asyncio writer only takes effect on a
        # later turn of the loop, and the join below would wait for an EOF not yet sent.
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        if self.writer is not None:
            with suppress(RuntimeError):  # its loop has ended: the socket is closed below
                self.writer.close()
        self.connection.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


class _Overrun(Exception):
    """The job took too long or killed its worker; ``reason`` says which."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


class Sandbox:
    """Worker processes for `parse_feed` and `extract_page`, each talking to the event
    loop over a socket of its own.

    No threads: a `ProcessPoolExecutor` hands jobs over through a manager thread and
    a queue feeder thread, and every hand-off then waits for the GIL (measured: 5 ms a
    page, the largest single cost of the ingest). A worker that overruns the time
    limit or dies is killed and replaced; the others go on.
    """

    def __init__(
        self, workers: int = 0, timeout: float = 30.0, memory_mb: int = DEFAULT_MEMORY_MB
    ) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.timeout = timeout
        self.memory_bytes = memory_mb * 1024 * 1024
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(
            ["monitor.pipeline.sandbox", "trafilatura", "feedparser"]
        )
        self._all = [self._start() for _ in range(self.workers)]
        self._idle: asyncio.Queue[_Worker] | None = None

    def _start(self) -> _Worker:
        ours, theirs = socket.socketpair()
        process = self._context.Process(
            target=_serve, args=(theirs, self.memory_bytes), name="monitor-sandbox", daemon=True
        )
        process.start()
        theirs.close()
        return _Worker(process, ours)

    async def extract(self, html: bytes, url: str) -> ExtractedPage:
        """`extract_page` in a worker process, within the limits; raise `ExtractError`."""
        try:
            kind, value = await self._call("extract", (html, url))
        except _Overrun as exc:
            raise ExtractError(url, f"extraction {exc.reason}", transient=exc.timed_out) from None
        if kind == "error":
            raise ExtractError(url, str(value))
        assert isinstance(value, ExtractedPage)
        return value

    async def parse_feed(self, body: bytes, url: str, content_type: str | None) -> ParsedFeed:
        """`parse_feed` in a worker process, within the limits; raise `FeedParseError`."""
        try:
            kind, value = await self._call("parse", (body, url, content_type))
        except _Overrun as exc:
            raise FeedParseError(url, f"parsing the feed {exc.reason}") from None
        if kind == "error":
            raise FeedParseError(url, str(value))
        assert isinstance(value, ParsedFeed)
        return value

    async def _call(self, job: Job, args: tuple[object, ...]) -> tuple[str, object]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for worker in self._all:
                self._idle.put_nowait(worker)
        worker = await self._idle.get()
        try:
            reply = await asyncio.wait_for(self._ask(worker, job, args), self.timeout)
        except TimeoutError:
            self._replace(worker)
            raise _Overrun(f"took longer than {self.timeout:g} s", timed_out=True) from None
        except (EOFError, asyncio.IncompleteReadError, ConnectionError, OSError):
            self._replace(worker)
            raise _Overrun("killed its worker process (memory limit?)") from None
        except BaseException:  # cancelled mid-job: the worker's state is unknown
            self._replace(worker)
            raise
        self._idle.put_nowait(worker)
        return reply

    @staticmethod
    async def _ask(worker: _Worker, job: Job, args: tuple[object, ...]) -> tuple[str, object]:
        reader, writer = await worker.streams()
        data = pickle.dumps((job, args), protocol=pickle.HIGHEST_PROTOCOL)
        writer.write(FRAME.pack(len(data)) + data)
        await writer.drain()
        size = FRAME.unpack(await reader.readexactly(FRAME.size))[0]
        reply: tuple[str, object] = pickle.loads(await reader.readexactly(size))
        return reply

    def _replace(self, broken: _Worker) -> None:
        """Kill a worker (a hung one cannot be interrupted) and start a fresh one."""
        broken.stop(kill=True)
        fresh = self._start()
        self._all = [fresh if w is broken else w for w in self._all]
        if self._idle is not None:
            self._idle.put_nowait(fresh)

    def close(self) -> None:
        for worker in self._all:
            worker.stop(kill=False)
