"""Articles whose page is to be fetched again, claimed safely by several processes.

A due article is claimed by moving its ``retry_at`` forward by a lease and counting
the retry, in the claiming transaction (on PostgreSQL with ``SKIP LOCKED``, so two
processes take disjoint articles). The retry then writes the outcome: the page's text
and matches, or the new reason and the next time (or none). A retry lost to a crash
is claimed again when the lease runs out, and has counted: a page that crashes the
process cannot be retried forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select, update

from monitor.models import Article, Entry, utcnow
from monitor.storage.articles import match_rows
from monitor.storage.session import as_utc
from monitor.storage.store import Store
from monitor.storage.tables import ArticleRow, EntryRow, FeedRow, MatchRow


@dataclass(frozen=True, slots=True)
class PageRetry:
    """A stored article whose page failed, with what is needed to ingest the page again."""

    article_id: int
    feed_id: int
    feed_url: str
    entry: Entry
    retries_done: int  # this one included
    first_attempt: datetime
    story_id: int | None
    duplicate_of: int | None


def claim_due(store: Store, now: datetime, lease: timedelta, limit: int = 200) -> list[PageRetry]:
    """Articles whose retry is due at ``now``, each claimed for ``lease`` and counted."""
    due = (
        select(ArticleRow.id)
        .where(
            ArticleRow.retry_at <= now,
            ArticleRow.pruned_at.is_(None),
            ArticleRow.feed_id.is_not(None),
        )
        .order_by(ArticleRow.retry_at, ArticleRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with store.writing() as session:
        ids = [int(i) for i in session.scalars(due)]
        if not ids:
            return []
        session.execute(
            update(ArticleRow)
            .where(ArticleRow.id.in_(ids))
            .values(retry_at=now + lease, page_retries=ArticleRow.page_retries + 1)
        )
        keys: dict[int, str] = {}
        entries = select(EntryRow.article_id, EntryRow.key).where(EntryRow.article_id.in_(ids))
        for article_id, key in session.execute(entries.order_by(EntryRow.id.desc())):
            if article_id is not None:
                keys[int(article_id)] = str(key)  # the first entry comes last: it wins
        rows = session.execute(
            select(ArticleRow, FeedRow.url)
            .join(FeedRow, FeedRow.id == ArticleRow.feed_id)
            .where(ArticleRow.id.in_(ids))
            .order_by(ArticleRow.id)
        )
        return [_retry(article, url, keys.get(article.id)) for article, url in rows]


def _retry(row: ArticleRow, feed_url: str, key: str | None) -> PageRetry:
    # Stored while the page was missing: the title is the entry's (or the URL when the
    # entry had none) and the text is the entry's summary.
    entry = Entry(
        key=key or row.url,
        link=row.url,
        title="" if row.title == row.url else row.title,
        summary=row.text or "",
        published=as_utc(row.published),
        author=row.author,
    )
    assert row.feed_id is not None
    return PageRetry(
        article_id=row.id,
        feed_id=row.feed_id,
        feed_url=feed_url,
        entry=entry,
        retries_done=row.page_retries,
        first_attempt=as_utc(row.fetched_at) or utcnow(),
        story_id=row.story_id,
        duplicate_of=row.duplicate_of,
    )


def save_failure(store: Store, article_id: int, error: str, retry_at: datetime | None) -> None:
    """The retry failed too: the reason now, and the next retry (None: no more)."""
    with store.writing() as session:
        session.execute(
            update(ArticleRow)
            .where(ArticleRow.id == article_id)
            .values(extract_error=error, retry_at=retry_at)
        )


def save_page(
    store: Store,
    article_id: int,
    article: Article,
    *,
    content_hash: str | None,
    signature: bytes | None,
    story_id: int | None,
) -> None:
    """The page arrived: its text, fingerprint and matches replace the summary's.

    The article keeps its id, canonical URL and duplicate link; ``story_id`` is set
    only when given (an article that had no story and now starts or joins one). A
    topic matched before keeps its ``matched_at``; one matched only now gets now, so
    it counts as a new match for alerts and digests; one no longer matched is dropped.
    """
    now = utcnow()
    matched = [m for m in article.matches if m.matched]
    values = {
        "title": article.title,
        "text": article.text,
        "text_chars": len(article.text),
        "language": article.language,
        "author": article.author,
        "published": article.published,
        "fetched_at": now,
        "extract_error": article.extract_error,
        "retry_at": None,
        "matched": bool(matched),
        "content_hash": content_hash,
        "signature": signature,
    }
    if story_id is not None:
        values["story_id"] = story_id
    with store.writing() as session:
        session.execute(update(ArticleRow).where(ArticleRow.id == article_id).values(**values))
        session.execute(
            delete(MatchRow).where(
                and_(
                    MatchRow.article_id == article_id,
                    MatchRow.topic_id.not_in([m.topic_id for m in matched]),
                )
            )
        )
        if not matched:
            return
        insert = store._insert(MatchRow)
        rows = match_rows(article_id, matched, now)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["article_id", "topic_id"],
                set_={"score": insert.excluded.score, "terms": insert.excluded.terms},
            ),
            rows,
        )


def pending(store: Store) -> int:
    """Articles still waiting for a retry of their page."""
    with store.reading() as session:
        query = select(func.count()).select_from(ArticleRow).where(ArticleRow.retry_at.is_not(None))
        return int(session.scalar(query) or 0)
