"""Digest jobs for the daemon's scheduler: one cron job per subscriber, one outbox job.

The cron job records and sends the subscriber's digest at its time (in its time
zone); the outbox job retries whatever a server refused for now or a crash left
unsent. When ``digest.atom_dir`` is set, an Atom feed per topic is kept up to date.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Config
from monitor.digest.run import Digests
from monitor.errors import StorageError
from monitor.log import get_logger
from monitor.settings import SubscriberSettings
from monitor.storage.store import Store

log = get_logger("monitor.digest.jobs")
OUTBOX_EVERY = timedelta(seconds=30)


class HasStore(Protocol):
    store: Store


def subscriber_trigger(subscriber: SubscriberSettings) -> CronTrigger:
    """When ``subscriber``'s digest is due, in its own time zone."""
    return CronTrigger.from_crontab(subscriber.crontab, timezone=ZoneInfo(subscriber.timezone))


def add_digest_jobs(
    scheduler: BaseScheduler, pipeline_or_store: HasStore | Store, config: Config
) -> Digests:
    """Schedule every subscriber's digest, the outbox retries and the Atom export."""
    store = pipeline_or_store if isinstance(pipeline_or_store, Store) else pipeline_or_store.store
    digests = Digests(store, config)
    for subscriber in config.settings.subscribers:
        scheduler.add_job(
            digest_job,
            subscriber_trigger(subscriber),
            args=(digests, subscriber.name),
            id=f"digest:{subscriber.name}",
            name=f"digest for {subscriber.name}",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
    scheduler.add_job(
        outbox_job,
        IntervalTrigger(seconds=OUTBOX_EVERY.total_seconds(), timezone=UTC),
        args=(digests,),
        id="digest:outbox",
        coalesce=True,
        max_instances=1,
        next_run_time=datetime.now(UTC) + timedelta(seconds=5),
    )
    if config.settings.digest.atom_dir:
        minutes = config.settings.digest.atom_minutes
        scheduler.add_job(
            atom_job,
            IntervalTrigger(minutes=minutes, timezone=UTC),
            args=(store, config),
            id="digest:atom",
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC) + timedelta(seconds=10),
        )
    return digests


async def digest_job(digests: Digests, name: str) -> None:
    try:
        report = await digests.run(name, scheduled=True)
        log.info("digest.job", subscriber=name, sent=report.sent, retrying=report.retrying)
    except asyncio.CancelledError:  # the daemon's shutdown, after its grace (see `deliver`)
        log.warning("job.cancelled", job="digest", subscriber=name, reason="the daemon stopped")
    except StorageError as exc:
        log.error("job.storage_error", job="digest", subscriber=name, error=str(exc))
    except Exception:  # a bug must be loud, but must not kill the scheduler
        log.exception("job.crashed", job="digest", subscriber=name)


async def outbox_job(digests: Digests) -> None:
    try:
        await digests.deliver()
    except asyncio.CancelledError:
        log.warning("job.cancelled", job="outbox", reason="the daemon stopped")
    except StorageError as exc:
        log.error("job.storage_error", job="outbox", error=str(exc))
    except Exception:
        log.exception("job.crashed", job="outbox")


async def atom_job(store: Store, config: Config) -> None:
    from monitor.digest.atom import write_topic_feeds

    try:
        write_topic_feeds(store, config)
    except (StorageError, OSError) as exc:
        log.error("job.atom_failed", error=str(exc))
    except Exception:
        log.exception("job.crashed", job="atom")
