"""What each task does. Every task is safe to run twice: a retry after a crash, or
the rare second run, finds the work done (idempotent writes, claims) and stops.

Worker tasks run the work of `monitor.jobs`: ``poll_feed`` (one feed: fetch, parse,
queue its new entries), ``ingest_entries`` (a few entries: fetch page, extract, match,
dedup, store, alerts), ``send_digest`` (one subscriber's digest for one scheduled slot)
and one task per periodic job (`jobs.periodic`: ``retry_pages``, ``deliver_outbox``,
``prune``, ``write_atom``). Scheduler tasks decide what is due: ``schedule_feeds``,
``schedule_digests`` and ``retry_stalled``; schedulers also defer the periodic jobs,
with the periods the daemon uses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
from apscheduler.triggers.base import BaseTrigger
from procrastinate.exceptions import AlreadyEnqueued

from monitor import jobs
from monitor.config import Config
from monitor.log import get_logger
from monitor.models import Entry, FeedRecord, utcnow
from monitor.pipeline.run import Pipeline
from monitor.runtime.workers import engine
from monitor.storage import schedule
from monitor.storage.store import Store
from monitor.storage.thread import DatabaseThread

log = get_logger("monitor.tasks")
ENTRIES_PER_TASK = 10


@dataclass
class Runtime:
    """What tasks in one process share; handed to each task in its job context.

    Tasks make their store calls in ``database``, and workers compose and send mail in
    the pipeline's ``mail`` thread, never on the loop, which also runs procrastinate's
    heartbeats and the signals. A worker's ``database`` is its pipeline's, so tasks and
    the pipeline's work keep one order of database calls."""

    config: Config
    store: Store
    app: procrastinate.App
    pipeline: Pipeline | None = None  # workers only
    database: DatabaseThread = field(init=False)
    _work: jobs.Work | None = field(default=None, init=False, repr=False)
    _feeds: dict[int, FeedRecord] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.database = self.pipeline.database if self.pipeline else DatabaseThread()
        if self.pipeline is not None:
            self._work = jobs.Work.of(self.pipeline)

    def close(self, wait_seconds: float) -> None:
        """End the database thread if this runtime started it (a worker's is its
        pipeline's, ended with it)."""
        if self.pipeline is None and not self.database.close(wait_seconds):
            log.warning("scheduler.database_busy", seconds=wait_seconds)

    async def feed(self, feed_id: int) -> FeedRecord | None:
        """A feed's identity for ingesting its entries (its poll state is not needed,
        so a copy read once serves every entry of the feed)."""
        if feed_id not in self._feeds:
            record = await self.database.run(self.store.feed_by_id, feed_id)
            if record is None:
                return None
            self._feeds[feed_id] = record
        return self._feeds[feed_id]

    def work(self) -> jobs.Work:
        if self._work is None:
            raise RuntimeError("this task runs on workers, not on the scheduler")
        return self._work


def entry_queue(app: procrastinate.App) -> Callable[[FeedRecord, list[Entry]], Awaitable[None]]:
    """How a worker's pipeline hands a feed's new entries on: as tasks of up to
    `ENTRIES_PER_TASK`, spread over all workers (a task per entry cost more in the queue
    than the entry's work).

    The queueing lock keeps one waiting task per batch, so a feed polled again before
    its entries are done does not queue them twice."""

    async def queue(record: FeedRecord, entries: list[Entry]) -> None:
        for start in range(0, len(entries), ENTRIES_PER_TASK):
            batch = entries[start : start + ENTRIES_PER_TASK]
            keys = hashlib.sha256("\n".join(entry.key for entry in batch).encode())
            lock = f"entries:{record.id}:{keys.hexdigest()[:24]}"
            task = app.configure_task("ingest_entries", queueing_lock=lock)
            try:
                await task.defer_async(
                    feed_id=record.id, entries=[entry_to_json(entry) for entry in batch]
                )
            except AlreadyEnqueued:
                continue

    return queue


def runtime_of(context: procrastinate.JobContext) -> Runtime:
    runtime = context.additional_context["runtime"]
    assert isinstance(runtime, Runtime)
    return runtime


# --- worker tasks -------------------------------------------------------------


async def poll_feed(context: procrastinate.JobContext, feed_id: int) -> None:
    runtime = runtime_of(context)
    record = await runtime.database.run(runtime.store.feed_by_id, feed_id)
    if record is None:  # removed since it was scheduled
        return
    await jobs.poll_feed(runtime.work(), record)


async def ingest_entries(
    context: procrastinate.JobContext, feed_id: int, entries: list[dict[str, Any]]
) -> None:
    runtime = runtime_of(context)
    record = await runtime.feed(feed_id)
    if record is None:
        return
    batch = [entry_from_json(entry) for entry in entries]
    await jobs.ingest_entries(runtime.work(), record, batch)


async def send_digest(context: procrastinate.JobContext, subscriber: str, slot: str) -> None:
    """One subscriber's digest for the slot ``slot`` — once, however often it is run."""
    await jobs.send_digest(runtime_of(context).work(), subscriber, slot)


def periodic_task(job_name: str) -> engine.TaskFunction:
    """The worker task that runs the periodic job ``job_name`` of `jobs.periodic`."""

    async def run(context: procrastinate.JobContext, timestamp: int) -> None:
        runtime = runtime_of(context)
        (job,) = [j for j in jobs.periodic(runtime.config) if j.name == job_name]
        await job.run(runtime.work())

    run.__name__ = job_name
    return run


# --- scheduler tasks ----------------------------------------------------------


async def schedule_feeds(context: procrastinate.JobContext, timestamp: int) -> None:
    """Claim the feeds that are due and queue one poll each."""
    runtime = runtime_of(context)
    settings = runtime.config.settings.workers
    urls = {spec.url for spec in runtime.config.feeds}
    lease = timedelta(minutes=settings.poll_lease_minutes)
    claimed = await runtime.database.run(
        schedule.claim_due_feeds, runtime.store, urls, utcnow(), lease
    )
    for feed_id in claimed:
        task = runtime.app.configure_task(
            "poll_feed", lock=f"feed:{feed_id}", queueing_lock=f"poll:{feed_id}"
        )
        try:
            await task.defer_async(feed_id=feed_id)
        except AlreadyEnqueued:
            continue
    if claimed:
        log.info("schedule.feeds_queued", feeds=len(claimed))


async def schedule_digests(context: procrastinate.JobContext, timestamp: int) -> None:
    """Queue the digests whose scheduled time fell within the minute of ``timestamp``."""
    runtime = runtime_of(context)
    tick = datetime.fromtimestamp(timestamp, UTC)
    for subscriber in runtime.config.settings.subscribers:
        fire = due_slot(jobs.subscriber_trigger(subscriber), tick)
        if fire is None:
            continue
        slot = fire.isoformat(timespec="minutes")
        task = runtime.app.configure_task(
            "send_digest", queueing_lock=f"digest:{subscriber.name}:{slot}"
        )
        try:
            await task.defer_async(subscriber=subscriber.name, slot=slot)
        except AlreadyEnqueued:
            continue


def due_slot(trigger: BaseTrigger, tick: datetime) -> datetime | None:
    """The scheduled time (UTC) within the minute ending at ``tick``, if there is one."""
    fire: datetime | None = trigger.get_next_fire_time(None, tick - timedelta(seconds=59))
    if fire is None or fire > tick:
        return None
    return fire.astimezone(UTC)


async def retry_stalled(context: procrastinate.JobContext, timestamp: int) -> None:
    """Put the jobs of workers that stopped sending heartbeats back in the queue."""
    runtime = runtime_of(context)
    manager = runtime.app.job_manager
    stalled_after = runtime.config.settings.workers.stalled_after_seconds
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        await manager.retry_job(job)
        log.warning("task.stalled_retried", job=job.id, task=job.task_name)


# Every periodic job of any configuration has its task (which ones are deferred depends
# on the configuration: `build_task_app`).
WORKER_TASKS: dict[str, tuple[engine.TaskFunction, str]] = {
    "poll_feed": (poll_feed, engine.QUEUE_POLL),
    "ingest_entries": (ingest_entries, engine.QUEUE_PAGE),
    "send_digest": (send_digest, engine.QUEUE_MAIL),
    "retry_pages": (periodic_task("retry_pages"), engine.QUEUE_PAGE),
    "deliver_outbox": (periodic_task("deliver_outbox"), engine.QUEUE_MAIL),
    "prune": (periodic_task("prune"), engine.QUEUE_PAGE),
    "write_atom": (periodic_task("write_atom"), engine.QUEUE_MAIL),
}
SCHEDULER_TASKS: dict[str, tuple[engine.TaskFunction, str]] = {
    "schedule_feeds": (schedule_feeds, engine.QUEUE_SCHEDULE),
    "schedule_digests": (schedule_digests, engine.QUEUE_SCHEDULE),
    "retry_stalled": (retry_stalled, engine.QUEUE_SCHEDULE),
}


def build_task_app(config: Config, *, scheduler: bool, pool_size: int) -> procrastinate.App:
    """Every process knows every task (to defer it); only schedulers defer periodic ones."""
    app = engine.build_app(
        config.settings.database.url, {**WORKER_TASKS, **SCHEDULER_TASKS}, pool_size=pool_size
    )
    if scheduler:
        every = config.settings.workers.schedule_seconds
        engine.add_periodic(app, "schedule_feeds", f"* * * * * */{every}")
        engine.add_periodic(app, "retry_stalled", "* * * * * */10")
        engine.add_periodic(app, "schedule_digests", "* * * * *")
        for job in jobs.periodic(config):  # the daemon's periodic work, with its periods
            engine.add_periodic(app, job.name, jobs.cron_for(job.every))
    return app


def entry_to_json(entry: Entry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "link": entry.link,
        "title": entry.title,
        "summary": entry.summary,
        "published": entry.published.isoformat() if entry.published else None,
        "author": entry.author,
        "guid": entry.guid,
    }


def entry_from_json(data: dict[str, Any]) -> Entry:
    published = data.get("published")
    return Entry(
        key=str(data["key"]),
        link=data.get("link"),
        title=str(data.get("title") or ""),
        summary=str(data.get("summary") or ""),
        published=datetime.fromisoformat(published) if published else None,
        author=data.get("author"),
        guid=data.get("guid"),
    )
