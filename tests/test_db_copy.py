"""`monitor db copy`: a real SQLite store moved to PostgreSQL (and back), row for row."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, Table, insert, select, text, update

from monitor.cli import main
from monitor.errors import CopyError
from monitor.models import Article, DuplicateLink, FeedSpec, FeedState, NewMessage, TopicMatch
from monitor.storage import copy as copy_module
from monitor.storage.copy import CopyReport, TableCount, copy_database, head_revision
from monitor.storage.copy_tables import Progress, schema_tables
from monitor.storage.digests import mark_sent, record_alert, record_outbox
from monitor.storage.engine import MIGRATIONS, create_store_engine, current_revision, upgrade
from monitor.storage.lock import StoreLock
from monitor.storage.session import as_utc
from monitor.storage.store import Store
from monitor.storage.tables import ArticleRow, Base
from testkit.sites import SiteArticle, build_site
from testkit.webserver import LocalWeb
from tests.test_pipeline import configure, poll_once
from tests.test_pipeline_dedup import syndicated_copy

# Every test copies from SQLite files and to PostgreSQL schemas of its own: one pass is enough.
pytestmark = pytest.mark.sqlite_only("copies SQLite files; to PostgreSQL too, in this pass")

T0 = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)
ARTICLES = 1_200  # more than one batch at the batch size the tests use


# --- a store with something in every table ---------------------------------------------


def _article(n: int, *, matched: bool, text: str | None = None) -> Article:
    url = f"https://news{n % 7}.example/2025/{n}"
    matches = (
        (TopicMatch("nk-troops", True, 2.5 + n % 5),)
        if matched
        else (TopicMatch("nk-troops", False, 0.1),)
    )
    return Article(
        url=url + "?utm_source=rss",
        feed_url="unused",
        entry_key=f"guid:{n}",
        title=f"Dispatch {n}: troops at the front — Курск 북한",
        text=text or f"Body of article {n}. " * 20,
        outlet=f"Outlet {n % 7}",
        published=T0 + timedelta(minutes=n) if n % 3 else None,
        language=("en", "ru", "ko")[n % 3],
        author="Reporter" if n % 2 else None,
        canonical_url=url,
        extract_error="no text" if n % 97 == 0 else None,
        matches=matches,
    )


def fill(url: str) -> dict[str, int]:
    """Feeds, entries, articles with copies and stories, matches, digests, alerts."""
    store = Store.open(url)
    try:
        store.sync_feeds(
            [FeedSpec(f"https://feeds{i}.example/rss", f"Feed {i}", "en", 600) for i in range(5)]
        )
        feeds = store.feeds()
        store.save_feed_poll(
            feeds[0].id,
            FeedState(
                health="failing",
                consecutive_failures=3,
                failing_since=T0,
                last_success_at=T0 - timedelta(days=1),
                next_poll_at=T0 + timedelta(hours=1),
                last_status=503,
                last_error="HTTP 503",
                redirect_target="https://elsewhere.example/rss",
                redirect_count=2,
            ),
            etag='"abc"',
            last_modified="Sat, 01 Mar 2025 08:00:00 GMT",
            body_hash="f" * 64,
            title="Feed zero",
        )
        ids: list[int] = []
        story = None
        for n in range(ARTICLES):
            feed = feeds[n % len(feeds)]
            duplicate = None
            if n % 10 == 9:  # a copy of the article before it
                duplicate = DuplicateLink(ids[-1], "near", f"like #{ids[-1]}", 0.81)
            own_story = n % 25 == 0
            article_id = store.save_article(
                feed.id,
                f"guid:{n}",
                _article(n, matched=n % 4 != 3),
                content_hash=hashlib.sha256(str(n).encode()).hexdigest(),
                signature=bytes([n % 256, 0, 255, (n * 7) % 256]) * 8,
                duplicate=duplicate,
                story_id=story if not own_story else None,
                own_story=own_story,
            )
            if own_story:
                story = article_id
            ids.append(article_id)
            if n % 50 == 0:  # an entry that led to no article
                store.record_entry(feed.id, f"guid:{n}-empty", None, None)
        store.prune(retention_days=0, now=datetime.now(UTC) + timedelta(days=1))

        digest_id = record_outbox(
            store,
            NewMessage(
                "alice",
                "digest",
                "<d1@monitor>",
                "alice@example.org",
                "Digest: 3 new",
                b"Subject: x\r\n\r\n\x00\xff binary-safe",
                items=[(ids[0], "nk-troops"), (ids[1], "nk-troops"), (ids[2], "nk-troops")],
            ),
            T0,
        )
        mark_sent(store, digest_id, T0 + timedelta(minutes=1))
        record_alert(
            store,
            NewMessage("bob", "alert", "<a1@monitor>", "bob@example.org", "Alert", b"alert"),
            "nk-troops",
            "score",
            [str(ids[0]), str(ids[25])],
            T0,
        )
        claims = Base.metadata.tables.get("schedule_claims")
        if claims is not None:  # the table schedulers claim their work in
            with store.engine.begin() as connection:
                connection.execute(
                    insert(claims).values(key="digest:alice:2025-03-01", claimed_at=T0)
                )
        return counts(url)
    finally:
        store.close()


def counts(url: str) -> dict[str, int]:
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            return {
                name: int(connection.scalar(text(f'SELECT count(*) FROM "{name}"')) or 0)
                for name in schema_tables()
            }
    finally:
        engine.dispose()


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, ordered by key, datetimes as aware UTC, bytes as bytes."""
    engine = create_store_engine(url)
    reflected = MetaData()
    rows: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with engine.connect() as connection:
            for name in schema_tables():
                table = Base.metadata.tables.get(name)
                if table is None:
                    table = Table(name, reflected, autoload_with=engine)
                order = list(table.primary_key.columns) or list(table.columns)
                rows[name] = [
                    tuple(_plain(value) for value in row)
                    for row in connection.execute(select(table).order_by(*order))
                ]
    finally:
        engine.dispose()
    return rows


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value.astimezone(UTC) if value.tzinfo else value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """One filled store per test session; each test gets a copy of its file."""
    path = tmp_path_factory.mktemp("template") / "monitor.db"
    return path, fill(f"sqlite:///{path}")


def clone(template: tuple[Path, dict[str, int]], path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template[0], path)
    return f"sqlite:///{path}"


@pytest.fixture
def source(template: tuple[Path, dict[str, int]], tmp_path: Path) -> tuple[str, dict[str, int]]:
    return clone(template, tmp_path / "old" / "monitor.db"), template[1]


@pytest.fixture
def copied(source: tuple[str, dict[str, int]], postgres_url: str) -> CopyReport:
    return copy_database(source[0], postgres_url, batch_rows=500)


def _views(url: str) -> dict[str, Any]:
    """What the commands show: articles, stories and copies, through the Store."""
    store = Store.open(url, migrate=False)
    try:
        everything = store.articles(include_all=True)
        originals = store.articles(topic="nk-troops")
        story_ids = sorted({v.story_id for v in everything if v.story_id is not None})
        return {
            "all": everything,
            "matched": store.articles(),
            "topic": originals,
            "since": store.articles(since=T0 + timedelta(days=3650), include_all=True),
            "stories": {sid: store.story(sid) for sid in story_ids},
            "copies": store.copies_of([v.id for v in originals]),
            "texts": store.texts([v.id for v in everything]),
            "signatures": list(store.signatures()),
            "feeds": store.feeds(),
            "counts": store.counts(),
        }
    finally:
        store.close()


# --- SQLite → PostgreSQL -----------------------------------------------------------------


@pytest.mark.postgres
def test_every_table_is_copied_row_for_row(
    source: tuple[str, dict[str, int]], postgres_url: str, copied: CopyReport
) -> None:
    url, before = source
    assert all(before[name] > 0 for name in schema_tables()), before  # every table exercised
    assert copied.ok and copied.revision == head_revision()
    assert {c.table: (c.source, c.target) for c in copied.tables} == {
        name: (n, n) for name, n in before.items()
    }
    assert counts(postgres_url) == before
    assert dump(postgres_url) == dump(url)


@pytest.mark.postgres
def test_sample_rows_keep_their_types(
    source: tuple[str, dict[str, int]], postgres_url: str, copied: CopyReport
) -> None:
    engine = create_store_engine(postgres_url)
    try:
        with engine.connect() as connection:
            copy = connection.execute(select(ArticleRow).where(ArticleRow.id == 10)).one()
            outbox = connection.execute(
                text("SELECT message, sent_at FROM outbox WHERE kind = 'digest'")
            ).one()
            terms = connection.execute(text("SELECT terms FROM matches LIMIT 1")).scalar()
            kinds = connection.execute(
                text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'articles' AND column_name IN ('fetched_at', 'signature')"
                )
            ).all()
    finally:
        engine.dispose()
    assert copy.duplicate_of == 9 and copy.duplicate_kind == "near"
    assert copy.duplicate_reason == "like #9" and copy.similarity == pytest.approx(0.81)
    assert copy.story_id == 1 and copy.title.endswith("Курск 북한")
    assert copy.fetched_at.tzinfo is not None and copy.fetched_at.utcoffset() == timedelta(0)
    assert bytes(outbox.message) == b"Subject: x\r\n\r\n\x00\xff binary-safe"
    assert outbox.sent_at == T0 + timedelta(minutes=1)
    assert terms == []  # JSON, not a string holding JSON
    assert dict(kinds) == {"fetched_at": "timestamp with time zone", "signature": "bytea"}


@pytest.mark.postgres
def test_articles_stories_and_copies_read_the_same(
    source: tuple[str, dict[str, int]], postgres_url: str, copied: CopyReport
) -> None:
    on_sqlite, on_postgres = _views(source[0]), _views(postgres_url)
    assert len(on_sqlite["all"]) == ARTICLES and len(on_sqlite["stories"]) == ARTICLES // 25
    assert sum(len(v) for v in on_sqlite["copies"].values()) > 50
    for key in on_sqlite:
        assert on_postgres[key] == on_sqlite[key], key


@pytest.mark.postgres
def test_new_rows_after_the_copy_get_fresh_ids(
    source: tuple[str, dict[str, int]], postgres_url: str, copied: CopyReport
) -> None:
    store = Store.open(postgres_url)
    try:
        feed = store.feeds()[0]
        new_id = store.save_article(feed.id, "guid:new", _article(10_000, matched=True))
        store.sync_feeds([FeedSpec("https://brand-new.example/rss", "New")])
        outbox_id = record_outbox(
            store, NewMessage("carol", "empty", "<e1@monitor>", "c@example.org", "-", b"x"), T0
        )
        assert new_id == ARTICLES + 1
        assert store.feed("https://brand-new.example/rss").id == 6  # type: ignore[union-attr]
        assert outbox_id == 3  # after the digest and the alert
        assert store.articles_by_id([new_id])[0].title.startswith("Dispatch 10000")
    finally:
        store.close()


@pytest.mark.postgres
def test_the_source_is_not_modified(
    source: tuple[str, dict[str, int]], tmp_path: Path, postgres_url: str
) -> None:
    url = source[0]
    database = tmp_path / "old" / "monitor.db"
    assert not (tmp_path / "old" / "monitor.db-wal").exists()  # checkpointed when it closed
    before = hashlib.sha256(database.read_bytes()).hexdigest()

    copy_database(url, postgres_url)

    assert hashlib.sha256(database.read_bytes()).hexdigest() == before
    wal = tmp_path / "old" / "monitor.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # a reader's empty log at most
    assert counts(url) == counts(postgres_url)


@pytest.mark.postgres
def test_progress_is_reported_per_batch_and_per_table(
    source: tuple[str, dict[str, int]], postgres_url: str
) -> None:
    steps: list[Progress] = []
    copy_database(source[0], postgres_url, batch_rows=500, progress=steps.append)
    finished = [step for step in steps if step.finished]
    assert [step.table for step in finished] == schema_tables()
    assert all(step.copied == step.total == source[1][step.table] for step in finished)
    batches = [step.copied for step in steps if step.table == "articles" and not step.finished]
    assert batches == [500, 1000]
    order = [step.table for step in finished]
    assert order.index("feeds") < order.index("articles") < order.index("matches")
    assert order.index("outbox") < order.index("digest_items")


@pytest.mark.postgres
def test_a_store_filled_by_the_pipeline_moves_intact(
    config_dir: Path,
    web: LocalWeb,
    devset_articles: list[SiteArticle],
    sqlite_url: str,
    postgres_url: str,
) -> None:
    troops = [a for a in devset_articles if "nk-troops" in a.topics and a.language == "en"][:4]
    others = [a for a in devset_articles if a not in troops][:12]
    wire = build_site(web, [*troops, *others], feeds=2, prefix="wire", tracking=True)
    config = configure(config_dir, wire.feed_urls, sqlite_url)
    poll_once(config)
    copies = [syndicated_copy(a, "Harbour Gazette") for a in troops]
    gazette = build_site(web, copies, feeds=1, prefix="gazette")
    config = configure(config_dir, [*wire.feed_urls, *gazette.feed_urls], sqlite_url)
    assert poll_once(config).duplicates == len(copies)

    report = copy_database(sqlite_url, postgres_url)

    assert report.ok and dict((c.table, c.target) for c in report.tables)["articles"] == 20
    assert dump(postgres_url) == dump(sqlite_url)
    on_sqlite, on_postgres = _views(sqlite_url), _views(postgres_url)
    assert sum(len(v) for v in on_sqlite["copies"].values()) == len(copies)
    assert on_postgres == on_sqlite


# --- refusals and --replace ------------------------------------------------------------------


@pytest.mark.postgres
def test_a_target_with_rows_is_refused(
    source: tuple[str, dict[str, int]], postgres_url: str, copied: CopyReport
) -> None:
    before = dump(postgres_url)
    with pytest.raises(CopyError, match=r"already holds rows: feeds \(5 rows\).*--replace"):
        copy_database(source[0], postgres_url)
    assert dump(postgres_url) == before


@pytest.mark.postgres
def test_replace_empties_the_target_first(
    tmp_path: Path, source: tuple[str, dict[str, int]], postgres_url: str, copied: CopyReport
) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    store = Store.open(other)
    try:
        store.sync_feeds([FeedSpec("https://only-here.example/rss", "Only")])
        feed = store.feeds()[0]
        store.save_article(feed.id, "g", _article(1, matched=True), own_story=True)
    finally:
        store.close()

    report = copy_database(other, postgres_url, replace=True)

    assert report.ok and report.replaced
    assert dump(postgres_url) == dump(other)
    assert counts(postgres_url)["articles"] == 1


@pytest.mark.postgres
def test_a_failed_replace_leaves_the_target_as_it_was(
    tmp_path: Path,
    template: tuple[Path, dict[str, int]],
    postgres_url: str,
    copied: CopyReport,
) -> None:
    bad = clone(template, tmp_path / "bad.db")
    engine = create_store_engine(bad)
    with engine.begin() as connection:  # SQLite does not enforce VARCHAR lengths; PostgreSQL does
        connection.execute(update(ArticleRow).where(ArticleRow.id == 700).values(title="x" * 1001))
    engine.dispose()
    before = dump(postgres_url)

    with pytest.raises(CopyError, match=r"row id=700 of table articles: column title holds 1,001"):
        copy_database(bad, postgres_url, replace=True)

    assert dump(postgres_url) == before


@pytest.mark.postgres
def test_a_source_behind_the_head_revision_is_refused(tmp_path: Path, postgres_url: str) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    previous = ScriptDirectory.from_config(config).get_revision(head_revision()).down_revision
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_store_engine(url)
    upgrade(engine, str(previous))
    engine.dispose()

    with pytest.raises(CopyError, match=rf"at schema revision {previous}.*monitor db upgrade"):
        copy_database(url, postgres_url)
    assert current_revision(create_store_engine(postgres_url)) is None  # target not touched


def test_a_source_the_daemon_holds_is_refused(
    source: tuple[str, dict[str, int]], tmp_path: Path
) -> None:
    target = f"sqlite:///{tmp_path / 'new.db'}"
    with StoreLock.for_url(source[0]), pytest.raises(CopyError) as refused:
        copy_database(source[0], target)
    message = str(refused.value)
    assert "a monitor daemon (pid " in message and "stop it first" in message
    assert "monitor.db" in message
    assert not (tmp_path / "new.db").exists()
    # once the daemon is gone the same copy goes through
    assert copy_database(source[0], target).ok


def test_the_same_database_twice_is_refused(source: tuple[str, dict[str, int]]) -> None:
    with pytest.raises(CopyError, match="same database"):
        copy_database(source[0], source[0].replace("/old/", "/old/./"), replace=True)
    assert counts(source[0]) == source[1]


def test_a_missing_source_file_is_refused_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(CopyError, match="no database file at"):
        copy_database(f"sqlite:///{tmp_path / 'nope.db'}", f"sqlite:///{tmp_path / 'to.db'}")
    assert list(tmp_path.iterdir()) == []


def test_a_source_that_is_not_a_monitor_database_is_refused(tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(CopyError, match="not a monitor database"):
        copy_database(f"sqlite:///{tmp_path / 'other.db'}", f"sqlite:///{tmp_path / 'to.db'}")


# --- other pairs -----------------------------------------------------------------------------


def test_sqlite_to_sqlite(source: tuple[str, dict[str, int]], tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'new' / 'monitor.db'}"
    report = copy_database(source[0], target, batch_rows=700)
    assert report.ok and counts(target) == source[1]
    assert dump(target) == dump(source[0])
    assert _views(target) == _views(source[0])
    store = Store.open(target)
    try:
        new_id = store.save_article(1, "guid:new", _article(10_000, matched=True))
        assert new_id == ARTICLES + 1
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_in_another_time_zone_back_to_sqlite(
    source: tuple[str, dict[str, int]], postgres_url: str, tmp_path: Path
) -> None:
    """PostgreSQL hands datetimes back in the session's zone and reads naive ones in it."""
    seoul = postgres_url.replace("options=", "options=-ctimezone%3DAsia/Seoul%20")
    engine = create_store_engine(seoul)
    with engine.connect() as connection:
        assert connection.scalar(text("SHOW timezone")) == "Asia/Seoul"
    engine.dispose()
    copy_database(source[0], postgres_url)
    back = f"sqlite:///{tmp_path / 'back.db'}"

    assert copy_database(seoul, back).ok  # read at +09:00

    assert dump(back) == dump(source[0])
    engine = create_store_engine(back)
    with engine.connect() as connection:  # stored as SQLite stores them: naive UTC
        stored = connection.scalar(text("SELECT sent_at FROM outbox WHERE kind = 'digest'"))
    engine.dispose()
    assert str(stored).startswith("2025-03-01 08:31:00")

    assert copy_database(source[0], seoul, replace=True).ok  # written at +09:00
    assert dump(postgres_url) == dump(source[0])


def test_a_reference_to_a_later_row_survives(
    source: tuple[str, dict[str, int]], tmp_path: Path
) -> None:
    engine = create_store_engine(source[0])
    with engine.begin() as connection:  # the first article made a copy of the last one
        connection.execute(
            update(ArticleRow).where(ArticleRow.id == 1).values(duplicate_of=ARTICLES)
        )
    engine.dispose()
    target = f"sqlite:///{tmp_path / 'new.db'}"
    assert copy_database(source[0], target, batch_rows=300).ok
    assert dump(target) == dump(source[0])
    engine = create_store_engine(target)
    with engine.connect() as connection:
        first = connection.scalar(select(ArticleRow.duplicate_of).where(ArticleRow.id == 1))
        violations = connection.execute(text("PRAGMA foreign_key_check")).all()
    engine.dispose()
    assert first == ARTICLES and violations == []


# --- the command -----------------------------------------------------------------------------


@pytest.fixture
def runner(source: tuple[str, dict[str, int]]) -> CliRunner:
    return CliRunner(env={"MONITOR_DATABASE__URL": source[0]})


def _invoke(runner: CliRunner, config_dir: Path, *args: str) -> Any:
    return runner.invoke(main, ["--config", str(config_dir / "monitor.yaml"), "db", "copy", *args])


@pytest.mark.postgres
def test_the_command_copies_from_the_configured_database(
    runner: CliRunner, config_dir: Path, source: tuple[str, dict[str, int]], postgres_url: str
) -> None:
    result = _invoke(runner, config_dir, "--to", postgres_url)
    assert result.exit_code == 0, result.output
    assert f"  articles {ARTICLES:>20,} rows" in result.output
    assert f"  articles {ARTICLES:>20,} / {ARTICLES:<12,} ok" in result.output
    assert "DIFFERENT" not in result.output and "done: " in result.output
    assert counts(postgres_url) == source[1]

    again = _invoke(runner, config_dir, "--to", postgres_url)
    assert again.exit_code == 1
    assert "error: the target" in again.output and "--replace" in again.output

    replaced = _invoke(runner, config_dir, "--to", postgres_url, "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert counts(postgres_url) == source[1]


def test_the_command_refuses_the_configured_database_as_target(
    runner: CliRunner, config_dir: Path, source: tuple[str, dict[str, int]]
) -> None:
    result = _invoke(runner, config_dir, "--to", source[0], "--replace")
    assert result.exit_code == 1
    assert "same database" in result.output and "--from" in result.output
    assert counts(source[0]) == source[1]


def test_the_command_with_from_and_a_held_lock(
    config_dir: Path, source: tuple[str, dict[str, int]], tmp_path: Path
) -> None:
    target = f"sqlite:///{tmp_path / 'new.db'}"
    with StoreLock.for_url(source[0]):
        config = str(config_dir / "monitor.yaml")
        result = CliRunner().invoke(
            main, ["--config", config, "db", "copy", "--from", source[0], "--to", target]
        )
    assert result.exit_code == 1 and "stop it first" in result.output


def test_the_command_fails_when_counts_differ(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def short(*_args: Any, **_kwargs: Any) -> CopyReport:
        report = CopyReport("sqlite:///a.db", "postgresql://db/monitor", "0001", False)
        report.tables = [TableCount("feeds", 3, 3), TableCount("articles", 10, 9)]
        return report

    monkeypatch.setattr(copy_module, "copy_database", short)
    result = _invoke(CliRunner(), config_dir, "--to", "postgresql://db/monitor")
    assert result.exit_code == 1
    assert "articles" in result.output and "DIFFERENT" in result.output
    assert "differ in articles" in result.output


def test_help_names_the_options() -> None:
    result = CliRunner().invoke(main, ["db", "copy", "--help"])
    assert result.exit_code == 0
    assert all(flag in result.output for flag in ("--to URL", "--from URL", "--replace"))
