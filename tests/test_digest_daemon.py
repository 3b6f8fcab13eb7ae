"""The running daemon sends a subscriber's digest at its time, to a real SMTP server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from sqlalchemy import update

from monitor.config import load_config
from monitor.digest.run import Digests
from monitor.jobs import subscriber_trigger
from monitor.models import utcnow
from monitor.storage import digests as db
from monitor.storage.store import Store
from monitor.storage.tables import OutboxRow
from testkit.sites import SiteArticle, build_site
from testkit.smtp import LocalSMTP, plain_text
from testkit.webserver import LocalWeb
from tests.support.digest_data import digest_config, stored_samples
from tests.test_cli_e2e import MONITOR, write_feeds
from tests.test_jobs import daemon_scheduler


def test_schedules_fire_at_the_subscribers_time_in_its_zone(config_dir: Path) -> None:
    config = digest_config(config_dir, "sqlite:///unused.db", 25)
    [subscriber] = config.settings.subscribers
    trigger = subscriber_trigger(subscriber)
    after = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # 08:00 in Seoul
    fire = trigger.get_next_fire_time(None, after)
    assert fire.astimezone(UTC) == datetime(2026, 11, 27, 22, 30, tzinfo=UTC)


def test_the_daemon_schedules_one_job_per_subscriber_and_the_outbox(
    config_dir: Path, database_url: str
) -> None:
    config = digest_config(config_dir, database_url, 25)
    scheduler = daemon_scheduler(config, database_url)
    ids = {job.id for job in scheduler.get_jobs()}
    assert {"digest:ana", "deliver_outbox"} <= ids
    assert not {i for i in ids if i.startswith("digest:")} - {"digest:ana"}


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


def _queue_digest(config_dir: Path, database_url: str, smtp_port: int) -> None:
    config = digest_config(config_dir, database_url, smtp_port)
    store = Store.open(database_url)
    try:
        stored_samples(store)
        assert Digests(store, config).enqueue("ana") is not None
    finally:
        store.close()


def _stop_mid_send(config_dir: Path, tmp_path: Path, begun: Callable[[], int]) -> str:
    """Start the daemon, SIGTERM it once ``begun()`` (the server's view), its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env |= {"MONITOR_POLLING__SHUTDOWN_GRACE_SECONDS": "0.5", "MONITOR_SMTP__TIMEOUT": "10"}
    daemon = subprocess.Popen(
        [MONITOR, "--config", str(config_dir / "monitor.yaml"), "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30  # the outbox job's first run is 5 s after start
        while not begun() and time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(0.05)
    finally:
        daemon.send_signal(signal.SIGTERM)
        output, _ = daemon.communicate(timeout=60)
    assert begun(), output[-3000:]
    assert daemon.returncode == 0, output[-3000:]
    return output


def _outbox(database_url: str, *, expire_leases: bool = False) -> dict[str, int]:
    store = Store.open(database_url)
    try:
        if expire_leases:  # as if the restart came after every lease had run out
            with store.writing() as session:
                session.execute(update(OutboxRow).values(next_attempt_at=utcnow()))
        return db.outbox_counts(store)
    finally:
        store.close()


def _restart_delivers(config_dir: Path, database_url: str) -> int:
    """What a restarted daemon's outbox job sends (run here: it does not wait 5 s)."""
    store = Store.open(database_url)
    try:
        digests = Digests(store, load_config(config_dir / "monitor.yaml"))
        return asyncio.run(digests.deliver()).sent
    finally:
        store.close()


def test_sigterm_while_the_server_answers_data_records_the_mail_sent(
    config_dir: Path, tmp_path: Path, database_url: str
) -> None:
    with LocalSMTP() as smtp:
        _queue_digest(config_dir, database_url, smtp.port)
        smtp.handler.stall_seconds = 2  # well past the 0.5 s grace, within smtp.timeout
        smtp.fail_next("slow")
        output = _stop_mid_send(config_dir, tmp_path, lambda: smtp.attempts)
        assert len(smtp.received) == 1
        assert _outbox(database_url, expire_leases=True) == {"sent": 1}, output[-3000:]
        assert _restart_delivers(config_dir, database_url) == 0
        assert len(smtp.received) == 1


def test_sigterm_before_the_end_of_data_abandons_the_mail_for_the_next_run(
    config_dir: Path, tmp_path: Path, database_url: str
) -> None:
    with LocalSMTP() as smtp:
        _queue_digest(config_dir, database_url, smtp.port)
        smtp.handler.stall_seconds = 2
        smtp.fail_next("slow_rcpt")
        output = _stop_mid_send(config_dir, tmp_path, lambda: smtp.rcpts)
        assert smtp.received == [], output[-3000:]
        assert _outbox(database_url) == {"pending": 1}
        assert _restart_delivers(config_dir, database_url) == 1  # at once: lease given back
        assert len(smtp.received) == 1
