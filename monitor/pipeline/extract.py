"""Article text from page HTML with trafilatura, in a pool of worker processes.

`extract_page` is the pure step (bytes in, `ExtractedPage` out). `ExtractorPool`
runs it on every core with a time limit per page: a worker that overruns is
killed and replaced, so one hostile page never holds the daemon.
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
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess

from monitor.errors import ExtractError
from monitor.models import ExtractedPage
from monitor.text import clean_line, clean_text

MAX_TEXT = 200_000


def extract_page(html: bytes, url: str, *, fast: bool = True) -> ExtractedPage:
    """Main text and metadata of one page; raise `ExtractError` when there is none.

    ``fast``: trafilatura's fast mode. Measured on 181 real pages with ground truth
    (bench/results/summary.md): 1.39x the pages per CPU-second for the same F1 (0.959
    against 0.957); ``fast=False`` is kept for that comparison."""
    import trafilatura
    from trafilatura.settings import Document

    try:
        document = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            favor_precision=False,
            fast=fast,
        )
    except Exception as exc:  # trafilatura and lxml raise many kinds on hostile pages
        raise ExtractError(url, f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(document, Document) or not document.text:
        raise ExtractError(url, "no main text found on the page")
    return ExtractedPage(
        text=clean_text(document.text, MAX_TEXT),
        title=clean_line(document.title) or None,
        author=clean_line(document.author, 300) or None,
        published=_date(document.date),
        language=clean_line(document.language, 16) or None,
        canonical_url=_http(document.url),
        site_name=clean_line(document.sitename, 200) or None,
    )


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _http(value: str | None) -> str | None:
    if value and value.lower().startswith(("http://", "https://")) and len(value) <= 2048:
        return value
    return None


FRAME = struct.Struct("!I")


def _serve(connection: socket.socket, limit_bytes: int) -> None:
    """A worker process: extract each page sent on ``connection`` until it is closed.

    Ctrl-C reaches the whole process group; the daemon shuts the pool down itself,
    so a worker ignores SIGINT rather than dying with a traceback mid-task. The
    memory limit makes a page that blows up lxml fail here, not in the daemon.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if limit_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    with connection:
        while True:
            try:
                html, url = pickle.loads(_receive(connection))
            except EOFError:
                return
            reply: tuple[str, object]
            try:
                reply = ("page", extract_page(html, url))
            except ExtractError as exc:
                reply = ("error", exc.reason)
            except MemoryError:
                reply = ("error", "the page needs more memory than allowed")
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
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
            self.writer.close()
        else:
            self.connection.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


class ExtractorPool:
    """Worker processes for `extract_page`, each talking to the event loop over a
    socket of its own.

    No threads: a `ProcessPoolExecutor` hands pages over through a manager thread
    and a queue feeder thread, and every hand-off then waits for the GIL (measured:
    5 ms a page, the largest single cost of the ingest). A worker that overruns the
    time limit or dies is killed and replaced; the others go on.
    """

    def __init__(self, workers: int = 0, timeout: float = 30.0, memory_mb: int = 1536) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.timeout = timeout
        self.memory_bytes = memory_mb * 1024 * 1024
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["monitor.pipeline.extract", "trafilatura"])
        self._all = [self._start() for _ in range(self.workers)]
        self._idle: asyncio.Queue[_Worker] | None = None

    def _start(self) -> _Worker:
        ours, theirs = socket.socketpair()
        process = self._context.Process(
            target=_serve, args=(theirs, self.memory_bytes), name="monitor-extract", daemon=True
        )
        process.start()
        theirs.close()
        return _Worker(process, ours)

    async def extract(self, html: bytes, url: str) -> ExtractedPage:
        """`extract_page` in a worker process, within the time limit."""
        if self._idle is None:
            self._idle = asyncio.Queue()
            for worker in self._all:
                self._idle.put_nowait(worker)
        worker = await self._idle.get()
        try:
            kind, value = await asyncio.wait_for(self._ask(worker, html, url), self.timeout)
        except TimeoutError as exc:
            self._replace(worker)
            raise ExtractError(url, f"extraction took longer than {self.timeout:g} s") from exc
        except (EOFError, asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            self._replace(worker)
            raise ExtractError(url, "the extraction worker died (memory limit?)") from exc
        except BaseException:  # cancelled mid-page: the worker's state is unknown
            self._replace(worker)
            raise
        self._idle.put_nowait(worker)
        if kind == "error":
            raise ExtractError(url, str(value))
        assert isinstance(value, ExtractedPage)
        return value

    @staticmethod
    async def _ask(worker: _Worker, html: bytes, url: str) -> tuple[str, object]:
        reader, writer = await worker.streams()
        data = pickle.dumps((html, url), protocol=pickle.HIGHEST_PROTOCOL)
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
