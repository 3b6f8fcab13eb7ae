"""APScheduler wiring only: which job runs when. The work itself is the pipeline's.

Each feed is its own interval job with jitter, coalescing and one run at a time.
A job asks the store whether its feed is due (backoff after failures and the
server's Retry-After can push a feed later than its interval) and, if so,
hands the feed to the pipeline.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Config
from monitor.digest.jobs import add_digest_jobs
from monitor.errors import StorageError
from monitor.log import get_logger
from monitor.pipeline.feeds import is_due
from monitor.pipeline.retry import check_every_seconds
from monitor.pipeline.run import Pipeline
from monitor.storage.store import utcnow

log = get_logger("monitor.scheduler")
PRUNE_EVERY = timedelta(hours=6)


def build_scheduler(pipeline: Pipeline, config: Config) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)
    polling = config.settings.polling
    pipeline.store.sync_feeds(config.feeds)
    now = datetime.now(UTC)
    for spec in config.feeds:
        interval = spec.interval_seconds or round(polling.interval_minutes * 60)
        scheduler.add_job(
            poll_feed_job,
            IntervalTrigger(seconds=interval, jitter=polling.jitter_seconds, timezone=UTC),
            args=(pipeline, spec.url),
            id=f"poll:{spec.url}",
            name=f"poll {spec.name or spec.url}",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=interval,
            # spread the first polls over the jitter window instead of all at start-up
            next_run_time=now + timedelta(seconds=random.uniform(0, polling.jitter_seconds or 1)),
        )
    scheduler.add_job(
        prune_job,
        IntervalTrigger(seconds=PRUNE_EVERY.total_seconds(), timezone=UTC),
        args=(pipeline,),
        id="prune",
        coalesce=True,
        max_instances=1,
        next_run_time=now + timedelta(minutes=5),
    )
    scheduler.add_job(
        retry_pages_job,
        IntervalTrigger(seconds=check_every_seconds(polling), timezone=UTC),
        args=(pipeline,),
        id="retry-pages",
        coalesce=True,
        max_instances=1,
    )
    add_digest_jobs(scheduler, pipeline, config, mail=pipeline.mail)
    return scheduler


async def poll_feed_job(pipeline: Pipeline, url: str) -> None:
    try:
        record = await pipeline.database.run(pipeline.store.feed, url)
        if record is None or not is_due(record.state, utcnow()):
            return
        await pipeline.poll_feed(record)
    except asyncio.CancelledError:
        # Only the daemon's shutdown cancels a poll, once its grace is over. The job's own
        # task ends here: re-raised, APScheduler would log it as a crash with a traceback.
        log.warning("job.cancelled", feed=url, reason="the daemon stopped during this poll")
    except StorageError as exc:
        log.error("job.storage_error", feed=url, error=str(exc))
    except Exception:  # a bug must be loud, but must not kill the scheduler
        log.exception("job.crashed", feed=url)


async def retry_pages_job(pipeline: Pipeline) -> None:
    try:
        report = await pipeline.retry_pages()
        if report.retried:
            log.info("pages.retried", **report.__dict__)
    except asyncio.CancelledError:
        log.warning("job.cancelled", job="retry-pages", reason="the daemon stopped")
    except StorageError as exc:
        log.error("job.storage_error", job="retry-pages", error=str(exc))
    except Exception:  # a bug must be loud, but must not kill the scheduler
        log.exception("job.crashed", job="retry-pages")


async def prune_job(pipeline: Pipeline) -> None:
    try:
        pruned = await pipeline.prune()
        log.info("store.pruned", articles=len(pruned))
    except StorageError as exc:
        log.error("job.storage_error", job="prune", error=str(exc))
