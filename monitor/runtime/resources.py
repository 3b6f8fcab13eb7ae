"""The long-lived resources of a process, opened in one place for every runtime.

`open_pipeline` creates the store, the HTTP client, the extraction pool and the matcher's
pipeline, and releases them in reverse order; `monitor run`, `monitor poll --once` and the
workers all use it. `serve_metrics` serves ``/metrics`` and ``/healthz`` for a process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING

from monitor.config import Config
from monitor.errors import DatabaseFileError, DatabaseReplacedError, StorageError
from monitor.log import get_logger
from monitor.pipeline.dedup_stage import Deduplicator
from monitor.pipeline.fetch import Fetcher
from monitor.pipeline.match import Matcher
from monitor.pipeline.run import EntryQueue, Pipeline
from monitor.pipeline.sandbox import Sandbox
from monitor.storage.store import Store
from monitor.storage.thread import DatabaseThread, close_together

if TYPE_CHECKING:
    from monitor.metrics import Liveness

log = get_logger("monitor.daemon")
DATABASE_CLOSE_SECONDS = 5.0  # at exit: the calls still queued may finish
MIN_CLOSE_SECONDS = 1.0
STORE_RETRY_MAX_SECONDS = 60.0


@asynccontextmanager
async def open_pipeline(
    config: Config,
    matcher: Matcher,
    *,
    stop: asyncio.Event | None = None,
    entry_queue: EntryQueue | None = None,
) -> AsyncIterator[Pipeline]:
    """The pipeline with its resources, released in reverse order on exit.

    With ``stop`` (the daemon), an unreachable or locked database is waited for, with
    backoff, until it answers or ``stop`` is set; without it, the error is raised.
    With ``entry_queue`` (workers), a feed's new entries are handed to it instead of
    being ingested in this process.

    A damaged SQLite file is raised before any work: waiting does not mend it. One found
    damaged, deleted or replaced later sets ``stop`` (see `FileWatch`) and is raised once
    the resources are released, so that the command exits non-zero.
    """
    store = await open_store(config.settings.database.url, stop)
    watch = FileWatch(stop, asyncio.get_running_loop())
    store.on_file_error = watch
    extraction = config.settings.extraction
    sandbox = Sandbox(extraction.workers, extraction.timeout_seconds, extraction.memory_mb)
    try:
        store.check_integrity()
        async with Fetcher(config.settings.http) as fetcher:
            database = DatabaseThread()
            # On PostgreSQL other processes may store articles too.
            dedup = Deduplicator(
                store,
                config.settings.dedup,
                shared=store.dialect == "postgresql",
                database=database,
            )
            pipeline = Pipeline(
                config,
                store,
                fetcher,
                sandbox,
                matcher,
                database=database,
                dedup=dedup,
                entry_queue=entry_queue,
            )
            try:
                yield pipeline
            finally:
                # A mail the server has whole is waited for, up to the SMTP timeout.
                mail_wait = max(DATABASE_CLOSE_SECONDS, config.settings.smtp.timeout)
                wait = _close_wait(pipeline)
                if not close_together(pipeline.database, wait, pipeline.mail, mail_wait):
                    log.warning(
                        "daemon.database_busy",
                        seconds=round(wait, 1),
                        advice="a database call is still waiting on the server; it is "
                        "abandoned (the server rolls back what it had not committed)",
                    )
    finally:
        sandbox.close()
        store.close()
    if watch.error is not None:
        raise watch.error


def _close_wait(pipeline: Pipeline) -> float:
    """What the database thread is given at exit: `DATABASE_CLOSE_SECONDS`, or, when the
    daemon is stopping, what is left of its grace (at least `MIN_CLOSE_SECONDS`, for
    the cleanup calls of cancelled work)."""
    if pipeline.stop_deadline is None:
        return DATABASE_CLOSE_SECONDS
    left = pipeline.stop_deadline - asyncio.get_running_loop().time()
    return max(MIN_CLOSE_SECONDS, left)


async def open_store(url: str, stop: asyncio.Event | None) -> Store:
    delay = 1.0
    while True:
        try:
            return Store.open(url)
        except StorageError as exc:
            if stop is None or isinstance(exc, DatabaseFileError):  # waiting cannot mend it
                raise
            log.error("store.unavailable", error=str(exc), retry_in=delay)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                delay = min(delay * 2, STORE_RETRY_MAX_SECONDS)
                continue
            raise


class FileWatch:
    """Stops the daemon at the first sign that its database file needs an operator.

    Every later poll would fail the same way, so running on would only fetch pages it
    cannot store, and hide the failure from the supervisor; the daemon stops instead (exit
    1 from `monitor run`), logging the error once. One exception: while the copy of a
    deleted file could not be saved (`DatabaseReplacedError` without ``rescued_to``), the
    daemon keeps running, because its open file is the only place that data still exists;
    the store tries the copy again before later writes, and the daemon stops once it is
    made. Without ``stop`` (`monitor poll --once`) the pass runs to its end.
    """

    def __init__(self, stop: asyncio.Event | None, loop: asyncio.AbstractEventLoop) -> None:
        self.stop = stop
        self.loop = loop
        self.error: DatabaseFileError | None = None

    def __call__(self, error: DatabaseFileError) -> None:
        if self.error is not None and str(self.error) == str(error):
            return
        self.error = error
        log.error("database.unusable", database=str(error.path), error=str(error))
        if self.stop is None or (
            isinstance(error, DatabaseReplacedError) and error.rescued_to is None
        ):
            return
        self.loop.call_soon_threadsafe(self.stop.set)


@dataclass
class MetricsServing:
    """``/metrics`` and ``/healthz`` of one process: the loop's heartbeat task, what
    ``/healthz`` reports (`Liveness`), and the HTTP server (None if the port was busy)."""

    beat: asyncio.Task[None]
    liveness: Liveness
    server: ThreadingHTTPServer | None

    async def close(self) -> None:
        self.beat.cancel()
        with suppress(asyncio.CancelledError):
            await self.beat
        if self.server is not None:
            self.server.shutdown()


def serve_metrics(config: Config, role: str, listen: str) -> MetricsServing:
    """Serve ``/metrics`` and ``/healthz`` for this process.

    A port that cannot be bound is logged, not fatal: the process's real work matters
    more than its dashboard."""
    from monitor import metrics
    from monitor.models import utcnow
    from monitor.storage.schedule import feeds_by_health, feeds_due, task_queue_depth

    liveness = metrics.Liveness(role)
    beat = asyncio.get_running_loop().create_task(liveness.beat(), name="liveness")
    try:
        store = Store.open(config.settings.database.url, migrate=False)
    except StorageError as exc:
        log.error("metrics.no_database", error=str(exc))
        return MetricsServing(beat, liveness, None)

    def state() -> dict[str, dict[tuple[str, ...], float]]:
        due: dict[tuple[str, ...], float] = {("feeds_due", "todo"): feeds_due(store, utcnow())}
        return {"feeds": feeds_by_health(store), "queue": task_queue_depth(store) or due}

    liveness.check_database = store.ping
    metrics.STATE.read = state
    try:
        server = metrics.serve(listen, liveness)
    except OSError as exc:
        log.error(
            "metrics.cannot_listen",
            listen=listen,
            error=str(exc),
            advice="set metrics.listen to a free host:port, or leave it empty",
        )
        return MetricsServing(beat, liveness, None)
    return MetricsServing(beat, liveness, server)
