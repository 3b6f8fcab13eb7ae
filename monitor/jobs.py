"""The one list of work, which both runtimes run the same way.

The daemon runs these functions from APScheduler (`monitor.runtime.daemon`), the workers
from procrastinate (`monitor.runtime.workers.tasks`); a runtime decides only when and
where. The periodic work and its periods are `periodic`: both runtimes schedule exactly
that list (``tests/test_jobs.py``), so a job added here runs in both or fails CI.

Per-item work: `poll_feed` (one feed, then its alerts), `ingest_entries` (a worker's
batch of a feed's entries, then their alerts), `after_ingest` (alerts), `send_digest`
(one subscriber). Periodic: `retry_pages`, `deliver_outbox`, `prune`, `write_atom`.
Alerts run after a feed's poll slot is released, in the mail thread, never inside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.config import Config
from monitor.digest.alerts import check_alerts
from monitor.digest.run import DeliveryReport, Digests
from monitor.errors import StorageError
from monitor.log import get_logger
from monitor.models import Entry, FeedRecord, FeedReport, utcnow
from monitor.pipeline.retry import check_every_seconds
from monitor.pipeline.run import Pipeline, raise_first_failure
from monitor.settings import SubscriberSettings
from monitor.storage import schedule

log = get_logger("monitor.jobs")

PRUNE_EVERY = timedelta(hours=6)
OUTBOX_EVERY = timedelta(seconds=30)
CLAIMS_KEPT = timedelta(days=30)


@dataclass(frozen=True)
class Work:
    """What the work of one process runs with, and the jobs of it running now (what a
    daemon's shutdown lets finish within its grace)."""

    pipeline: Pipeline
    digests: Digests
    running: set[asyncio.Task[Any]] = field(default_factory=set)

    @classmethod
    def of(cls, pipeline: Pipeline) -> Work:
        return cls(pipeline, Digests(pipeline.store, pipeline.config))

    @contextmanager
    def job(self) -> Iterator[None]:
        """Count the current task among `running` while the block runs."""
        task = asyncio.current_task()
        assert task is not None
        self.running.add(task)
        try:
            yield
        finally:
            self.running.discard(task)


# --- per item ---------------------------------------------------------------------


async def poll_feed(work: Work, record: FeedRecord) -> FeedReport:
    """One feed, start to finish (in one of `polling.concurrency` slots), then alerts."""
    report = await work.pipeline.poll_feed(record)
    if report.articles_matched:
        await after_ingest(work)
    return report


async def ingest_entries(work: Work, record: FeedRecord, entries: list[Entry]) -> None:
    """Some of a feed's new entries (a worker's batch), then their alerts; the first
    failure is raised after the others are done, so the batch is retried."""
    outcomes = await work.pipeline.ingest_entries(record, entries)
    log.info(
        "entries.ingested",
        feed=record.url,
        entries=len(entries),
        stored=sum(o in ("stored", "matched") for o in outcomes),
        matched=outcomes.count("matched"),
        duplicates=outcomes.count("duplicate"),
        failed=sum(isinstance(o, BaseException) for o in outcomes),
    )
    if "matched" in outcomes:
        await after_ingest(work)
    raise_first_failure(outcomes)


async def after_ingest(work: Work) -> None:
    """Alert subscribers to what was just matched, in the mail thread."""
    pipeline = work.pipeline
    await pipeline.mail.run(lambda: check_alerts(pipeline.store, pipeline.config))


def subscriber_trigger(subscriber: SubscriberSettings) -> CronTrigger:
    """When ``subscriber``'s digest is due, in its own time zone (both runtimes)."""
    return CronTrigger.from_crontab(subscriber.crontab, timezone=ZoneInfo(subscriber.timezone))


async def send_digest(work: Work, subscriber: str, slot: str | None = None) -> DeliveryReport:
    """One subscriber's digest. With ``slot`` (a cluster's scheduled time), only the
    first process to claim ``digest:<subscriber>:<slot>`` sends it."""
    pipeline = work.pipeline
    if slot is not None:
        key = f"digest:{subscriber}:{slot}"
        if not await pipeline.database.run(schedule.claim_once, pipeline.store, key, utcnow()):
            log.info("digest.slot_taken", subscriber=subscriber, slot=slot)
            return DeliveryReport()
    report = await pipeline.mail.run(lambda: work.digests.run(subscriber, scheduled=True))
    log.info("digest.job", subscriber=subscriber, slot=slot, sent=report.sent)
    return report


# --- periodic ---------------------------------------------------------------------


async def retry_pages(work: Work) -> None:
    """The pages due to be fetched again (claimed: two processes take different ones)."""
    report = await work.pipeline.retry_pages()
    if report.retried:
        log.info("pages.retried", **report.__dict__)
    if report.matched:
        await after_ingest(work)


async def deliver_outbox(work: Work) -> None:
    await work.pipeline.mail.run(work.digests.deliver)


async def prune(work: Work) -> None:
    """Past retention: out of the store and this process's indexes (the other processes
    of a cluster forget it at their next catch-up), and old schedule claims."""
    pipeline = work.pipeline
    pruned = await pipeline.prune()
    await pipeline.database.run(schedule.forget_claims, pipeline.store, utcnow() - CLAIMS_KEPT)
    log.info("store.pruned", articles=len(pruned))


async def write_atom(work: Work) -> None:
    """Each topic's Atom feed in ``digest.atom_dir``, off the loop."""
    from monitor.digest.atom import write_topic_feeds

    pipeline = work.pipeline

    async def write() -> None:
        write_topic_feeds(pipeline.store, pipeline.config)

    await pipeline.mail.run(write)


@dataclass(frozen=True)
class Periodic:
    name: str
    every: timedelta
    run: Callable[[Work], Awaitable[None]]
    first_after: timedelta  # after a start: let the first polls go first


def periodic(config: Config) -> list[Periodic]:
    """The periodic work of this configuration, with its periods."""
    retry_every = timedelta(seconds=check_every_seconds(config.settings.polling))
    jobs = [
        Periodic("retry_pages", retry_every, retry_pages, retry_every),
        Periodic("deliver_outbox", OUTBOX_EVERY, deliver_outbox, timedelta(seconds=5)),
        Periodic("prune", PRUNE_EVERY, prune, timedelta(minutes=5)),
    ]
    if config.settings.digest.atom_dir:
        every = timedelta(minutes=config.settings.digest.atom_minutes)
        jobs.append(Periodic("write_atom", every, write_atom, timedelta(seconds=10)))
    return jobs


def cron_for(every: timedelta) -> str:
    """A procrastinate cron (a sixth column is seconds) for a period: exact for periods
    that divide a minute, an hour or a day, as every period of `periodic` does."""
    seconds = round(every.total_seconds())
    if seconds < 60:
        return f"* * * * * */{seconds}"
    if seconds < 3600:
        return f"*/{seconds // 60} * * * *"
    return f"0 */{seconds // 3600} * * *"


async def guarded(name: str, work: Awaitable[object], **context: object) -> None:
    """Run a job for a scheduler that must never die of it: cancellation (the daemon's
    shutdown, after its grace) and storage errors are logged, and a bug is logged loudly."""
    try:
        await work
    except asyncio.CancelledError:
        log.warning(
            "job.cancelled", job=name, reason="the daemon stopped during this job", **context
        )
    except StorageError as exc:
        log.error("job.storage_error", job=name, error=str(exc), **context)
    except OSError as exc:  # the Atom folder unwritable, the disk full
        log.error("job.failed", job=name, error=str(exc), **context)
    except Exception:
        log.exception("job.crashed", job=name, **context)
