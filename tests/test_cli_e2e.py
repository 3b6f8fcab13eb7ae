"""The installed `monitor` command as a user runs it: subprocesses, real files, real server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from testkit.db import is_sqlite, query
from testkit.sites import Site, SiteArticle, build_site
from testkit.webserver import LocalWeb

MONITOR = shutil.which("monitor", path=str(Path(sys.executable).parent)) or "monitor"


def monitor(config_dir: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MONITOR, "--config", str(config_dir / "monitor.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=config_dir.parent,
        env=_env(),
    )


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}


def write_feeds(config_dir: Path, urls: list[str]) -> None:
    lines = ["feeds:"] + [f"  - url: {url}" for url in urls]
    (config_dir / "feeds.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def database(config_dir: Path) -> Path:
    """The SQLite file of ``config_dir`` in the SQLite pass (see ``new_database``)."""
    return config_dir.parent / "data" / "monitor.db"


def stored_urls(database_url: str) -> list[str]:
    return sorted(row[0] for row in query(database_url, "SELECT canonical_url FROM articles"))


@pytest.fixture
def site(web: LocalWeb, devset_articles: list[SiteArticle], config_dir: Path) -> Site:
    built = build_site(web, devset_articles[:40], feeds=4)
    write_feeds(config_dir, built.feed_urls)
    return built


def test_check_passes_on_the_test_config_and_fails_with_exit_2(config_dir: Path) -> None:
    ok = monitor(config_dir, "check")
    assert ok.returncode == 0, ok.stderr
    assert "configuration OK" in ok.stdout
    (config_dir / "feeds.yaml").write_text("feeds:\n  - url: not-a-url\n    colour: red\n")
    bad = monitor(config_dir, "check")
    assert bad.returncode == 2
    assert "feeds.yaml:2" in bad.stderr and "feeds[0].url" in bad.stderr
    assert "feeds[0].colour: unknown key" in bad.stderr


def test_poll_once_json_then_articles(config_dir: Path, site: Site) -> None:
    result = monitor(config_dir, "poll", "--once", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    for key in ("feeds", "feeds_failed", "entries_new", "articles_stored", "articles_matched"):
        assert key in summary
    assert {"duplicates", "seconds"} <= summary.keys()
    assert summary["feeds"] == 4 and summary["entries_new"] == 40
    assert summary["articles_stored"] + summary["duplicates"] == 40
    assert summary["articles_matched"] > 0

    listing = monitor(config_dir, "articles", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert len(rows) >= 1
    expected = {"id", "url", "title", "outlet", "published", "language", "topics"}
    assert all(expected | {"duplicate_of", "story_id", "text_chars"} <= row.keys() for row in rows)
    assert all(row["topics"] for row in rows)
    every = monitor(config_dir, "articles", "--all", "--json")
    assert len(every.stdout.splitlines()) == 40

    second = json.loads(monitor(config_dir, "poll", "--once", "--json").stdout)
    assert second["entries_new"] == 0 and second["articles_stored"] == 0


def test_sigkill_mid_pass_then_rerun_loses_and_duplicates_nothing(
    config_dir: Path, site: Site, database_url: str
) -> None:
    for delay in (1.5, 3.0):
        process = subprocess.Popen(
            [MONITOR, "--config", str(config_dir / "monitor.yaml"), "poll", "--once"],
            cwd=config_dir.parent,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    final = monitor(config_dir, "poll", "--once", "--json")
    assert final.returncode == 0, final.stderr
    urls = stored_urls(database_url)
    assert len(urls) == len(set(urls)) == 40
    entries = query(database_url, "SELECT count(*), count(DISTINCT key) FROM entries")
    assert entries == [(40, 40)]


def test_daemon_polls_and_stops_on_sigterm(config_dir: Path, site: Site, database_url: str) -> None:
    env = _env() | {"MONITOR_POLLING__JITTER_SECONDS": "0"}
    daemon = subprocess.Popen(
        [MONITOR, "--config", str(config_dir / "monitor.yaml"), "--log-format", "json", "run"],
        cwd=config_dir.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(_safe_urls(config_dir, database_url)) >= 40:
                break
            time.sleep(0.5)
        assert len(_safe_urls(config_dir, database_url)) == 40
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr[-2000:]
    events = [json.loads(line)["event"] for line in stderr.splitlines() if line.startswith("{")]
    assert "daemon.started" in events and events[-1] == "daemon.stopped"
    assert "feed.polled" in events


@pytest.mark.sqlite_only("StoreLock: one daemon per SQLite file, a flock beside it")
def test_a_twin_daemon_on_the_same_sqlite_file_is_refused(config_dir: Path) -> None:
    lock = database(config_dir).with_name("monitor.db.lock")
    daemon = subprocess.Popen(
        [MONITOR, "--config", str(config_dir / "monitor.yaml"), "run"],
        cwd=config_dir.parent,
        env=_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and daemon.poll() is None:
            if lock.exists() and lock.read_text().strip() == str(daemon.pid):
                break
            time.sleep(0.2)
        assert lock.read_text().strip() == str(daemon.pid)
        twin = monitor(config_dir, "run", timeout=60)
        assert twin.returncode == 1
        assert "already" in twin.stderr and str(daemon.pid) in twin.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr[-2000:]


def _safe_urls(config_dir: Path, database_url: str) -> list[str]:
    """The stored URLs; none while the daemon has not created the database or its tables."""
    if is_sqlite(database_url) and not database(config_dir).exists():
        return []  # do not create the file before the daemon does
    try:
        return stored_urls(database_url)
    except DBAPIError:
        return []


@pytest.mark.sqlite_only("a SQLite write lock held by another process at start")
def test_daemon_waits_for_a_locked_database_and_stops_on_sigterm(config_dir: Path) -> None:
    """A database that is locked at start is retried with backoff, not a crash loop."""
    database(config_dir).parent.mkdir(parents=True, exist_ok=True)
    holder = sqlite3.connect(database(config_dir), isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN EXCLUSIVE")
    env = _env() | {"MONITOR_LOGGING__FORMAT": "json"}
    daemon = subprocess.Popen(
        [MONITOR, "--config", str(config_dir / "monitor.yaml"), "run"],
        cwd=config_dir.parent,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(20)  # the busy timeout (15 s) runs out once: logged, then a retry
        assert daemon.poll() is None, "the daemon exited instead of waiting"
        holder.execute("ROLLBACK")
        holder.close()
        deadline = time.monotonic() + 60
        started = False
        while time.monotonic() < deadline and not started:
            time.sleep(1)
            started = daemon.poll() is not None or _has_table(config_dir)
        assert _has_table(config_dir)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr[-2000:]
    assert '"store.unavailable"' in stderr


def _has_table(config_dir: Path) -> bool:
    try:
        with sqlite3.connect(database(config_dir)) as connection:
            return bool(connection.execute("SELECT count(*) FROM alembic_version").fetchone())
    except sqlite3.OperationalError:
        return False


def test_sigterm_lets_the_poll_in_flight_finish_within_the_grace(
    config_dir: Path, web: LocalWeb, database_url: str
) -> None:
    """SIGTERM while a feed's pages are still coming: the poll is given its grace and
    ends with every page's text stored, instead of being cancelled at once (APScheduler's
    shutdown cancels the jobs it runs; the daemon pauses it and drains them first)."""
    items = []
    for index in range(3):
        path = f"/grace/{index}.html"
        body = f"<html><body><article><h1>Story {index}</h1>" + "<p>Text.</p>" * 40
        web.fault(path, "slow", body=body + "</article></body></html>", delay=3, rate=1e9)
        items.append(f"<item><title>Story {index}</title><link>{web.url(path)}</link></item>")
    web.route(
        "/grace/feed.xml",
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>Grace</title>{''.join(items)}"
        "</channel></rss>",
        content_type="application/rss+xml",
    )
    write_feeds(config_dir, [web.url("/grace/feed.xml")])
    env = _env() | {"MONITOR_POLLING__JITTER_SECONDS": "0"}
    daemon = subprocess.Popen(
        [MONITOR, "--config", str(config_dir / "monitor.yaml"), "--log-format", "json", "run"],
        cwd=config_dir.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while web.count("/grace/0.html") == 0 and time.monotonic() < deadline:
            assert daemon.poll() is None
            time.sleep(0.05)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=120)
    assert daemon.returncode == 0, stderr[-2000:]
    assert "job.cancelled" not in stderr and "abandoned_work" not in stderr, stderr[-2000:]
    rows = query(database_url, "SELECT count(*), count(extract_error) FROM articles")
    assert rows == [(3, 0)], stderr[-2000:]


def test_articles_lists_newest_news_first_and_says_when_the_list_is_cut(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle], database_url: str
) -> None:
    """By publication time, not by when the poll happened to fetch each page; times are
    labelled UTC; ``--limit`` says on stderr that more matched."""
    matched = [a for a in devset_articles if a.topics and a.language == "en"][:6]
    site = build_site(web, matched, feeds=2)
    write_feeds(config_dir, site.feed_urls)
    assert monitor(config_dir, "poll").returncode == 0
    listed = monitor(config_dir, "articles", "--json", "--limit", "100")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    published = [row["published"] for row in rows]
    assert len(rows) >= 2 and published == sorted(published, reverse=True)
    cut = monitor(config_dir, "articles", "--all", "--limit", "2")
    assert cut.returncode == 0
    lines = cut.stdout.splitlines()
    assert len(lines) == 2 and all(" UTC  #" in line for line in lines)
    assert "the newest 2 articles shown; more match" in cut.stderr
