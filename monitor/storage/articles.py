"""Entries and articles in the store: saving an article with its matches and entry in
one transaction, what dedup needs back (hashes, signatures, story members), pruning,
and the lock that lets one article write at a time across processes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from monitor.errors import StorageError
from monitor.models import (
    Article,
    DuplicateLink,
    StoryMember,
    TopicMatch,
    utcnow,
)
from monitor.storage.session import StoreBase, as_utc, chunks
from monitor.storage.tables import ArticleRow, EntryRow, MatchRow
from monitor.text import clean_date

ARTICLE_WRITE_LOCK = 0x6D6F6E69  # any fixed key, the same in every process
_ORIGINAL = func.coalesce(ArticleRow.duplicate_of, ArticleRow.id)
BY_CANONICAL_URL = select(_ORIGINAL).where(ArticleRow.canonical_url == bindparam("url"))
BY_CONTENT_HASH = (
    select(_ORIGINAL)
    .where(ArticleRow.content_hash == bindparam("hash"))
    .order_by(ArticleRow.id)
    .limit(1)
)


class ArticleQueries(StoreBase):
    def known_entry_keys(self, feed_id: int, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.connected() as connection:
            for chunk in chunks(keys, 500):
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
            for chunk in chunks(article_ids, 500):
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

    def matches_for(self, article_ids: Sequence[int]) -> dict[int, dict[str, float]]:
        result: dict[int, dict[str, float]] = {}
        with self.reading() as session:
            for chunk in chunks(article_ids, 500):
                rows = session.execute(
                    select(MatchRow.article_id, MatchRow.topic_id, MatchRow.score).where(
                        MatchRow.article_id.in_(chunk)
                    )
                )
                for article_id, topic_id, score in rows:
                    result.setdefault(article_id, {})[topic_id] = score
        return result


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
