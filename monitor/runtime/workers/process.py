"""A worker or scheduler process from start to shutdown.

Both open the store (migrating it), make sure the task engine's tables exist, serve
metrics and health when asked, and run a procrastinate worker on their queues until
SIGTERM/SIGINT, through database outages (`_run_until_stopped`). On a signal, a worker
stops taking jobs, lets the running ones finish within ``workers.shutdown_grace_seconds``
and puts the rest back in the queue for another worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from procrastinate import App

from monitor.config import Config
from monitor.log import get_logger
from monitor.pipeline.match import Matcher
from monitor.runtime.resources import MetricsServing, open_pipeline, open_store, serve_metrics
from monitor.runtime.workers import engine
from monitor.runtime.workers.tasks import Runtime, build_task_app, entry_queue

log = get_logger("monitor.worker")

RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 60.0
STOP_WAIT_SECONDS = 5.0  # for a store call stuck on a silent database, at exit


async def run_worker(
    config: Config, matcher: Matcher, *, concurrency: int, metrics_listen: str | None
) -> None:
    """Run poll, page and mail tasks until stopped."""
    app = build_task_app(config, scheduler=False, pool_size=concurrency + 2)
    async with app.open_async(), _serving(config, "worker", metrics_listen) as serving:
        await engine.ensure_schema(app)
        async with open_pipeline(config, matcher, entry_queue=entry_queue(app)) as pipeline:
            if serving is not None:
                serving.liveness.watch("database_thread", pipeline.database.busy_seconds)
            runtime = Runtime(config, pipeline.store, app, pipeline)
            log.info("worker.started", concurrency=concurrency, queues=engine.WORKER_QUEUES)
            await _run_until_stopped(
                app,
                "worker",
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
    async with app.open_async(), _serving(config, "scheduler", metrics_listen) as serving:
        await engine.ensure_schema(app)
        store = await open_store(config.settings.database.url, None)
        try:
            store.sync_feeds(config.feeds)
            runtime = Runtime(config, store, app)
            if serving is not None:
                serving.liveness.watch("database_thread", runtime.database.busy_seconds)
            log.info("scheduler.started", feeds=len(config.feeds))
            try:
                await _run_until_stopped(
                    app,
                    "scheduler",
                    queues=list(engine.SCHEDULER_QUEUES),
                    concurrency=1,
                    name=_name("scheduler"),
                    additional_context={"runtime": runtime},
                    **engine.worker_options(config.settings.workers),
                )
            finally:
                runtime.close(STOP_WAIT_SECONDS)
        finally:
            store.close()
    log.info("scheduler.stopped")


async def _run_until_stopped(app: App, role: str, **options: Any) -> None:
    """procrastinate's worker loop, until SIGTERM or SIGINT, restarted whenever it ends
    by itself.

    procrastinate stops its worker when a side task fails, as the LISTEN connection does
    when the database resets connections, and returns as if asked to stop: the process
    would exit 0, and an orchestrator that restarts only failures would leave it down.
    So the signals are ours, and anything else that ends the loop is an outage: logged
    (``<role>.interrupted``), waited out with backoff, and the loop started again (the
    connection pool reconnects; ``<role>.resumed`` once it runs again).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    delay = RESTART_FIRST_DELAY
    try:
        while not stop.is_set():
            started = loop.time()
            ended = await _run_once(app, stop, install_signal_handlers=False, **options)
            if ended is None:  # stopped by a signal
                return
            if loop.time() - started > RESTART_MAX_DELAY:
                delay = RESTART_FIRST_DELAY  # it ran a good while: a new outage
            log.error(f"{role}.interrupted", error=ended, retry_in=delay)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, RESTART_MAX_DELAY)
            if not stop.is_set():
                log.info(f"{role}.resumed")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _run_once(app: App, stop: asyncio.Event, **options: Any) -> str | None:
    """Run the worker loop until ``stop`` (None) or until it ends by itself (why)."""
    run = asyncio.create_task(app.run_worker_async(**options))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({run, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if stop.is_set():
        run.cancel()  # procrastinate then stops gracefully, within its shutdown grace
        with suppress(asyncio.CancelledError, Exception):
            await run
        return None
    stopping.cancel()
    error = run.exception()
    if error is None:
        return "the task engine stopped by itself (a database connection failed)"
    return f"{type(error).__name__}: {error}"


@asynccontextmanager
async def _serving(
    config: Config, role: str, listen: str | None
) -> AsyncIterator[MetricsServing | None]:
    listen = listen or config.settings.metrics.listen
    if listen is None:
        yield None
        return
    serving = serve_metrics(config, role, listen)
    try:
        yield serving
    finally:
        await serving.close()


def _name(role: str) -> str:
    return f"{role}@{socket.gethostname()}:{os.getpid()}"
