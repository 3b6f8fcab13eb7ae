"""What an operator and an orchestrator see: metrics, health, the refusals and the
compose file; and the pieces that make scheduling safe with several schedulers."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from apscheduler.triggers.cron import CronTrigger

from monitor.errors import ConfigError
from monitor.models import FeedSpec
from monitor.runtime.workers.engine import conninfo
from monitor.runtime.workers.tasks import due_slot
from monitor.storage import schedule
from monitor.storage.store import Store
from testkit.cluster import MONITOR, REPO
from testkit.db import query
from testkit.sites import SiteArticle, build_site
from testkit.smtp import free_port
from testkit.webserver import LocalWeb

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def run_monitor(config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MONITOR, "--config", str(config_dir / "monitor.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=config_dir.parent,
    )


def get(url: str) -> tuple[int, str]:
    try:
        with NO_PROXY.open(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def sample(metrics: str, name: str) -> float:
    """The sum of every sample of ``name`` (all label sets) in a Prometheus text page."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_daemon_serves_metrics_and_health(
    config_dir: Path,
    web: LocalWeb,
    devset_articles: list[SiteArticle],
    database_url: str,
) -> None:
    site = build_site(web, devset_articles[:30], feeds=3)
    (config_dir / "feeds.yaml").write_text(
        "feeds:\n" + "".join(f"  - url: {url}\n" for url in site.feed_urls)
    )
    listen = f"127.0.0.1:{free_port()}"
    with (config_dir / "monitor.yaml").open("a") as settings:
        settings.write(f"metrics:\n  listen: {listen}\npolling:\n  jitter_seconds: 0\n")
    daemon = subprocess.Popen(
        [MONITOR, "--config", str(config_dir / "monitor.yaml"), "run"],
        cwd=config_dir.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        page = ""
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                page = get(f"http://{listen}/metrics")[1]
            except OSError:
                continue
            if sample(page, "monitor_feed_polls_total") >= 3:
                break
        status, body = get(f"http://{listen}/healthz")
        healthy = run_monitor(config_dir, "health")
    finally:
        daemon.terminate()
        _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr[-2000:]
    assert sample(page, "monitor_feed_polls_total") == 3, page
    stored = query(database_url, "SELECT count(*) FROM articles WHERE duplicate_of IS NULL")[0][0]
    assert sample(page, "monitor_articles_stored_total") == stored > 0
    assert 'monitor_stage_seconds_count{stage="extract"}' in page
    assert 'monitor_feeds{health="ok"} 3.0' in page
    assert 'monitor_queue_depth{queue="feeds_due",status="todo"}' in page
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert json.loads(body)["database"] == "ok"
    assert healthy.returncode == 0 and json.loads(healthy.stdout)["status"] == "ok"
    gone = run_monitor(config_dir, "health")  # nothing listens any more
    assert gone.returncode == 1 and json.loads(gone.stdout)["status"] == "unreachable"


def test_health_without_a_process_checks_the_database(config_dir: Path) -> None:
    fresh = run_monitor(config_dir, "health")
    assert fresh.returncode == 1, fresh.stdout
    assert "monitor db upgrade" in json.loads(fresh.stdout)["database"]
    assert run_monitor(config_dir, "db", "upgrade").returncode == 0
    ready = run_monitor(config_dir, "health")
    assert ready.returncode == 0, ready.stdout
    assert json.loads(ready.stdout)["status"] == "ok"


def test_a_worker_on_sqlite_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        conninfo(f"sqlite:///{tmp_path / 'monitor.db'}")
    message = str(refused.value)
    assert "database.url" in message and "postgresql://" in message and "monitor run" in message


@pytest.mark.sqlite_only("a worker on PostgreSQL would start and run")
def test_the_worker_command_exits_2_on_sqlite(config_dir: Path) -> None:
    result = run_monitor(config_dir, "worker")
    assert result.returncode == 2
    assert "workers need PostgreSQL" in result.stderr


def test_conninfo_keeps_options_with_spaces() -> None:
    url = "postgresql+psycopg://me:pw@db:6543/news?options=-csearch_path%3Da%20-cstatement_timeout%3D5"
    info = conninfo(url)
    assert "host=db" in info and "port=6543" in info and "dbname=news" in info
    assert "options='-csearch_path=a -cstatement_timeout=5'" in info


@pytest.mark.parametrize(
    ("crontab", "tick", "expected"),
    [
        ("* * * * *", "2026-03-01T10:15:00", "2026-03-01T10:15:00"),
        ("30 7 * * *", "2026-03-01T07:30:00", "2026-03-01T07:30:00"),
        ("30 7 * * *", "2026-03-01T07:31:00", None),
        ("30 7 * * *", "2026-03-01T07:29:00", None),
    ],
)
def test_a_digest_slot_is_due_only_in_its_minute(
    crontab: str, tick: str, expected: str | None
) -> None:
    trigger = CronTrigger.from_crontab(crontab, timezone=UTC)
    slot = due_slot(trigger, datetime.fromisoformat(tick).replace(tzinfo=UTC))
    wanted = datetime.fromisoformat(expected).replace(tzinfo=UTC) if expected else None
    assert slot == wanted


def test_two_schedulers_claim_disjoint_feeds(store_url: str) -> None:
    store = Store.open(store_url)
    specs = [FeedSpec(f"http://feeds.test/{n}.xml", f"feed {n}") for n in range(60)]
    store.sync_feeds(specs)
    urls = {spec.url for spec in specs}
    now = datetime.now(UTC)
    claims: list[list[int]] = []

    def claim() -> None:
        claims.append(schedule.claim_due_feeds(store, urls, now, timedelta(minutes=15), 40))

    threads = [threading.Thread(target=claim) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = [feed_id for claim_ids in claims for feed_id in claim_ids]
    assert len(taken) == len(set(taken)) == 60  # every feed once, none twice
    assert schedule.claim_due_feeds(store, urls, now, timedelta(minutes=15)) == []
    later = now + timedelta(minutes=16)  # the lease ran out: the feeds are due again
    assert len(schedule.claim_due_feeds(store, urls, later, timedelta(minutes=15))) == 60
    store.close()


def test_feeds_not_in_the_config_are_not_claimed(store_url: str) -> None:
    store = Store.open(store_url)
    store.sync_feeds([FeedSpec("http://feeds.test/a.xml", "a"), FeedSpec("http://b.test/", "b")])
    now = datetime.now(UTC)
    claimed = schedule.claim_due_feeds(store, {"http://feeds.test/a.xml"}, now, timedelta(hours=1))
    assert len(claimed) == 1
    assert schedule.feeds_due(store, now) == 0  # the other was pushed back too
    store.close()


def test_a_claim_key_is_granted_once(store_url: str) -> None:
    store = Store.open(store_url)
    now = datetime.now(UTC)
    assert schedule.claim_once(store, "digest:ana:2026-03-01T07:30+00:00", now)
    assert not schedule.claim_once(store, "digest:ana:2026-03-01T07:30+00:00", now)
    assert schedule.claim_once(store, "digest:ana:2026-03-02T07:30+00:00", now)
    schedule.forget_claims(store, now + timedelta(seconds=1))
    assert schedule.claim_once(store, "digest:ana:2026-03-01T07:30+00:00", now)
    store.close()


def test_compose_runs_postgres_a_scheduler_scalable_workers_and_a_mail_catcher() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "scheduler", "worker", "mail"} <= services.keys()
    assert services["scheduler"]["command"] == ["monitor", "scheduler"]
    worker = services["worker"]
    assert worker["command"] == ["monitor", "worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale needs both
    assert worker["healthcheck"]["test"] == ["CMD", "monitor", "health"]
    env = worker["environment"]
    assert env["MONITOR_DATABASE__URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["MONITOR_DATABASE__URL"]
    assert env["MONITOR_METRICS__LISTEN"].endswith(":9464")
    assert "PASSWORD" not in json.dumps(env).replace("${POSTGRES_PASSWORD", "")
