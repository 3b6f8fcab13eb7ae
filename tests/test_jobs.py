"""Both runtimes schedule exactly the periodic work of `monitor.jobs`, with the same
periods: the daemon's APScheduler jobs and the cluster's procrastinate periodic tasks
are read back and compared with `jobs.periodic`, so that the next job added to one
runtime alone fails here. Each subscriber's digest is due at the same moments in both."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from croniter import croniter

from monitor import jobs
from monitor.config import Config
from monitor.models import FeedRecord, FeedReport
from monitor.pipeline.match import build_matcher
from monitor.runtime.daemon import build_scheduler, poll_feed_job
from monitor.runtime.resources import open_pipeline
from monitor.runtime.workers.tasks import (
    SCHEDULER_TASKS,
    WORKER_TASKS,
    build_task_app,
    due_slot,
)
from monitor.storage.store import Store
from tests.test_pipeline import configure

# What a cluster's scheduler defers that is not work but the deciding of it: the daemon
# does the same with its own per-feed and per-subscriber jobs.
SCHEDULING_ONLY = {"schedule_feeds", "schedule_digests", "retry_stalled"}


@pytest.fixture(params=["without atom", "with atom"])
def config(request: pytest.FixtureRequest, config_dir: Path, tmp_path: Path) -> Config:
    if request.param == "with atom":
        with (config_dir / "monitor.yaml").open("a", encoding="utf-8") as settings:
            settings.write(f"digest:\n  atom_dir: {tmp_path / 'atom'}\n  atom_minutes: 20\n")
    return configure(config_dir, [])


def daemon_scheduler(config: Config, database_url: str) -> AsyncIOScheduler:
    """The daemon's scheduler for ``config``, built and not started (its jobs only)."""
    store = Store.open(database_url)
    try:
        work = SimpleNamespace(pipeline=SimpleNamespace(store=store, config=config))
        return build_scheduler(work, config)  # type: ignore[arg-type]
    finally:
        store.close()


def test_the_daemon_schedules_every_periodic_job_with_its_period(
    config: Config, database_url: str
) -> None:
    scheduler = daemon_scheduler(config, database_url)
    scheduled = {
        job.id: job.trigger.interval
        for job in scheduler.get_jobs()
        if not job.id.startswith(("poll:", "digest:"))
    }
    assert scheduled == {job.name: job.every for job in jobs.periodic(config)}


def test_the_cluster_defers_every_periodic_job_with_the_same_period(config: Config) -> None:
    database = config.settings.database.model_copy(
        update={"url": "postgresql+psycopg://nobody@127.0.0.1:5432/test"}  # never opened
    )
    settings = config.settings.model_copy(update={"database": database})
    app = build_task_app(replace(config, settings=settings), scheduler=True, pool_size=1)
    crons = {name: task.cron for (name, _), task in app.periodic_registry.periodic_tasks.items()}
    work = {name: cron for name, cron in crons.items() if name not in SCHEDULING_ONLY}
    assert set(work) == {job.name for job in jobs.periodic(config)}
    for job in jobs.periodic(config):
        assert period_of(work[job.name]) == job.every, (job.name, work[job.name])


SUBSCRIBERS = """subscribers:
  - name: berlin
    email: berlin@desk.test
    topics: [nk-troops]
    schedule: daily 07:30
    timezone: Europe/Berlin
  - name: seoul
    email: seoul@desk.test
    topics: [nk-troops]
    schedule: hourly :15
    timezone: Asia/Seoul
  - name: weekdays
    email: weekdays@desk.test
    topics: [nk-troops]
    schedule: "0 9 * * 1-5"
    timezone: America/New_York
"""


def test_both_runtimes_send_each_digest_at_the_same_times(
    config_dir: Path, database_url: str
) -> None:
    """The daemon fires its cron job; the cluster's scheduler asks every minute which
    digest's time fell within it (`due_slot`). Over a week that crosses the end of
    summer time in Europe and America, both give the same moments."""
    with (config_dir / "monitor.yaml").open("a", encoding="utf-8") as settings:
        settings.write(SUBSCRIBERS)
    config = configure(config_dir, [])
    scheduler = daemon_scheduler(config, database_url)
    start = datetime(2026, 10, 23, tzinfo=UTC)
    end = start + timedelta(days=8)
    sent: dict[str, list[datetime]] = {}
    for subscriber in config.settings.subscribers:
        trigger = scheduler.get_job(f"digest:{subscriber.name}").trigger
        daemon: list[datetime] = []
        fire = trigger.get_next_fire_time(None, start)
        while fire is not None and fire < end:
            daemon.append(fire.astimezone(UTC))
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        cluster_trigger = jobs.subscriber_trigger(subscriber)
        ticks = (
            start + timedelta(minutes=m) for m in range(int((end - start).total_seconds() // 60))
        )
        cluster = [slot for tick in ticks if (slot := due_slot(cluster_trigger, tick)) is not None]
        assert cluster == daemon, subscriber.name
        sent[subscriber.name] = daemon
    # Europe leaves summer time on 25 October 2026: 07:30 in Berlin is 05:30, then 06:30 UTC.
    assert [t.strftime("%d %H:%M") for t in sent["berlin"][1:4]] == [
        "24 05:30",
        "25 06:30",
        "26 06:30",
    ]
    assert len(sent["seoul"]) == 8 * 24
    assert len(sent["weekdays"]) == 6  # Fri 23, Mon 26 – Fri 30


def test_every_periodic_job_is_a_worker_task() -> None:
    names = {"retry_pages", "deliver_outbox", "prune", "write_atom"}
    assert names <= set(WORKER_TASKS)
    assert not names & set(SCHEDULER_TASKS)


@pytest.mark.parametrize("seconds", [1, 30, 60, 15 * 60, 6 * 3600])
def test_cron_for_keeps_the_period(seconds: int) -> None:
    assert period_of(jobs.cron_for(timedelta(seconds=seconds))) == timedelta(seconds=seconds)


def period_of(cron: str) -> timedelta:
    """The time between two consecutive ticks of a procrastinate cron (seconds last)."""
    times = croniter(cron, datetime(2026, 12, 4, 0, 0, 1, tzinfo=UTC), second_at_beginning=False)
    first = times.get_next(datetime)
    return times.get_next(datetime) - first


def test_the_daemons_feed_jobs_keep_to_polling_concurrency(
    config_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`polling.concurrency` feeds at a time, also when the daemon's jobs poll them
    (before, only `poll --once` kept to it)."""
    urls = [f"http://127.0.0.1:9/feed-{i}.xml" for i in range(4)]  # never fetched
    config = configure(config_dir, urls, database_url)
    polling = config.settings.polling.model_copy(update={"concurrency": 2})
    config = replace(config, settings=config.settings.model_copy(update={"polling": polling}))
    matcher = build_matcher(config.topics, config.term_lists)
    running, most = 0, 0

    async def poll(record: FeedRecord) -> FeedReport:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.05)
        running -= 1
        return FeedReport(record.url, "not_modified")

    async def go() -> None:
        async with open_pipeline(config, matcher) as pipeline:
            await pipeline.database.run(pipeline.store.sync_feeds, config.feeds)
            monkeypatch.setattr(pipeline, "_poll", poll)
            work = jobs.Work.of(pipeline)
            await asyncio.gather(*(poll_feed_job(work, url) for url in urls))

    asyncio.run(go())
    assert most == 2


def test_alerts_wait_outside_the_feeds_poll_slot(
    config_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one slot, a feed whose alerts are slow to send (SMTP) does not hold the
    next feed's poll: alerts run after the slot is released."""
    urls = ["http://127.0.0.1:9/first.xml", "http://127.0.0.1:9/second.xml"]
    config = configure(config_dir, urls, database_url)
    polling = config.settings.polling.model_copy(update={"concurrency": 1})
    config = replace(config, settings=config.settings.model_copy(update={"polling": polling}))
    matcher = build_matcher(config.topics, config.term_lists)
    second_polled = asyncio.Event()
    seen: list[bool] = []

    async def poll(record: FeedRecord) -> FeedReport:
        if record.url == urls[1]:
            second_polled.set()
            return FeedReport(record.url, "not_modified")
        report = FeedReport(record.url, "fetched")
        report.articles_matched = 1
        return report

    async def slow_alerts(work: jobs.Work) -> None:
        try:
            await asyncio.wait_for(second_polled.wait(), 5)
            seen.append(True)
        except TimeoutError:
            seen.append(False)

    async def go() -> None:
        async with open_pipeline(config, matcher) as pipeline:
            await pipeline.database.run(pipeline.store.sync_feeds, config.feeds)
            monkeypatch.setattr(pipeline, "_poll", poll)
            monkeypatch.setattr(jobs, "after_ingest", slow_alerts)
            work = jobs.Work.of(pipeline)
            first = asyncio.create_task(poll_feed_job(work, urls[0]))
            await asyncio.sleep(0.1)
            await asyncio.gather(first, poll_feed_job(work, urls[1]))

    asyncio.run(go())
    assert seen == [True], "the second feed waited for the first feed's alerts"


def test_the_daemons_drain_waits_for_its_own_jobs_only() -> None:
    """A job in flight is let finish; a task on the loop that is no job of the daemon
    (a client's housekeeping, a heartbeat) does not hold the stop for the grace."""
    from typing import Any, cast

    from monitor.runtime.daemon import _drain

    async def go() -> tuple[list[str], bool]:
        work = jobs.Work(pipeline=cast(Any, None), digests=cast(Any, None))
        stray = asyncio.create_task(asyncio.sleep(60))
        finished: list[str] = []

        async def job() -> None:
            with work.job():
                await asyncio.sleep(0.2)
                finished.append("job")

        running = asyncio.create_task(job())
        await asyncio.sleep(0)
        deadline = asyncio.get_running_loop().time() + 30
        await asyncio.wait_for(_drain(work, deadline), 10)  # a hang guard
        await running
        stray_done = stray.done()
        stray.cancel()
        return finished, stray_done

    finished, stray_done = asyncio.run(go())
    assert finished == ["job"] and not stray_done
