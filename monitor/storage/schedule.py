"""What is due, claimed safely when several schedulers share one database.

A due feed is claimed by moving its ``next_poll_at`` forward by a lease inside the
claiming transaction; on PostgreSQL the rows are locked with ``SKIP LOCKED``, so
two schedulers running the same query at the same instant take disjoint feeds.
When the poll finishes it writes the real next time; if the poll is lost, the lease
runs out and the feed is claimed again.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, or_, select, text, update

from monitor.storage.store import Store
from monitor.storage.tables import FeedRow, ScheduleClaimRow


def is_due_clause(now: datetime) -> ColumnElement[bool]:
    """The SQL form of `monitor.pipeline.feeds.is_due`, for queries over many feeds
    (``tests/test_feed_rules.py`` checks that the two agree)."""
    return or_(FeedRow.next_poll_at.is_(None), FeedRow.next_poll_at <= now)


def claim_due_feeds(
    store: Store,
    urls: Collection[str],
    now: datetime,
    lease: timedelta,
    limit: int = 1000,
) -> list[int]:
    """Ids of the configured feeds due at ``now``, each claimed for ``lease``."""
    query = (
        select(FeedRow.id, FeedRow.url)
        .where(is_due_clause(now))
        .order_by(FeedRow.next_poll_at.asc().nulls_first(), FeedRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with store.writing() as session:
        rows = [(int(i), str(u)) for i, u in session.execute(query)]
        wanted = [feed_id for feed_id, url in rows if url in urls]
        # Feeds no longer in the configuration are pushed back too, so they do not
        # crowd the head of every later claim.
        if rows:
            session.execute(
                update(FeedRow)
                .where(FeedRow.id.in_([feed_id for feed_id, _ in rows]))
                .values(next_poll_at=now + lease)
            )
    return wanted


def claim_once(store: Store, key: str, now: datetime) -> bool:
    """True for the first caller with ``key``, False for every later one."""
    with store.writing() as session:
        inserted = session.execute(
            store._insert(ScheduleClaimRow)
            .values(key=key, claimed_at=now)
            .on_conflict_do_nothing()
            .returning(ScheduleClaimRow.key)
        ).scalar()
    return inserted is not None


def forget_claims(store: Store, before: datetime) -> None:
    with store.writing() as session:
        session.execute(delete(ScheduleClaimRow).where(ScheduleClaimRow.claimed_at < before))


def feeds_by_health(store: Store) -> dict[tuple[str, ...], float]:
    with store.reading() as session:
        query = select(FeedRow.health, func.count()).group_by(FeedRow.health)
        return {(str(health),): float(count) for health, count in session.execute(query)}


def feeds_due(store: Store, now: datetime) -> int:
    with store.reading() as session:
        query = select(func.count()).select_from(FeedRow).where(is_due_clause(now))
        return int(session.scalar(query) or 0)


def task_queue_depth(store: Store) -> dict[tuple[str, ...], float]:
    """Jobs waiting or running per queue in the task engine's table (PostgreSQL only)."""
    if store.dialect != "postgresql":
        return {}
    with store.reading() as session:
        exists = session.scalar(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL"))
        if not exists:
            return {}
        rows = session.execute(
            text(
                "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs "
                "WHERE status IN ('todo', 'doing') GROUP BY queue_name, status"
            )
        )
        return {(str(q), str(s)): float(c) for q, s, c in rows}
