"""The database and mail threads, and what runs in them.

The worker and scheduler tasks make their store calls, and compose and send mail, off
the process's event loop, which also carries procrastinate's heartbeats and the signals:
a database that goes silent in the middle of a task holds only that task (the store and
digest calls are replaced by recorders of the thread they run in). A call stuck on the
database shows in ``/healthz``, and does not make a stop wait for the mail thread's
longer SMTP wait."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import procrastinate
import pytest
from procrastinate.testing import InMemoryConnector

from monitor import metrics
from monitor.config import load_config
from monitor.digest.run import DeliveryReport
from monitor.pipeline.match import build_matcher
from monitor.runtime.resources import open_pipeline
from monitor.runtime.workers import tasks
from monitor.storage.thread import DatabaseThread, LoopThread, close_together


class Threads:
    """Where each recorded call ran: the loop's thread or another."""

    def __init__(self) -> None:
        self.loop_thread = threading.get_ident()
        self.calls: dict[str, bool] = {}

    def record(self, name: str) -> None:
        self.calls[name] = threading.get_ident() == self.loop_thread

    def sync(self, name: str, result: object) -> Callable[..., Any]:
        def call(*args: object, **kwargs: object) -> object:
            self.record(name)
            return result

        return call

    def report(self, name: str) -> Callable[..., Any]:
        async def call(*args: object, **kwargs: object) -> DeliveryReport:
            self.record(name)
            return DeliveryReport()

        return call


def context_of(runtime: tasks.Runtime) -> procrastinate.JobContext:
    return cast(procrastinate.JobContext, SimpleNamespace(additional_context={"runtime": runtime}))


@asynccontextmanager
async def worker_runtime(config_dir: Path) -> AsyncIterator[tasks.Runtime]:
    config = load_config(config_dir / "monitor.yaml")
    app = procrastinate.App(connector=InMemoryConnector())
    async with open_pipeline(config, build_matcher(config.topics, config.term_lists)) as pipe:
        yield tasks.Runtime(config, pipe.store, app, pipe)


def test_worker_tasks_run_store_calls_and_mail_off_the_loop(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def go() -> Threads:
        threads = Threads()
        async with worker_runtime(config_dir) as runtime:
            monkeypatch.setattr(tasks.jobs.schedule, "claim_once", threads.sync("claim_once", True))
            digests = runtime.work().digests
            monkeypatch.setattr(digests, "run", threads.report("digest"))
            monkeypatch.setattr(digests, "deliver", threads.report("deliver"))
            monkeypatch.setattr(runtime.store, "feed_by_id", threads.sync("feed_by_id", None))
            monkeypatch.setattr(runtime.store, "prune", threads.sync("prune", []))
            monkeypatch.setattr(tasks.jobs.schedule, "forget_claims", threads.sync("forget", 0))
            context = context_of(runtime)
            await tasks.send_digest(context, "ana", "2026-12-04T08:00+00:00")
            await tasks.WORKER_TASKS["deliver_outbox"][0](context, 0)
            await tasks.WORKER_TASKS["prune"][0](context, 0)
            await tasks.poll_feed(context, 1)
        return threads

    threads = asyncio.run(go())
    assert threads.calls == {
        "claim_once": False,
        "digest": False,
        "deliver": False,
        "prune": False,
        "forget": False,
        "feed_by_id": False,
    }


def test_scheduler_tasks_run_store_calls_off_the_loop(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def go() -> Threads:
        threads = Threads()
        config = load_config(config_dir / "monitor.yaml")
        store = cast(Any, SimpleNamespace())
        app = procrastinate.App(connector=InMemoryConnector())
        runtime = tasks.Runtime(config, store, app)
        monkeypatch.setattr(tasks.schedule, "claim_due_feeds", threads.sync("claim", []))
        try:
            await tasks.schedule_feeds(context_of(runtime), 0)
        finally:
            runtime.close(5)
        return threads

    threads = asyncio.run(go())
    assert threads.calls == {"claim": False}


def test_health_names_a_database_call_stuck_past_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics, "STUCK_CALL_SECONDS", 0.2)
    liveness = metrics.Liveness("daemon")
    database = DatabaseThread()
    liveness.watch("database_thread", database.busy_seconds)
    release = threading.Event()

    async def go() -> tuple[tuple[bool, dict[str, object]], tuple[bool, dict[str, object]]]:
        stuck = asyncio.ensure_future(database.run(release.wait, 30))
        await asyncio.sleep(0.5)
        during = liveness.report()
        release.set()
        await stuck
        return during, liveness.report()

    try:
        (healthy, body), (healthy_after, body_after) = asyncio.run(go())
    finally:
        release.set()
        database.close(5)
    assert not healthy and body["status"] == "unhealthy", body
    assert str(body["database_thread"]).startswith("one call waiting for"), body
    assert healthy_after and body_after["database_thread"] == "ok", body_after


def test_a_mail_thread_held_by_a_store_call_does_not_hold_the_stop() -> None:
    """Its loop cannot take the stop, so the SMTP wait (here 300 s) is not waited."""
    database, mail = DatabaseThread(), LoopThread("mail")
    release = threading.Event()

    async def store_call_in_the_mail_loop() -> None:
        release.wait(120)  # synchronous, as a store call on a silent database is

    async def start() -> None:
        waiting = asyncio.ensure_future(mail.run(store_call_in_the_mail_loop))
        await asyncio.sleep(0.2)
        waiting.cancel()  # the mail loop, held, cannot act on it

    asyncio.run(start())
    result: list[bool] = []
    closing = threading.Thread(target=lambda: result.append(close_together(database, 1, mail, 300)))
    closing.start()
    closing.join(60)  # a hang guard, not a measurement
    release.set()
    assert not closing.is_alive(), "the stop waited for the mail thread's SMTP wait"
    assert result == [True]  # the database thread itself was idle
