"""APScheduler wiring only: which job runs when. The work itself is in `monitor.jobs`.

Each feed is its own interval job with jitter, coalescing and one run at a time.
A job asks the store whether its feed is due (backoff after failures and the
server's Retry-After can push a feed later than its interval) and, if so,
hands the feed to the pipeline.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import jobs
from monitor.config import Config
from monitor.log import get_logger
from monitor.models import utcnow
from monitor.pipeline.feeds import is_due

log = get_logger("monitor.scheduler")


def build_scheduler(work: jobs.Work, config: Config) -> AsyncIOScheduler:
    """One interval job per feed, one cron job per subscriber's digest, and the periodic
    work of `jobs.periodic` with its periods."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    polling = config.settings.polling
    work.pipeline.store.sync_feeds(config.feeds)
    now = datetime.now(UTC)
    for spec in config.feeds:
        interval = spec.interval_seconds or round(polling.interval_minutes * 60)
        scheduler.add_job(
            poll_feed_job,
            IntervalTrigger(seconds=interval, jitter=polling.jitter_seconds, timezone=UTC),
            args=(work, spec.url),
            id=f"poll:{spec.url}",
            name=f"poll {spec.name or spec.url}",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=interval,
            # spread the first polls over the jitter window instead of all at start-up
            next_run_time=now + timedelta(seconds=random.uniform(0, polling.jitter_seconds or 1)),
        )
    for subscriber in config.settings.subscribers:
        scheduler.add_job(
            digest_job,
            jobs.subscriber_trigger(subscriber),
            args=(work, subscriber.name),
            id=f"digest:{subscriber.name}",
            name=f"digest for {subscriber.name}",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
    for job in jobs.periodic(config):
        scheduler.add_job(
            periodic_job,
            IntervalTrigger(seconds=job.every.total_seconds(), timezone=UTC),
            args=(work, job),
            id=job.name,
            coalesce=True,
            max_instances=1,
            next_run_time=now + job.first_after,
        )
    return scheduler


async def poll_feed_job(work: jobs.Work, url: str) -> None:
    async def poll() -> None:
        pipeline = work.pipeline
        record = await pipeline.database.run(pipeline.store.feed, url)
        if record is not None and is_due(record.state, utcnow()):
            await jobs.poll_feed(work, record)

    with work.job():
        await jobs.guarded("poll", poll(), feed=url)


async def digest_job(work: jobs.Work, subscriber: str) -> None:
    with work.job():
        await jobs.guarded("digest", jobs.send_digest(work, subscriber), subscriber=subscriber)


async def periodic_job(work: jobs.Work, job: jobs.Periodic) -> None:
    with work.job():
        await jobs.guarded(job.name, job.run(work))
