"""The SQLite file itself going wrong: damaged, deleted under the daemon, missing, backed up.

Real files damaged the ways disks and people damage them (truncated, a page of garbage, not
a database at all, deleted while in use), the installed `monitor` command run on them, and
a real daemon. Each command must say what is wrong and what to do, exit 1, create nothing,
and lose nothing it had stored.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from monitor.errors import DatabaseFileError, DatabaseMissingError, DatabaseReplacedError
from monitor.models import Article, FeedSpec, TopicMatch
from monitor.storage.store import Store
from testkit.sites import Site, SiteArticle, build_site
from testkit.webserver import LocalWeb
from tests.test_cli_e2e import MONITOR, _env, database, monitor, write_feeds

pytestmark = pytest.mark.sqlite_only("the SQLite file itself: damage, deletion, backup")

FEED = "https://feeds.example/rss"


def article(n: int) -> Article:
    url = f"https://news.example/{n}"
    return Article(
        url=url,
        feed_url=FEED,
        entry_key=f"link:{url}",
        title=f"North Korean troops, report {n}",
        text=f"Report {n}. " + "North Korean troops were seen near Kursk. " * 40,
        outlet="Example",
        published=datetime(2025, 1, 2, tzinfo=UTC),
        language="en",
        author=None,
        canonical_url=url,
        matches=(TopicMatch("nk-troops", matched=True, score=3.5),),
    )


def fill(url: str, count: int) -> None:
    """A database of ``count`` matched articles, checkpointed and closed: all in the file."""
    store = Store.open(url)
    try:
        store.sync_feeds([FeedSpec(FEED, "Example", "en", None)])
        feed = store.feed(FEED)
        assert feed is not None
        for n in range(count):
            store.save_article(feed.id, f"link:https://news.example/{n}", article(n))
    finally:
        store.close()


# --- the ways a file is damaged --------------------------------------------------------


def truncate_to_half(path: Path) -> None:
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)


def garbage_page(path: Path) -> None:
    """Overwrite the root page of the articles table with random bytes."""
    with sqlite3.connect(path) as connection:
        (root,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'articles'"
        ).fetchone()
        (page_size,) = connection.execute("PRAGMA page_size").fetchone()
    connection.close()
    with path.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(random.Random(13).randbytes(page_size))


def not_a_database(path: Path) -> None:
    path.write_text("feeds:\n  - url: https://example.org/rss\n", encoding="utf-8")


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated": truncate_to_half,
    "garbage-page": garbage_page,
    "not-a-database": not_a_database,
}
# Every one of these meets the damage: they read every article, or (the daemon, a pass)
# check the whole file first, or (a backup) check the copy.
MUST_FAIL = [
    ("articles", "--all", "--json"),
    ("articles",),
    ("poll", "--once"),
    ("run",),
    ("db", "backup", "{backup}"),
]
# These may not read a damaged page; when they do, they must say so the same way.
MAY_FAIL = [
    ("feeds", "list"),
    ("topics", "list"),
    ("export", "atom", "--topic", "nk-troops"),
    ("db", "upgrade"),
]


def assert_reported_as_damaged(result: subprocess.CompletedProcess[str], path: Path) -> None:
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"the database file {path} is damaged" in result.stderr
    assert f'sqlite3 {path} ".recover" | sqlite3' in result.stderr
    assert "backup" in result.stderr
    assert_no_traceback(result)


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    for sign in ("Traceback", "sqlalchemy", "SELECT ", "https://sqlalche.me"):
        assert sign not in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_file_is_reported_with_what_to_do(
    config_dir: Path, database_url: str, tmp_path: Path, damage: str
) -> None:
    path = database(config_dir)
    fill(database_url, 300)
    DAMAGES[damage](path)
    commands = MUST_FAIL + (MAY_FAIL if damage == "not-a-database" else [])
    backup = tmp_path / "backup.db"
    for command in commands:
        args = [arg.format(backup=backup) for arg in command]
        result = monitor(config_dir, *args, timeout=120)
        # The others may succeed, when they read no damaged page.
        if command in MUST_FAIL or damage == "not-a-database" or result.returncode != 0:
            assert_reported_as_damaged(result, path)
    assert not backup.exists() and not list(tmp_path.glob(".backup.db.*"))


def test_damage_found_while_the_daemon_runs_stops_it_with_one_error(config_dir: Path) -> None:
    """The daemon starts on a sound file; its pages then go bad under it. The next read
    of one (the outbox job, every 30 s) stops the daemon with one clear error, not a
    traceback per job."""
    path = database(config_dir)
    assert monitor(config_dir, "db", "upgrade").returncode == 0  # all in the file, no WAL
    daemon = subprocess.Popen(
        [MONITOR, "--config", str(config_dir / "monitor.yaml"), "--log-format", "json", "run"],
        cwd=config_dir.parent,
        env=_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    assert daemon.stderr is not None
    lines = _lines(daemon.stderr)
    try:
        _wait_for(lines, "daemon.started", daemon)
        with sqlite3.connect(path) as connection:
            (page_size,) = connection.execute("PRAGMA page_size").fetchone()
        connection.close()
        with path.open("r+b") as file:  # every page but the first (the schema) goes bad
            file.seek(page_size)
            file.write(random.Random(8).randbytes(path.stat().st_size - page_size))
        # A commit from outside makes the daemon's connections drop the pages they cached.
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA user_version = 8")
        connection.close()
        daemon.wait(timeout=90)
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
    stderr = "".join(lines)
    assert daemon.returncode == 1, stderr[-3000:]
    errors = [event for event in _events(lines) if event["event"] == "database.unusable"]
    assert len(errors) == 1, stderr[-3000:]
    assert f"the database file {path} is damaged" in errors[0]["error"]
    assert "Traceback" not in stderr
    assert f"error: the database file {path} is damaged" in stderr


# --- backups ---------------------------------------------------------------------------


def test_a_backup_of_a_database_being_written_restores_and_reads_back(
    config_dir: Path, database_url: str, tmp_path: Path
) -> None:
    fill(database_url, 50)
    writer = Store.open(database_url)
    feed = writer.feed(FEED)
    assert feed is not None
    stop = threading.Event()
    written = [50]

    def write() -> None:
        while not stop.is_set():
            n = written[0]
            writer.save_article(feed.id, f"link:https://news.example/{n}", article(n))
            written[0] = n + 1
            time.sleep(0.002)

    thread = threading.Thread(target=write)
    thread.start()
    backup = tmp_path / "backups" / "monitor.db"
    backup.parent.mkdir()
    try:
        while written[0] < 150:
            time.sleep(0.05)
        before = written[0]
        made = monitor(config_dir, "db", "backup", str(backup))
        after = written[0]
        again = monitor(config_dir, "db", "backup", str(backup))
        forced = monitor(config_dir, "db", "backup", "--force", str(backup))
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert made.returncode == 0, made.stderr
    assert after > before, "the writer did not go on writing during the backup"
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr
    assert forced.returncode == 0, forced.stderr
    assert not list(backup.parent.glob(".*"))  # no temporary file left behind
    assert sorted(p.name for p in backup.parent.iterdir()) == ["monitor.db"]

    # Restore: the daemon's way to put a backup in place, then read it back.
    restored = database(config_dir)
    for leftover in restored.parent.glob("monitor.db*"):
        leftover.unlink()
    shutil.copy(backup, restored)
    listing = monitor(config_dir, "articles", "--all", "--json", "--limit", "100000")
    assert listing.returncode == 0, listing.stderr
    ids = sorted(json.loads(line)["id"] for line in listing.stdout.splitlines())
    # A consistent snapshot: every article up to some point, none missing in between.
    assert ids == list(range(1, len(ids) + 1))
    assert before <= len(ids) <= written[0]


def test_a_backup_of_a_damaged_database_fails_and_leaves_nothing(
    config_dir: Path, database_url: str, tmp_path: Path
) -> None:
    fill(database_url, 300)
    garbage_page(database(config_dir))
    backup = tmp_path / "backup.db"
    result = monitor(config_dir, "db", "backup", str(backup))
    assert_reported_as_damaged(result, database(config_dir))
    assert list(tmp_path.glob("*backup*")) == []


def test_a_backup_on_postgresql_says_to_use_pg_dump(config_dir: Path, tmp_path: Path) -> None:
    settings = config_dir / "monitor.yaml"
    text = settings.read_text(encoding="utf-8")
    # Nothing listens on port 9: the command must answer without connecting.
    postgres = re.sub(r"url: .*", "url: postgresql://monitor@127.0.0.1:9/monitor", text)
    settings.write_text(postgres, encoding="utf-8")
    result = monitor(config_dir, "db", "backup", str(tmp_path / "dump"))
    assert result.returncode == 1
    assert "pg_dump" in result.stderr
    assert not (tmp_path / "dump").exists()


# --- a missing file ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("articles",),
        ("articles", "--all", "--json"),
        ("articles", "show", "1"),
        ("export", "atom", "--topic", "nk-troops"),
        ("topics", "backtest"),
        ("db", "backup", "{tmp}/backup.db"),
    ],
)
def test_commands_that_read_the_store_do_not_create_a_missing_one(
    config_dir: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = database(config_dir)
    result = monitor(config_dir, *(arg.format(tmp=tmp_path) for arg in command))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"the database file {path} does not exist" in result.stderr
    assert "monitor db upgrade" in result.stderr
    assert_no_traceback(result)
    assert not path.parent.exists()
    assert not (tmp_path / "backup.db").exists()


def test_listing_the_configuration_needs_no_database_and_creates_none(config_dir: Path) -> None:
    write_feeds(config_dir, ["https://example.org/rss"])
    for command in (("feeds", "list"), ("topics", "list"), ("health",)):
        result = monitor(config_dir, *command)
        assert_no_traceback(result)
        assert not database(config_dir).parent.exists(), command
    assert "new" in monitor(config_dir, "feeds", "list").stdout


def test_the_store_refuses_to_open_a_missing_file_unless_it_creates_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'monitor.db'}"
    with pytest.raises(DatabaseMissingError):
        Store.open(url, create=False)
    assert not (tmp_path / "data").exists()
    Store.open(url).close()
    Store.open(url, create=False).close()


# --- a file deleted or replaced under a running store -----------------------------------


@pytest.fixture
def watched(sqlite_url: str) -> Iterator[tuple[Store, list[DatabaseFileError]]]:
    fill(sqlite_url, 20)
    store = Store.open(sqlite_url)
    heard: list[DatabaseFileError] = []
    store.on_file_error = heard.append
    yield store, heard
    store.close()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_writes_stop_when_the_file_is_deleted_or_replaced_and_nothing_is_lost(
    watched: tuple[Store, list[DatabaseFileError]], tmp_path: Path, how: str
) -> None:
    store, heard = watched
    path = tmp_path / "monitor.db"
    feed = store.feed(FEED)
    assert feed is not None
    store.save_article(feed.id, "link:https://news.example/20", article(20))  # in the WAL
    for file in tmp_path.glob("monitor.db*"):
        file.unlink()
    if how == "replaced":
        sqlite3.connect(path).close()  # someone else's new, empty database at the path

    for n in (21, 22):
        with pytest.raises(DatabaseReplacedError) as refused:
            store.save_article(feed.id, f"link:https://news.example/{n}", article(n))
    error = refused.value
    assert error.deleted is (how == "deleted")
    assert error.rescued_to is not None and error.rescued_to.parent == tmp_path
    assert f"{path} was {'deleted' if how == 'deleted' else 'replaced'}" in str(error)
    assert str(error.rescued_to) in str(error)
    assert heard and all(isinstance(e, DatabaseReplacedError) for e in heard)
    assert (path.exists() and path.stat().st_size == 0) if how == "replaced" else not path.exists()
    assert len(list(tmp_path.glob("monitor.db.rescued-*"))) == 1

    with sqlite3.connect(error.rescued_to) as rescued:
        urls = [row[0] for row in rescued.execute("SELECT url FROM articles ORDER BY id")]
    rescued.close()
    assert urls == [f"https://news.example/{n}" for n in range(21)]


def test_deleting_the_file_under_the_daemon_loses_nothing_it_stored(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle]
) -> None:
    """`rm monitor.db*` while the daemon stores articles: it stops writing, saves what it
    had beside the path, logs what happened and what to do, and exits 1. A command run
    meanwhile creates no empty database at the path. Put back, the saved copy and one
    more pass hold every article once."""
    site = build_site(web, devset_articles[:40], feeds=4)
    write_feeds(config_dir, site.feed_urls)
    _slow_pages(web, site, feeds={1, 2, 3}, delay=0.5)
    path = database(config_dir)
    env = _env() | {"MONITOR_POLLING__JITTER_SECONDS": "0", "MONITOR_POLLING__CONCURRENCY": "1"}
    daemon = subprocess.Popen(
        [MONITOR, "--config", str(config_dir / "monitor.yaml"), "--log-format", "json", "run"],
        cwd=config_dir.parent,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert daemon.stderr is not None
    lines = _lines(daemon.stderr)
    try:
        first = _wait_for(lines, "feed.polled", daemon)
        assert first["stored"] > 0 and daemon.poll() is None
        for file in path.parent.glob("monitor.db*"):
            if not file.name.endswith(".lock"):
                file.unlink()
        reader = monitor(config_dir, "articles")
        daemon.wait(timeout=120)
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
    stderr = "".join(lines)
    assert daemon.returncode == 1, stderr[-3000:]
    assert reader.returncode == 1 and "does not exist" in reader.stderr
    assert not path.exists(), "something created a new database at the path"

    (rescued,) = path.parent.glob("monitor.db.rescued-*")
    errors = [event for event in _events(lines) if event["event"] == "database.unusable"]
    assert errors, stderr[-3000:]
    assert f"the database file {path} was deleted" in errors[0]["error"]
    assert str(rescued) in errors[-1]["error"]
    assert "Traceback" not in stderr

    # Every feed the daemon reported as polled has each of its entries in the copy.
    with sqlite3.connect(rescued) as connection:
        saved = {
            url: count
            for url, count in connection.execute(
                "SELECT feeds.url, count(entries.key) FROM feeds "
                "LEFT JOIN entries ON entries.feed_id = feeds.id GROUP BY feeds.url"
            )
        }
    connection.close()
    polled = [
        e for e in _events(lines) if e["event"] == "feed.polled" and e["outcome"] == "fetched"
    ]
    assert polled
    for event in polled:
        assert saved[event["feed"]] >= event["new"], event

    # Put the copy back as the error says, then finish the work: every article once.
    shutil.move(rescued, path)
    again = monitor(config_dir, "poll", "--once", "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    with sqlite3.connect(path) as connection:
        urls = [row[0] for row in connection.execute("SELECT canonical_url FROM articles")]
        keys = [row[0] for row in connection.execute("SELECT key FROM entries")]
    connection.close()
    assert len(urls) == len(set(urls)) == 40
    assert len(keys) == len(set(keys)) == 40


# --- helpers ---------------------------------------------------------------------------


def _slow_pages(web: LocalWeb, site: Site, *, feeds: set[int], delay: float) -> None:
    for feed in site.feeds:
        if feed.index not in feeds:
            continue
        for article_id in feed.article_ids:
            url = site.url_of(article_id)
            _, route = web.lookup(urlsplit(url).path)
            assert route is not None
            body, content_type = route.body, route.content_type  # type: ignore[union-attr]
            web.fault(
                url, "slow", body=body, delay=delay, rate=50_000_000, content_type=content_type
            )


def _lines(stream: object) -> list[str]:
    """The lines of a child's stderr, collected as they come by a thread of their own."""
    collected: list[str] = []

    def read() -> None:
        for line in stream:  # type: ignore[attr-defined]
            collected.append(line)

    threading.Thread(target=read, daemon=True).start()
    return collected


def _events(lines: list[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in list(lines) if line.startswith("{")]


def _wait_for(
    lines: list[str], name: str, process: subprocess.Popen[str], timeout: float = 90
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in _events(lines):
            if event["event"] == name:
                return event
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"no {name} event; stderr:\n{''.join(lines)[-3000:]}")
