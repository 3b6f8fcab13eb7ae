"""The embedded daemon: APScheduler over the work of `monitor.jobs`, and its life cycle.

Each feed is its own interval job with jitter, coalescing and one run at a time. A job
asks the store whether its feed is due (backoff after failures and the server's
Retry-After can push a feed later than its interval) and, if so, hands the feed to the
pipeline. Digests follow each subscriber's trigger (`jobs.subscriber_trigger`, which the
workers' scheduler reads too) and the periodic work follows `jobs.periodic`.

`run_daemon` stops cleanly on SIGTERM/SIGINT: intake stops first, the daemon's own jobs
in flight are given the grace period, then abandoned safely (nothing half-written:
every write is one transaction).
"""

from __future__ import annotations

import asyncio
import random
import signal
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import jobs
from monitor.config import Config
from monitor.log import get_logger
from monitor.models import utcnow
from monitor.pipeline.feeds import is_due
from monitor.pipeline.match import Matcher
from monitor.runtime.resources import open_pipeline, serve_metrics
from monitor.storage.lock import StoreLock

log = get_logger("monitor.daemon")


async def run_daemon(
    config: Config, matcher: Matcher, *, metrics_listen: str | None = None
) -> None:
    """Poll on schedule until SIGTERM or SIGINT, or until the database file is unusable
    (`open_pipeline` raises that once the daemon has stopped). ``metrics_listen`` (the
    command line's) wins over ``metrics.listen``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    listen = metrics_listen or config.settings.metrics.listen
    serving = serve_metrics(config, "daemon", listen) if listen else None
    with StoreLock.for_url(config.settings.database.url):
        async with open_pipeline(config, matcher, stop=stop) as pipeline:
            if serving is not None:
                serving.liveness.watch("database_thread", pipeline.database.busy_seconds)
            work = jobs.Work.of(pipeline)
            scheduler = build_scheduler(work, config)
            scheduler.start()
            log.info(
                "daemon.started",
                feeds=len(config.feeds),
                topics=len(matcher.topics),
                database=_redacted(config.settings.database.url),
            )
            await stop.wait()
            log.info("daemon.stopping")
            grace = config.settings.polling.shutdown_grace_seconds
            pipeline.stop_deadline = loop.time() + grace
            # Paused, not shut down: APScheduler's shutdown cancels the jobs running
            # now at once, and they are to have their grace.
            scheduler.pause()
            await _drain(work, pipeline.stop_deadline)
            scheduler.shutdown(wait=False)
    if serving is not None:
        await serving.close()
    log.info("daemon.stopped")


async def _drain(work: jobs.Work, deadline: float) -> None:
    """Let the daemon's jobs in flight (polls, digests, periodic work) finish until
    ``deadline`` (loop time), then cancel them. Only its own jobs: other tasks on the
    loop (the heartbeat behind ``/healthz``, a client's housekeeping) are not waited for.

    A cancelled mail whose server already has it whole still waits for its answer and
    records it (`monitor.digest.send`), in the mail thread, which `open_pipeline` gives
    up to ``smtp.timeout`` to finish."""
    if not work.running:
        return
    grace_left = max(0.0, deadline - asyncio.get_running_loop().time())
    _, still_running = await asyncio.wait(set(work.running), timeout=grace_left)
    for task in still_running:
        task.cancel()
    if still_running:
        log.warning("daemon.abandoned_work", tasks=len(still_running))
        await asyncio.gather(*still_running, return_exceptions=True)


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


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
