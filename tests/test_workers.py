"""Several worker processes on one PostgreSQL database, as a deployment runs them.

A scheduler and three workers ingest a few hundred local feeds; afterwards every
article is stored once, every feed and page was fetched once (one due time: the
interval is an hour), and each digest slot was mailed once. The same with a worker
killed by SIGKILL in the middle: its jobs are taken over by the others.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import make_url

from testkit.articles import load_devset_articles, synthetic_articles
from testkit.cluster import MONITOR, Cluster, count, write_cluster_config
from testkit.db import query
from testkit.sites import Site, build_site
from testkit.smtp import LocalSMTP, free_port
from testkit.tcpproxy import TcpProxy
from testkit.webserver import LocalWeb

pytestmark = [pytest.mark.postgres, pytest.mark.postgres_pass]  # workers need PostgreSQL


def publish(web: LocalWeb, feeds: int, per_feed: int) -> Site:
    articles = load_devset_articles() + synthetic_articles(feeds * per_feed, seed=11)
    return build_site(web, articles[: feeds * per_feed], feeds=feeds)


def page_paths(site: Site) -> list[str]:
    return [urlsplit(site.url_of(article.id)).path for article in site.articles]


def assert_each_fetched_once(web: LocalWeb, site: Site) -> None:
    counts = Counter(urlsplit(r.path).path for r in web.requests)
    feeds = {urlsplit(feed.url).path: counts[urlsplit(feed.url).path] for feed in site.feeds}
    assert set(feeds.values()) == {1}, {p: n for p, n in feeds.items() if n != 1}
    pages = {path: counts[path] for path in page_paths(site)}
    assert set(pages.values()) == {1}, {p: n for p, n in pages.items() if n != 1}


def assert_stored_once(postgres_url: str, site: Site) -> None:
    stored = [row[0] for row in query(postgres_url, "SELECT url FROM articles")]
    assert len(stored) == len(set(stored)) == len(site.articles)
    assert {urlsplit(u).path for u in stored} == set(page_paths(site))
    entries = query(postgres_url, "SELECT count(*), count(article_id) FROM entries")[0]
    assert entries == (len(site.articles), len(site.articles))


def test_three_workers_store_everything_once_and_mail_each_digest_once(
    web: LocalWeb, postgres_url: str, tmp_path: Path
) -> None:
    site = publish(web, feeds=150, per_feed=8)
    with LocalSMTP() as smtp:
        subscriber = (
            f"smtp:\n  host: 127.0.0.1\n  port: {smtp.port}\n  timeout: 5\n"
            "subscribers:\n  - name: ana\n    email: ana@desk.test\n"
            "    topics: [nk-troops, nk-russia-pact]\n"
            '    schedule: "* * * * *"\n    send_empty: true\n'
        )
        config = write_cluster_config(
            tmp_path / "config", postgres_url, site.feed_urls, extra=subscriber
        )
        cluster = Cluster(config, tmp_path)
        try:
            cluster.scheduler()
            for n in range(3):
                cluster.worker(f"worker-{n}")
            cluster.wait_for(
                lambda: count(postgres_url, "SELECT count(*) FROM articles") == len(site.articles),
                timeout=300,
                what=f"{len(site.articles)} articles",
            )
            cluster.wait_for(lambda: len(smtp.received) >= 1, timeout=90, what="a digest")
            # The minute a digest went out may still be in flight elsewhere: let it settle.
            cluster.wait_for(
                lambda: (
                    count(postgres_url, "SELECT count(*) FROM outbox WHERE status <> 'sent'") == 0
                ),
                timeout=60,
                what="the outbox to empty",
            )
        finally:
            codes = cluster.stop()
        slots = query(postgres_url, "SELECT key FROM schedule_claims WHERE key LIKE 'digest:%'")
        received = [m["Message-ID"] for m in smtp.parsed()]
    assert codes == dict.fromkeys(codes, 0), codes
    assert_stored_once(postgres_url, site)
    assert_each_fetched_once(web, site)
    assert len(received) == len(set(received)) == len(slots) >= 1
    workers_used = {
        name
        for name in ("worker-0", "worker-1", "worker-2")
        if '"feed.polled"' in cluster.log(name)
    }
    assert len(workers_used) == 3  # the work really was spread
    # Each worker's log counts what it stored (before: `stored=0` on every feed.polled).
    events = [
        json.loads(line)
        for name in ("worker-0", "worker-1", "worker-2")
        for line in cluster.log(name).splitlines()
        if line.startswith("{")
    ]
    ingested = [e for e in events if e.get("event") == "entries.ingested"]
    assert sum(e["stored"] + e["duplicates"] for e in ingested) == len(site.articles)
    assert not [e for e in events if e.get("event") == "feed.polled" and "stored" in e]


def test_a_worker_killed_mid_run_loses_and_doubles_nothing(
    web: LocalWeb, postgres_url: str, tmp_path: Path
) -> None:
    site = publish(web, feeds=120, per_feed=10)
    config = write_cluster_config(tmp_path / "config", postgres_url, site.feed_urls)
    cluster = Cluster(config, tmp_path)
    total = len(site.articles)
    try:
        cluster.scheduler()
        for n in range(3):
            cluster.worker(f"worker-{n}")
        cluster.wait_for(
            lambda: count(postgres_url, "SELECT count(*) FROM articles") >= total // 4,
            timeout=300,
            what="a quarter of the articles",
        )
        cluster.kill("worker-1")
        cluster.wait_for(
            lambda: count(postgres_url, "SELECT count(*) FROM articles") == total,
            timeout=300,
            what=f"all {total} articles after the kill",
        )
        # The killed worker's jobs stay "doing" until the scheduler sees its heartbeat
        # stop and puts them back: a queue that drains proves they were taken over.
        cluster.wait_for(
            lambda: (
                count(
                    postgres_url,
                    "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')",
                )
                == 0
            ),
            timeout=90,
            what="the queue to drain",
        )
    finally:
        codes = cluster.stop()
    assert codes["worker-1"] == -9
    assert all(code == 0 for name, code in codes.items() if name != "worker-1"), codes
    assert_stored_once(postgres_url, site)
    failed = query(postgres_url, "SELECT count(*) FROM procrastinate_jobs WHERE status='failed'")
    assert failed[0][0] == 0
    # Every feed was polled to the end: its validators are saved only after that.
    unpolled = query(postgres_url, "SELECT count(*) FROM feeds WHERE body_hash IS NULL")
    assert unpolled[0][0] == 0


def test_a_scheduler_and_a_worker_ride_out_a_database_outage(
    web: LocalWeb, postgres_url: str, tmp_path: Path
) -> None:
    """Every connection reset, and new ones refused, for 15 s: the scheduler keeps running,
    reconnects (restarting its task loop if it ended: `scheduler.interrupted`), the work
    is finished, and both processes still stop cleanly (exit 0) on SIGTERM."""
    site = publish(web, feeds=4, per_feed=2)
    url = make_url(postgres_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        config = write_cluster_config(tmp_path / "config", proxied, site.feed_urls)
        cluster = Cluster(config, tmp_path)
        try:
            cluster.scheduler()
            cluster.wait_for(
                lambda: "scheduler.started" in cluster.log("scheduler"), 120, "the scheduler"
            )
            time.sleep(2)  # its LISTEN connection is up
            proxy.cut()
            time.sleep(15)
            proxy.restore()
            assert cluster.processes["scheduler"].poll() is None, cluster.log("scheduler")
            cluster.worker("worker", concurrency=2)
            cluster.wait_for(
                lambda: count(postgres_url, "SELECT count(*) FROM articles") == len(site.articles),
                timeout=180,
                what="every article after the outage",
            )
        finally:
            codes = cluster.stop()
    # Before, procrastinate's worker loop died on the outage's aftermath (its worker row
    # pruned as stalled: a foreign-key error) with a traceback, and the process exited.
    for name in ("scheduler", "worker"):
        crashes = [line for line in cluster.log(name).splitlines() if line.startswith("Trace")]
        assert not crashes, cluster.log(name)[-3000:]
    assert codes == {"scheduler": 0, "worker": 0}, codes


def test_a_database_that_drops_packets_fails_a_command_instead_of_freezing_it(
    web: LocalWeb, postgres_url: str, tmp_path: Path
) -> None:
    """Connections accepted and never answered: `poll --once` ends with an error naming
    the database (libpq's connect timeout, `PG_NETWORK_LIMITS`) instead of hanging."""
    site = publish(web, feeds=1, per_feed=1)
    url = make_url(postgres_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        config = write_cluster_config(tmp_path / "config", proxied, site.feed_urls)
        proxy.blackhole()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        try:
            done = subprocess.run(
                [MONITOR, "--config", str(config), "poll", "--once"],
                capture_output=True,
                text=True,
                env=env,
                timeout=90,  # a hang guard, not a measurement: the timeout is 10 s
            )
        except subprocess.TimeoutExpired:
            pytest.fail("poll --once still waited on a silent database after 90 s")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error: " in done.stderr and "timeout" in done.stderr.lower(), done.stderr
    assert "Traceback" not in done.stderr


def test_the_daemon_keeps_its_loop_and_its_health_answer_while_the_database_is_silent(
    web: LocalWeb, postgres_url: str, tmp_path: Path
) -> None:
    """Packets to PostgreSQL dropped while a poll needs the database: the poll waits in
    the database thread, the event loop goes on, `/healthz` answers at once that the
    database does not answer, and SIGTERM stops the daemon with exit 0."""
    site = publish(web, feeds=1, per_feed=2)
    feed_path = urlsplit(site.feed_urls[0]).path
    feed = urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
        site.feed_urls[0], timeout=10
    )
    web.fault(feed_path, "slow", body=feed.read(), rate=1e9, delay=4)
    listen = f"127.0.0.1:{free_port()}"
    url = make_url(postgres_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        config = write_cluster_config(
            tmp_path / "config", proxied, site.feed_urls, extra=f"metrics:\n  listen: {listen}\n"
        )
        log_path = tmp_path / "daemon.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        with log_path.open("wb") as log_file:
            daemon = subprocess.Popen(
                [MONITOR, "--config", str(config), "run"],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            deadline = time.monotonic() + 120
            while "daemon.started" not in log_path.read_text() and time.monotonic() < deadline:
                assert daemon.poll() is None, log_path.read_text()
                time.sleep(0.2)
            proxy.blackhole()  # the feed answers 4 s after it is asked for: then its
            time.sleep(7)  # entries need the database, which no longer answers
            health = health_of(listen)
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=90)  # a hang guard, not a measurement
            except subprocess.TimeoutExpired:
                pytest.fail("the daemon did not stop on SIGTERM while the database was silent")
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
    log = log_path.read_text()
    assert health["status"] == "unhealthy", health
    assert str(health["database"]).startswith("unreachable: no answer within"), health
    assert float(str(health["loop_silent_seconds"])) < 3, health  # the loop still turns
    assert daemon.returncode == 0, log[-3000:]
    assert "daemon.stopped" in log and "Traceback" not in log, log[-3000:]


def health_of(listen: str) -> dict[str, object]:
    """The body of ``/healthz``, whatever its status."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{listen}/healthz", timeout=10) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    loaded = json.loads(body)
    assert isinstance(loaded, dict)
    return loaded
