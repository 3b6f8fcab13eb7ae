"""The only code that holds database sessions.

Every write is idempotent: rows are inserted with ON CONFLICT DO NOTHING on
their natural keys, and one article's rows (article, matches, entry) are
written in one transaction, so a crash and restart re-does work without
losing or duplicating it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Select, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session

from monitor.errors import DatabaseDamagedError, DatabaseFileError, StorageError
from monitor.models import Article, FeedSpec, FeedState, TopicMatch
from monitor.storage.engine import create_store_engine, upgrade
from monitor.storage.sqlite_file import SqliteFile, damage_of
from monitor.storage.tables import ArticleRow, EntryRow, FeedRow, MatchRow
from monitor.text import clean_date

ARTICLE_WRITE_LOCK = 0x6D6F6E69  # any fixed key, the same in every process
FEED_COLUMNS = tuple(FeedRow.__table__.columns)

# Built once: constructing a statement costs more than running it (measured).
# SAVE_FEED_POLL sets the columns named in the parameters it is run with.
_FEEDS = FeedRow.metadata.tables["feeds"]
SAVE_FEED_POLL = update(_FEEDS).where(_FEEDS.c.id == bindparam("feed_id"))
_ORIGINAL = func.coalesce(ArticleRow.duplicate_of, ArticleRow.id)
BY_CANONICAL_URL = select(_ORIGINAL).where(ArticleRow.canonical_url == bindparam("url"))
BY_CONTENT_HASH = (
    select(_ORIGINAL)
    .where(ArticleRow.content_hash == bindparam("hash"))
    .order_by(ArticleRow.id)
    .limit(1)
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """A feed's stored identity, validators and state, as the pipeline needs them."""

    id: int
    url: str
    name: str
    interval_seconds: int | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    state: FeedState


@dataclass(frozen=True, slots=True)
class ArticleView:
    """A stored article as the commands show it."""

    id: int
    url: str
    title: str
    outlet: str
    published: datetime | None
    fetched_at: datetime
    language: str | None
    text_chars: int
    duplicate_of: int | None
    duplicate_kind: str | None
    duplicate_reason: str | None
    story_id: int | None
    extract_error: str | None
    topics: dict[str, float]


@dataclass(frozen=True, slots=True)
class StoredText:
    """An article's text as stored, for re-matching changed topics against history."""

    id: int
    title: str
    text: str
    language: str | None
    outlet: str


@dataclass(frozen=True, slots=True)
class StoryMember:
    """A recent matched article, as the story index needs it after a restart."""

    id: int
    title: str
    text: str
    outlet: str
    published: datetime
    topics: tuple[str, ...]
    story_id: int


@dataclass(frozen=True, slots=True)
class DuplicateLink:
    """How a stored article relates to an earlier one."""

    original_id: int | None
    kind: str | None
    reason: str | None
    similarity: float | None


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.file = SqliteFile.of(engine)
        self.on_file_error: Callable[[DatabaseFileError], None] | None = None
        """Told of every failure that only an operator can mend (a damaged, missing or
        replaced file), as well as raised: the daemon stops on it rather than fail each
        poll alike."""
        self._writer = engine.execution_options(sqlite_begin="IMMEDIATE")
        self._new_article = (
            self._insert(ArticleRow)
            .on_conflict_do_nothing(index_elements=["canonical_url"])
            .returning(ArticleRow.id)
        )
        self._new_match = self._insert(MatchRow).on_conflict_do_nothing()
        self._new_entry = self._insert(EntryRow).on_conflict_do_nothing(
            index_elements=["feed_id", "key"]
        )

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, create: bool = True) -> Store:
        """The store at ``url``, migrated unless ``migrate`` is false. Commands that only
        use a database pass ``create=False``: a missing SQLite file is then
        `DatabaseMissingError`, rather than a new empty database where the old one was."""
        store = cls(create_store_engine(url, create=create))
        if migrate:
            store.upgrade()
        return store

    def upgrade(self) -> None:
        with self._failures("migration"):
            upgrade(self.engine)

    def check_integrity(self) -> None:
        """Raise `DatabaseDamagedError` unless SQLite's quick check finds a sound file.

        It reads every page (about 0.5 s a gigabyte when cached, measured): worth it when
        the daemon starts, not on every command, which meet damage when they read it."""
        if self.file is None:
            return
        with self._failures("integrity check"), self.engine.connect() as connection:
            problems = [str(row[0]) for row in connection.exec_driver_sql("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise DatabaseDamagedError(self.file.path, "; ".join(problems))

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """Raise `StorageError` unless the database answers."""
        with self.reading() as session:
            session.execute(select(1))

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read session; a locked or broken database is a `StorageError`, like writes."""
        with self._failures("read"), Session(self.engine) as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE)."""
        with self._failures("write"), Session(self._writer) as session, session.begin():
            yield session

    # The per-article and per-feed calls use plain connections: building an ORM session
    # costs more than the query itself (measured: 1.5-2.5 ms a lookup on SQLite).

    @contextmanager
    def connected(self) -> Iterator[Connection]:
        """`reading`, without the ORM: rows, not mapped objects."""
        with self._failures("read"), self.engine.connect() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """`writing`, without the ORM."""
        with self._failures("write"), self._writer.begin() as connection:
            yield connection

    @contextmanager
    def _failures(self, what: str) -> Iterator[None]:
        """Driver errors as `StorageError`; a file only an operator can mend also goes
        to `on_file_error`. Other errors (a constraint broken: a bug) pass unchanged."""
        try:
            yield
        except DatabaseFileError as exc:
            self._file_failed(exc)
            raise
        except DatabaseError as exc:
            reason = damage_of(exc)
            if reason is not None and self.file is not None:
                damaged = DatabaseDamagedError(self.file.path, reason)
                self._file_failed(damaged)
                raise damaged from exc
            if not isinstance(exc, OperationalError):
                raise
            raise StorageError(f"database {what} failed: {exc.orig}") from exc

    def _file_failed(self, exc: DatabaseFileError) -> None:
        if self.on_file_error is not None:
            self.on_file_error(exc)

    def _insert(self, table: Any) -> Any:
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table)

    # --- feeds ------------------------------------------------------------

    def sync_feeds(self, specs: Sequence[FeedSpec]) -> None:
        """Make sure every configured feed has a row; refresh names and intervals.

        Only new or changed feeds are written: every poll pass calls this, and a list
        of thousands of feeds rarely changes between two."""
        stored = {
            row.url: (row.name, row.language, row.interval_seconds)
            for row in self._feed_rows(select(*FEED_COLUMNS))
        }
        changed = [
            spec
            for spec in specs
            if stored.get(spec.url) != (spec.name, spec.language, spec.interval_seconds)
        ]
        if not changed:
            return
        now = utcnow()
        with self.transaction() as connection:
            for spec in changed:
                statement = self._insert(FeedRow).values(
                    url=spec.url,
                    name=spec.name,
                    language=spec.language,
                    interval_seconds=spec.interval_seconds,
                    created_at=now,
                )
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=["url"],
                        set_={
                            "name": spec.name,
                            "language": spec.language,
                            "interval_seconds": spec.interval_seconds,
                        },
                    )
                )

    def feed(self, url: str) -> FeedRecord | None:
        rows = self._feed_rows(select(*FEED_COLUMNS).where(FeedRow.url == url))
        return _feed_record(rows[0]) if rows else None

    def feed_by_id(self, feed_id: int) -> FeedRecord | None:
        rows = self._feed_rows(select(*FEED_COLUMNS).where(FeedRow.id == feed_id))
        return _feed_record(rows[0]) if rows else None

    def feeds(self, urls: Iterable[str] | None = None) -> list[FeedRecord]:
        query = select(*FEED_COLUMNS).order_by(FeedRow.id)
        if urls is None:
            return [_feed_record(row) for row in self._feed_rows(query)]
        wanted = list(urls)
        return [
            _feed_record(row)
            for chunk in _chunks(wanted, 500)
            for row in self._feed_rows(query.where(FeedRow.url.in_(chunk)))
        ]

    def _feed_rows(self, query: Select[Any]) -> list[Any]:
        with self.connected() as connection:
            return list(connection.execute(query))

    def save_feed_poll(
        self,
        feed_id: int,
        state: FeedState,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        body_hash: str | None = None,
        title: str | None = None,
        keep_validators: bool = False,
    ) -> None:
        """Record a poll's outcome; validators are saved only once its entries are stored."""
        values: dict[str, Any] = {
            "health": state.health,
            "consecutive_failures": state.consecutive_failures,
            "failing_since": state.failing_since,
            "last_success_at": state.last_success_at,
            "last_new_entry_at": state.last_new_entry_at,
            "next_poll_at": state.next_poll_at,
            "last_status": state.last_status,
            "last_error": state.last_error,
            "redirect_target": state.redirect_target,
            "redirect_count": state.redirect_count,
            "moved_to": state.moved_to,
            "last_polled_at": utcnow(),
        }
        if not keep_validators:
            values.update(etag=etag, last_modified=last_modified, body_hash=body_hash)
        if title:
            values["title"] = title
        values["feed_id"] = feed_id
        with self.transaction() as connection:
            connection.execute(SAVE_FEED_POLL, values)

    # --- entries and articles ---------------------------------------------

    def known_entry_keys(self, feed_id: int, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.connected() as connection:
            for chunk in _chunks(keys, 500):
                query = select(EntryRow.key).where(
                    EntryRow.feed_id == feed_id, EntryRow.key.in_(chunk)
                )
                found.update(connection.scalars(query))
        return found

    def entries_seen_since(self, feed_id: int, since: datetime) -> int:
        """How many entries of this feed were first seen at or after ``since``."""
        with self.connected() as connection:
            query = (
                select(func.count())
                .select_from(EntryRow)
                .where(EntryRow.feed_id == feed_id, EntryRow.seen_at >= since)
            )
            return int(connection.scalar(query) or 0)

    def by_canonical_url(self, url: str) -> int | None:
        """The original (not a copy) stored under ``url``: a `DedupLookup` method."""
        with self.connected() as connection:
            return connection.scalar(BY_CANONICAL_URL, {"url": url})

    def by_content_hash(self, content_hash: str) -> int | None:
        """The original of the first article with this exact text: a `DedupLookup` method."""
        with self.connected() as connection:
            return connection.scalar(BY_CONTENT_HASH, {"hash": content_hash})

    def signatures(self, after_id: int = 0) -> Iterator[tuple[int, bytes]]:
        """(id, signature) of every original that still has one, for the near-dup index."""
        with self.reading() as session:
            query = (
                select(ArticleRow.id, ArticleRow.signature)
                .where(
                    ArticleRow.signature.is_not(None),
                    ArticleRow.duplicate_of.is_(None),
                    ArticleRow.id > after_id,
                )
                .order_by(ArticleRow.id)
                .execution_options(yield_per=10_000)
            )
            for article_id, signature in session.execute(query):
                if signature is not None:
                    yield int(article_id), bytes(signature)

    def story_members(self, since: datetime, after_id: int = 0) -> list[StoryMember]:
        """Matched originals stored since ``since``, to rebuild the story index."""
        with self.reading() as session:
            query = (
                select(ArticleRow)
                .where(
                    ArticleRow.id > after_id,
                    ArticleRow.matched.is_(True),
                    ArticleRow.duplicate_of.is_(None),
                    ArticleRow.story_id.is_not(None),
                    ArticleRow.fetched_at >= since,
                    ArticleRow.text.is_not(None),
                )
                .order_by(ArticleRow.id)
            )
            rows = list(session.scalars(query))
        topics = self.matches_for([row.id for row in rows])
        return [
            StoryMember(
                id=row.id,
                title=row.title,
                text=row.text or "",
                outlet=row.outlet,
                published=clean_date(row.published, as_utc(row.fetched_at))
                or as_utc(row.fetched_at)
                or utcnow(),
                topics=tuple(topics.get(row.id, {})),
                story_id=row.story_id or row.id,
            )
            for row in rows
        ]

    def last_article_id(self) -> int:
        with self.connected() as connection:
            return int(connection.scalar(select(func.max(ArticleRow.id))) or 0)

    def article_write_lock(self) -> ArticleWriteLock:
        """On PostgreSQL, the lock that lets one article write at a time across every
        process sharing the database, so that a worker that first catches up on the
        others' articles decides duplicates and stories as a single process would.
        SQLite has one writer already: there the lock is always free."""
        return ArticleWriteLock(self.engine if self.dialect == "postgresql" else None)

    def record_entry(
        self, feed_id: int, key: str, link: str | None, article_id: int | None
    ) -> None:
        """Remember an entry (pointing at an article already stored, or at none)."""
        with self.transaction() as connection:
            self._insert_entry(connection, feed_id, key, link, article_id)

    def save_article(
        self,
        feed_id: int,
        entry_key: str,
        article: Article,
        *,
        content_hash: str | None = None,
        signature: bytes | None = None,
        duplicate: DuplicateLink | None = None,
        story_id: int | None = None,
        own_story: bool = False,
        retry_at: datetime | None = None,
    ) -> int:
        """Store an article, its matches and its entry in one transaction; return its id.

        ``own_story`` starts a story whose id is the new article's; ``retry_at``, when its
        page is to be fetched again (`monitor.storage.retries`). An article already
        stored under the same canonical URL is kept as it is and its id returned: a
        re-run after a crash changes nothing.
        """
        duplicate = duplicate or DuplicateLink(None, None, None, None)
        now = utcnow()
        matched = [m for m in article.matches if m.matched]
        with self.transaction() as connection:
            values = {
                "canonical_url": article.canonical_url,
                "url": article.url,
                "feed_id": feed_id,
                "title": article.title,
                "text": article.text,
                "text_chars": len(article.text),
                "outlet": article.outlet,
                "author": article.author,
                "language": article.language,
                "published": article.published,
                "fetched_at": now,
                "extract_error": article.extract_error,
                "matched": bool(matched),
                "content_hash": content_hash,
                "signature": signature,
                "duplicate_of": duplicate.original_id,
                "duplicate_kind": duplicate.kind,
                "duplicate_reason": duplicate.reason,
                "similarity": duplicate.similarity,
                "story_id": story_id,
                "retry_at": retry_at,
            }
            inserted = connection.execute(self._new_article, values).scalar()
            article_id = inserted or connection.scalar(
                select(ArticleRow.id).where(ArticleRow.canonical_url == article.canonical_url)
            )
            assert article_id is not None
            if inserted and own_story:
                connection.execute(
                    update(ArticleRow).where(ArticleRow.id == inserted).values(story_id=inserted)
                )
            if inserted and matched:
                connection.execute(self._new_match, match_rows(article_id, matched, now))
            self._insert_entry(connection, feed_id, entry_key, article.url, article_id)
            return int(article_id)

    def _insert_entry(
        self,
        connection: Connection | Session,
        feed_id: int,
        key: str,
        link: str | None,
        article_id: int | None,
    ) -> None:
        values = {
            "feed_id": feed_id,
            "key": key,
            "link": link,
            "article_id": article_id,
            "seen_at": utcnow(),
        }
        connection.execute(self._new_entry, values)

    def prune(self, retention_days: int, now: datetime | None = None) -> list[int]:
        """Drop the text of unmatched articles older than the retention window; their ids.

        The row stays (so the URL is never fetched again); only its text goes.
        """
        cutoff = (now or utcnow()) - timedelta(days=retention_days)
        with self.writing() as session:
            result = session.execute(
                update(ArticleRow)
                .where(
                    ArticleRow.matched.is_(False),
                    ArticleRow.fetched_at < cutoff,
                    ArticleRow.pruned_at.is_(None),
                )
                .values(text=None, signature=None, pruned_at=now or utcnow())
                .returning(ArticleRow.id)
            )
            return [int(article_id) for article_id in result.scalars()]

    def pruned_since(self, since: datetime) -> list[int]:
        """The articles whose text a prune dropped at or after ``since``, in any process."""
        with self.reading() as session:
            query = select(ArticleRow.id).where(ArticleRow.pruned_at >= since)
            return [int(article_id) for article_id in session.scalars(query)]

    def texts(self, article_ids: Sequence[int]) -> dict[int, str]:
        """The stored text of each article that still has one."""
        found: dict[int, str] = {}
        with self.reading() as session:
            for chunk in _chunks(article_ids, 500):
                query = select(ArticleRow.id, ArticleRow.text).where(
                    ArticleRow.id.in_(chunk), ArticleRow.text.is_not(None)
                )
                found.update((int(i), str(t)) for i, t in session.execute(query))
        return found

    def set_signatures(self, signatures: dict[int, bytes]) -> None:
        with self.writing() as session:
            for article_id, signature in signatures.items():
                session.execute(
                    update(ArticleRow)
                    .where(ArticleRow.id == article_id)
                    .values(signature=signature)
                )

    # --- reading for commands ------------------------------------------------

    def articles_query(
        self,
        *,
        topic: str | None = None,
        since: datetime | None = None,
        include_all: bool = False,
        limit: int | None = None,
    ) -> Select[ArticleRow]:
        query = select(ArticleRow).order_by(ArticleRow.fetched_at.desc(), ArticleRow.id.desc())
        if topic:
            query = query.where(
                ArticleRow.id.in_(select(MatchRow.article_id).where(MatchRow.topic_id == topic))
            )
        elif not include_all:
            query = query.where(ArticleRow.matched.is_(True))
        if not include_all:
            query = query.where(ArticleRow.duplicate_of.is_(None))
        if since:
            query = query.where(ArticleRow.fetched_at >= since)
        if limit:
            query = query.limit(limit)
        return query

    def articles(
        self,
        *,
        topic: str | None = None,
        since: datetime | None = None,
        include_all: bool = False,
        limit: int | None = None,
    ) -> list[ArticleView]:
        """Stored articles, newest first: matched originals, or everything with ``include_all``."""
        query = self.articles_query(topic=topic, since=since, include_all=include_all, limit=limit)
        with self.reading() as session:
            rows = list(session.scalars(query))
        return self._views(rows)

    def articles_by_id(self, ids: Sequence[int]) -> list[ArticleView]:
        with self.reading() as session:
            rows = list(session.scalars(select(ArticleRow).where(ArticleRow.id.in_(list(ids)))))
        return self._views(rows)

    def copies_of(self, article_ids: Sequence[int]) -> dict[int, list[ArticleView]]:
        """The duplicates folded into each of ``article_ids``."""
        with self.reading() as session:
            query = select(ArticleRow).where(ArticleRow.duplicate_of.in_(list(article_ids)))
            rows = list(session.scalars(query.order_by(ArticleRow.id)))
        copies: dict[int, list[ArticleView]] = {}
        for view in self._views(rows):
            assert view.duplicate_of is not None
            copies.setdefault(view.duplicate_of, []).append(view)
        return copies

    def story(self, story_id: int) -> list[ArticleView]:
        """The articles of one story, first one first."""
        with self.reading() as session:
            query = select(ArticleRow).where(ArticleRow.story_id == story_id)
            rows = list(session.scalars(query.order_by(ArticleRow.id)))
        return self._views(rows)

    def _views(self, rows: Sequence[ArticleRow]) -> list[ArticleView]:
        topics = self.matches_for([row.id for row in rows])
        return [
            ArticleView(
                id=row.id,
                url=row.url,
                title=row.title,
                outlet=row.outlet,
                published=clean_date(row.published, as_utc(row.fetched_at)),
                fetched_at=as_utc(row.fetched_at) or utcnow(),
                language=row.language,
                text_chars=row.text_chars,
                duplicate_of=row.duplicate_of,
                duplicate_kind=row.duplicate_kind,
                duplicate_reason=row.duplicate_reason,
                story_id=row.story_id,
                extract_error=row.extract_error,
                topics=topics.get(row.id, {}),
            )
            for row in rows
        ]

    def matches_for(self, article_ids: Sequence[int]) -> dict[int, dict[str, float]]:
        result: dict[int, dict[str, float]] = {}
        with self.reading() as session:
            for chunk in _chunks(article_ids, 500):
                rows = session.execute(
                    select(MatchRow.article_id, MatchRow.topic_id, MatchRow.score).where(
                        MatchRow.article_id.in_(chunk)
                    )
                )
                for article_id, topic_id, score in rows:
                    result.setdefault(article_id, {})[topic_id] = score
        return result

    def match_counts(self, windows: dict[str, datetime]) -> dict[str, dict[str, int]]:
        """Matches per topic stored since each window's start: {topic: {window: n}}."""
        counts: dict[str, dict[str, int]] = {}
        with self.reading() as session:
            for window, since in windows.items():
                query = (
                    select(MatchRow.topic_id, func.count())
                    .where(MatchRow.matched_at >= since)
                    .group_by(MatchRow.topic_id)
                )
                for topic_id, count in session.execute(query):
                    counts.setdefault(topic_id, {})[window] = int(count)
        return counts

    def stored_texts(self, since: datetime) -> Iterator[StoredText]:
        """Articles stored since ``since`` that still have their text, oldest first."""
        with self.reading() as session:
            query = (
                select(
                    ArticleRow.id,
                    ArticleRow.title,
                    ArticleRow.text,
                    ArticleRow.language,
                    ArticleRow.outlet,
                )
                .where(ArticleRow.fetched_at >= since, ArticleRow.text.is_not(None))
                .order_by(ArticleRow.id)
                .execution_options(yield_per=1000)
            )
            for row in session.execute(query):
                yield StoredText(int(row.id), row.title, row.text or "", row.language, row.outlet)

    def counts(self) -> dict[str, int]:
        with self.reading() as session:
            return {
                "feeds": session.scalar(select(func.count()).select_from(FeedRow)) or 0,
                "entries": session.scalar(select(func.count()).select_from(EntryRow)) or 0,
                "articles": session.scalar(select(func.count()).select_from(ArticleRow)) or 0,
                "matched": session.scalar(
                    select(func.count()).select_from(ArticleRow).where(ArticleRow.matched)
                )
                or 0,
                "stories": session.scalar(select(func.count(func.distinct(ArticleRow.story_id))))
                or 0,
            }

    def delete_feed(self, url: str) -> bool:
        with self.writing() as session:
            result = session.execute(delete(FeedRow).where(FeedRow.url == url))
            return bool(getattr(result, "rowcount", 0))


class ArticleWriteLock:
    """A session advisory lock on a connection of its own: the server frees it if the
    process dies, so a killed worker never leaves it taken."""

    def __init__(self, engine: Engine | None) -> None:
        try:
            # Autocommit: taking and freeing the lock is one round trip each.
            self._connection = (
                engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                if engine is not None
                else None
            )
        except OperationalError as exc:
            raise StorageError(f"database lock failed: {exc.orig}") from exc
        self._held = False

    def try_acquire(self) -> bool:
        if self._connection is None:
            return True
        try:
            self._held = bool(
                self._connection.scalar(select(func.pg_try_advisory_lock(ARTICLE_WRITE_LOCK)))
            )
        except OperationalError as exc:
            raise StorageError(f"database lock failed: {exc.orig}") from exc
        return self._held

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            if self._held:
                self._connection.execute(select(func.pg_advisory_unlock(ARTICLE_WRITE_LOCK)))
        finally:
            self._held = False
            self._connection.close()


def match_rows(
    article_id: int, matched: Iterable[TopicMatch], now: datetime
) -> list[dict[str, Any]]:
    """The `MatchRow` values for an article's matched topics."""
    return [
        {
            "article_id": article_id,
            "topic_id": match.topic_id,
            "score": round(match.score, 4),
            "terms": list(match.terms),
            "matched_at": now,
        }
        for match in matched
    ]


def _feed_record(row: Any) -> FeedRecord:
    """From a row of `FEED_COLUMNS` (or a `FeedRow`: the attribute names are the same)."""
    state = FeedState(
        health=row.health,
        consecutive_failures=row.consecutive_failures,
        failing_since=as_utc(row.failing_since),
        last_success_at=as_utc(row.last_success_at),
        last_new_entry_at=as_utc(row.last_new_entry_at),
        next_poll_at=as_utc(row.next_poll_at),
        last_status=row.last_status,
        last_error=row.last_error,
        redirect_target=row.redirect_target,
        redirect_count=row.redirect_count or 0,
        moved_to=row.moved_to,
    )
    return FeedRecord(
        id=row.id,
        url=row.url,
        name=row.name,
        interval_seconds=row.interval_seconds,
        etag=row.etag,
        last_modified=row.last_modified,
        body_hash=row.body_hash,
        state=state,
    )


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
