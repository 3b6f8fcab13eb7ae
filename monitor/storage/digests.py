"""Digest, outbox and alert queries: what a subscriber has not received, and the mail queue.

The outbox makes delivery lose nothing: a message is recorded with its items in one
transaction before the first attempt (`record_outbox`), claimed for a short lease
before each attempt (`claim_due`) so two processes never send it at once, and marked
sent only after the server accepted it. Items are unique per (subscriber, article).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from monitor.models import (
    FailedDelivery,
    FeedProblem,
    Lease,
    NewMessage,
    QueuedMessage,
    StoredItem,
    utcnow,
)
from monitor.storage.session import as_utc
from monitor.storage.store import Store
from monitor.storage.tables import (
    AlertRow,
    ArticleRow,
    FeedRow,
    MatchRow,
    OutboxRow,
    SentItemRow,
)
from monitor.text import clean_date

SNIPPET_SOURCE_CHARS = 3000


def unsent_items(
    store: Store, subscriber: str, topics: Sequence[str], min_score: float, since: datetime
) -> list[StoredItem]:
    """Matched originals of ``topics`` stored since ``since`` that ``subscriber`` has not had."""
    sent = select(SentItemRow.article_id).where(SentItemRow.subscriber == subscriber)
    query = (
        select(ArticleRow, MatchRow, func.substr(ArticleRow.text, 1, SNIPPET_SOURCE_CHARS))
        .join(MatchRow, MatchRow.article_id == ArticleRow.id)
        .where(
            MatchRow.topic_id.in_(list(topics)),
            MatchRow.score >= min_score,
            ArticleRow.matched.is_(True),
            ArticleRow.duplicate_of.is_(None),
            ArticleRow.fetched_at >= since,
            ArticleRow.id.not_in(sent),
        )
        .order_by(ArticleRow.id, MatchRow.topic_id)
    )
    with store.reading() as session:
        return [_item(a, m, text) for a, m, text in session.execute(query)]


def _item(article: ArticleRow, match: MatchRow, text: str | None) -> StoredItem:
    fetched_at = as_utc(article.fetched_at) or utcnow()
    return StoredItem(
        article_id=article.id,
        topic_id=match.topic_id,
        score=match.score,
        terms=tuple(str(t) for t in match.terms or ()),
        title=article.title,
        url=article.url,
        outlet=article.outlet,
        # cleaned again: an older version stored year-1 and year-9999 dates as they came
        published=clean_date(article.published, fetched_at),
        fetched_at=fetched_at,
        story_id=article.story_id or article.id,
        text=text or "",
    )


def topic_items(store: Store, topic: str, limit: int) -> list[StoredItem]:
    """The newest matched originals of one topic (for the Atom feed)."""
    query = (
        select(ArticleRow, MatchRow, func.substr(ArticleRow.text, 1, SNIPPET_SOURCE_CHARS))
        .join(MatchRow, MatchRow.article_id == ArticleRow.id)
        .where(MatchRow.topic_id == topic, ArticleRow.duplicate_of.is_(None))
        .order_by(ArticleRow.fetched_at.desc(), ArticleRow.id.desc())
        .limit(limit)
    )
    with store.reading() as session:
        return [_item(a, m, text) for a, m, text in session.execute(query)]


def also_in(store: Store, article_ids: Sequence[int]) -> dict[int, list[str]]:
    """The outlets of the copies folded into each article."""
    copies = store.copies_of(article_ids)
    return {key: [view.outlet for view in views] for key, views in copies.items()}


def feed_problems(store: Store) -> list[FeedProblem]:
    """Every feed failing, gone or silent (stale), with since when."""
    query = select(FeedRow).where(FeedRow.health.in_(["failing", "gone", "stale"]))
    with store.reading() as session:
        rows = list(session.scalars(query.order_by(FeedRow.url)))
    problems = []
    for row in rows:
        since = as_utc(row.failing_since)
        if row.health == "stale":
            since = as_utc(row.last_new_entry_at) or as_utc(row.last_success_at)
        problems.append(FeedProblem(row.url, row.name, row.health, since, row.last_error))
    return problems


# --- the outbox ---------------------------------------------------------------


class ItemsTaken(Exception):
    """Another digest took some of these items first; compose again."""


def record_outbox(
    store: Store, message: NewMessage, now: datetime, report_failures: Sequence[int] = ()
) -> int:
    """Record a message and its items in one transaction; raise `ItemsTaken` on a race."""
    with store.writing() as session:
        outbox_id = session.execute(
            store._insert(OutboxRow)
            .values(
                subscriber=message.subscriber,
                kind=message.kind,
                message_id=message.message_id,
                recipient=message.recipient,
                subject=message.subject,
                message=message.message,
                items=len(message.items),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                reported=False,
                created_at=now,
            )
            .returning(OutboxRow.id)
        ).scalar_one()
        _insert_items(store, session, message, int(outbox_id), now)
        if report_failures:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(list(report_failures)))
                .values(reported=True)
            )
        return int(outbox_id)


def _insert_items(
    store: Store, session: Session, message: NewMessage, outbox_id: int, now: datetime
) -> None:
    for article_id, topic_id in message.items:
        values = {"article_id": article_id, "topic_id": topic_id}
        _claim(store, session, SentItemRow, values, message, outbox_id, now, article_id)


def _claim(
    store: Store,
    session: Session,
    table: type[SentItemRow] | type[AlertRow],
    values: Mapping[str, object],
    message: NewMessage,
    outbox_id: int,
    now: datetime,
    key: object,
) -> None:
    """Insert one claim row for ``message``, or roll the whole transaction back if taken."""
    inserted = session.execute(
        store._insert(table)
        .values(subscriber=message.subscriber, outbox_id=outbox_id, created_at=now, **values)
        .on_conflict_do_nothing()
        .returning(table.outbox_id)
    ).scalar()
    if inserted is None:
        raise ItemsTaken(key)


def claim_due(
    store: Store, now: datetime, lease: timedelta, subscriber: str | None = None
) -> list[QueuedMessage]:
    """Pending messages due by ``now``, each leased until ``now + lease`` to this caller."""
    query = select(OutboxRow.id).where(
        OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now
    )
    if subscriber is not None:
        query = query.where(OutboxRow.subscriber == subscriber)
    with store.reading() as session:
        ids = list(session.scalars(query.order_by(OutboxRow.id)))
    claimed = []
    for outbox_id in ids:
        with store.writing() as session:
            row = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == outbox_id,
                    OutboxRow.status == "pending",
                    OutboxRow.next_attempt_at <= now,
                )
                .values(
                    next_attempt_at=now + lease,
                    leased_until=now + lease,
                    attempts=OutboxRow.attempts + 1,
                )
                .returning(OutboxRow)
            ).scalar()
            if row is not None:
                claimed.append(
                    QueuedMessage(
                        row.id,
                        row.subscriber,
                        row.kind,
                        row.message_id,
                        row.recipient,
                        bytes(row.message),
                        row.attempts,
                    )
                )
    return claimed


def mark_sent(store: Store, outbox_id: int, now: datetime) -> None:
    with store.writing() as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == outbox_id)
            .values(status="sent", sent_at=now, last_error=None, leased_until=None)
        )


def mark_retry(store: Store, outbox_id: int, error: str, next_attempt: datetime) -> None:
    with store.writing() as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == outbox_id, OutboxRow.status == "pending")
            .values(next_attempt_at=next_attempt, last_error=error[:2000], leased_until=None)
        )


def release(store: Store, outbox_ids: Sequence[int], now: datetime) -> None:
    """Give back leases whose attempt never reached the server: due again at ``now``."""
    if not outbox_ids:
        return
    with store.writing() as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(list(outbox_ids)), OutboxRow.status == "pending")
            .values(next_attempt_at=now, leased_until=None)
        )


def leases(store: Store, subscriber: str, now: datetime) -> list[Lease]:
    """``subscriber``'s pending messages held by an attempt at ``now``."""
    query = select(OutboxRow.id, OutboxRow.kind, OutboxRow.leased_until).where(
        OutboxRow.subscriber == subscriber,
        OutboxRow.status == "pending",
        OutboxRow.leased_until > now,
    )
    with store.reading() as session:
        rows = list(session.execute(query.order_by(OutboxRow.id)))
    return [Lease(int(i), str(kind), as_utc(until) or now) for i, kind, until in rows]


def mark_failed(store: Store, outbox_id: int, error: str) -> None:
    """Refused for good: recorded, and its items freed for the subscriber's next digest."""
    with store.writing() as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == outbox_id)
            .values(status="failed", last_error=error[:2000], leased_until=None)
        )
        session.execute(delete(SentItemRow).where(SentItemRow.outbox_id == outbox_id))


def unreported_failures(store: Store, subscriber: str) -> list[FailedDelivery]:
    query = select(OutboxRow).where(
        OutboxRow.subscriber == subscriber,
        OutboxRow.status == "failed",
        OutboxRow.reported.is_(False),
    )
    with store.reading() as session:
        rows = list(session.scalars(query.order_by(OutboxRow.id)))
    return [
        FailedDelivery(row.id, as_utc(row.created_at) or utcnow(), row.last_error or "")
        for row in rows
    ]


def outbox_counts(store: Store, subscriber: str | None = None) -> dict[str, int]:
    query = select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
    if subscriber is not None:
        query = query.where(OutboxRow.subscriber == subscriber)
    with store.reading() as session:
        return {str(status): int(n) for status, n in session.execute(query)}


# --- alerts -------------------------------------------------------------------


def last_alert_at(store: Store, subscriber: str, topic: str) -> datetime | None:
    query = select(func.max(AlertRow.created_at)).where(
        AlertRow.subscriber == subscriber, AlertRow.topic_id == topic
    )
    with store.reading() as session:
        return as_utc(session.scalar(query))


def alerted_keys(store: Store, subscriber: str, topic: str, keys: Sequence[str]) -> set[str]:
    query = select(AlertRow.key).where(
        AlertRow.subscriber == subscriber, AlertRow.topic_id == topic, AlertRow.key.in_(keys)
    )
    with store.reading() as session:
        return set(session.scalars(query))


def topic_volume(store: Store, topic: str, since: datetime) -> int:
    """Matched articles (copies included: coverage is what bursts) of a topic since ``since``."""
    query = (
        select(func.count())
        .select_from(MatchRow)
        .join(ArticleRow, ArticleRow.id == MatchRow.article_id)
        .where(MatchRow.topic_id == topic, ArticleRow.fetched_at >= since)
    )
    with store.reading() as session:
        return int(session.scalar(query) or 0)


def record_alert(
    store: Store, message: NewMessage, topic: str, kind: str, keys: Sequence[str], now: datetime
) -> int | None:
    """Queue an alert and remember what it was about; None when another process already did."""
    try:
        return _record_alert(store, message, topic, kind, keys, now)
    except ItemsTaken:
        return None


def _record_alert(
    store: Store, message: NewMessage, topic: str, kind: str, keys: Sequence[str], now: datetime
) -> int:
    with store.writing() as session:
        outbox_id = session.execute(
            store._insert(OutboxRow)
            .values(
                subscriber=message.subscriber,
                kind=message.kind,
                message_id=message.message_id,
                recipient=message.recipient,
                subject=message.subject,
                message=message.message,
                items=len(keys),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                reported=False,
                created_at=now,
            )
            .returning(OutboxRow.id)
        ).scalar_one()
        for key in keys:
            values = {"topic_id": topic, "kind": kind, "key": key}
            _claim(store, session, AlertRow, values, message, outbox_id, now, key)
        return int(outbox_id)
