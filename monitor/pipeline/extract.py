"""Article text from page HTML with trafilatura, in a pool of worker processes.

`extract_page` is the pure step (bytes in, `ExtractedPage` out). `ExtractorPool`
runs it on every core with a time limit per page: a worker that overruns is
killed and the pool replaced, so one hostile page never holds the daemon.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime

from monitor.errors import ExtractError
from monitor.models import ExtractedPage
from monitor.text import clean_line, clean_text

MAX_TEXT = 200_000


def extract_page(html: bytes, url: str) -> ExtractedPage:
    """Main text and metadata of one page; raise `ExtractError` when there is none."""
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


def _init_worker(limit_bytes: int) -> None:
    """Runs in each worker: a page that blows up lxml fails there, not in the daemon.

    Ctrl-C reaches the whole process group; the daemon shuts the pool down itself,
    so a worker ignores SIGINT rather than dying with a traceback mid-task.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if limit_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


class ExtractorPool:
    """A process pool for `extract_page`, replaced whenever a worker hangs or dies."""

    def __init__(self, workers: int = 0, timeout: float = 30.0, memory_mb: int = 1536) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.timeout = timeout
        self.memory_bytes = memory_mb * 1024 * 1024
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["monitor.pipeline.extract", "trafilatura"])
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(self.memory_bytes,),
        )

    async def extract(self, html: bytes, url: str) -> ExtractedPage:
        """`extract_page` in a worker, within the time limit; one retry if the pool broke."""
        for attempt in (1, 2):
            pool = self._pool
            future = asyncio.get_running_loop().run_in_executor(pool, extract_page, html, url)
            try:
                return await asyncio.wait_for(future, self.timeout)
            except TimeoutError as exc:
                self._replace(pool)
                raise ExtractError(url, f"extraction took longer than {self.timeout:g} s") from exc
            except BrokenProcessPool as exc:
                self._replace(pool)
                if attempt == 2:
                    raise ExtractError(url, "the extraction worker died (memory limit?)") from exc
            except MemoryError as exc:
                raise ExtractError(url, "the page needs more memory than allowed") from exc
        raise AssertionError("unreachable")

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Kill a pool's workers (a hung one cannot be cancelled) and start a fresh pool."""
        if broken is not self._pool:
            return
        processes = list(getattr(broken, "_processes", {}).values())
        for process in processes:
            process.kill()
        broken.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
