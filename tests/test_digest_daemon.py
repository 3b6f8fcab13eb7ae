"""The running daemon sends a subscriber's digest at its time, to a real SMTP server."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.config import load_config
from monitor.digest.jobs import add_digest_jobs, subscriber_trigger
from monitor.storage.store import Store
from tests.support.digest_data import digest_config
from tests.support.sites import SiteArticle, build_site
from tests.support.smtp import LocalSMTP, plain_text
from tests.support.webserver import LocalWeb
from tests.test_cli_e2e import MONITOR, write_feeds


def test_schedules_fire_at_the_subscribers_time_in_its_zone(config_dir: Path) -> None:
    config = digest_config(config_dir, "sqlite:///unused.db", 25)
    [subscriber] = config.settings.subscribers
    trigger = subscriber_trigger(subscriber)
    after = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # 08:00 in Seoul
    fire = trigger.get_next_fire_time(None, after)
    assert fire.astimezone(UTC) == datetime(2026, 11, 27, 22, 30, tzinfo=UTC)


def test_add_digest_jobs_adds_one_job_per_subscriber_and_the_outbox(
    config_dir: Path, database_url: str
) -> None:
    config = digest_config(config_dir, database_url, 25)
    scheduler = AsyncIOScheduler(timezone=UTC)
    store = Store.open(database_url)
    try:
        add_digest_jobs(scheduler, store, config)
    finally:
        store.close()
    assert {job.id for job in scheduler.get_jobs()} == {"digest:ana", "digest:outbox"}


def test_the_daemon_mails_the_digest_at_its_time(
    config_dir: Path,
    web: LocalWeb,
    devset_articles: list[SiteArticle],
    tmp_path: Path,
    database_url: str,
) -> None:
    labelled = [a for a in devset_articles if a.topics][:8]
    site = build_site(web, labelled, feeds=2)
    write_feeds(config_dir, site.feed_urls)
    with LocalSMTP() as smtp:
        digest_config(config_dir, database_url, smtp.port, schedule='"* * * * *"')
        load_config(config_dir / "monitor.yaml")  # valid as written
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        env["MONITOR_POLLING__JITTER_SECONDS"] = "1"
        daemon = subprocess.Popen(
            [MONITOR, "--config", str(config_dir / "monitor.yaml"), "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 150
            while not smtp.received and time.monotonic() < deadline and daemon.poll() is None:
                time.sleep(0.5)
        finally:
            daemon.send_signal(signal.SIGTERM)
            output, _ = daemon.communicate(timeout=60)
        assert smtp.received, output[-3000:]
        message = smtp.parsed()[0]
    sent_at = parsedate_to_datetime(message["Date"])
    assert sent_at.second < 15, message["Date"]  # the cron minute, not some later poll
    assert message["Subject"].startswith("monitor digest")
    text = plain_text(message)
    assert site.feed_urls[0].split("/feeds/")[0] in text  # links to the site's articles
    assert "Why: " in text
    assert daemon.returncode == 0, output[-3000:]
