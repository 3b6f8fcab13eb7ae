"""A worker or scheduler process from start to shutdown.

Both open the store (migrating it), make sure the task engine's tables exist, serve
metrics and health when asked, and run a procrastinate worker on their queues until
SIGTERM/SIGINT. On a signal, a worker stops taking jobs, lets the running ones
finish within ``workers.shutdown_grace_seconds`` and puts the rest back in the
queue for another worker.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from monitor.config import Config
from monitor.daemon import open_pipeline, open_store, serve_metrics
from monitor.distributed import engine
from monitor.distributed.tasks import Runtime, build_task_app
from monitor.log import get_logger
from monitor.pipeline.match import Matcher

log = get_logger("monitor.worker")


async def run_worker(
    config: Config, matcher: Matcher, *, concurrency: int, metrics_listen: str | None
) -> None:
    """Run poll, page and mail tasks until stopped."""
    app = build_task_app(config, scheduler=False, pool_size=concurrency + 2)
    async with app.open_async(), _serving(config, "worker", metrics_listen):
        await engine.ensure_schema(app)
        async with open_pipeline(config, matcher) as pipeline:
            runtime = Runtime(config, pipeline.store, app, pipeline)
            pipeline.entry_queue = runtime.queue_entries
            log.info("worker.started", concurrency=concurrency, queues=engine.WORKER_QUEUES)
            await app.run_worker_async(
                queues=list(engine.WORKER_QUEUES),
                concurrency=concurrency,
                name=_name("worker"),
                additional_context={"runtime": runtime},
                **engine.worker_options(config.settings.workers),
            )
    log.info("worker.stopped")


async def run_scheduler(config: Config, *, metrics_listen: str | None) -> None:
    """Decide what is due and queue it, until stopped. Any number may run at once."""
    app = build_task_app(config, scheduler=True, pool_size=4)
    async with app.open_async(), _serving(config, "scheduler", metrics_listen):
        await engine.ensure_schema(app)
        store = await open_store(config.settings.database.url, None)
        try:
            store.sync_feeds(config.feeds)
            runtime = Runtime(config, store, app)
            log.info("scheduler.started", feeds=len(config.feeds))
            await app.run_worker_async(
                queues=list(engine.SCHEDULER_QUEUES),
                concurrency=1,
                name=_name("scheduler"),
                additional_context={"runtime": runtime},
                **engine.worker_options(config.settings.workers),
            )
        finally:
            store.close()
    log.info("scheduler.stopped")


@asynccontextmanager
async def _serving(config: Config, role: str, listen: str | None) -> AsyncIterator[None]:
    listen = listen or config.settings.metrics.listen
    if listen is None:
        yield
        return
    beat, server = serve_metrics(config, role, listen)
    try:
        yield
    finally:
        beat.cancel()
        with suppress(asyncio.CancelledError):
            await beat
        if server is not None:
            server.shutdown()


def _name(role: str) -> str:
    return f"{role}@{socket.gethostname()}:{os.getpid()}"
