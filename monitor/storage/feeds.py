"""Feeds in the store: the configured list, each feed's poll state and validators."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, delete, select, update

from monitor.models import FeedRecord, FeedSpec, FeedState, utcnow
from monitor.storage.session import StoreBase, as_utc, chunks
from monitor.storage.tables import FeedRow

FEED_COLUMNS = tuple(FeedRow.__table__.columns)
# Built once: constructing a statement costs more than running it (measured).
# SAVE_FEED_POLL sets the columns named in the parameters it is run with.
_FEEDS = FeedRow.metadata.tables["feeds"]
SAVE_FEED_POLL = update(_FEEDS).where(_FEEDS.c.id == bindparam("feed_id"))


class FeedQueries(StoreBase):
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
            for chunk in chunks(wanted, 500)
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

    def delete_feed(self, url: str) -> bool:
        with self.writing() as session:
            result = session.execute(delete(FeedRow).where(FeedRow.url == url))
            return bool(getattr(result, "rowcount", 0))


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
