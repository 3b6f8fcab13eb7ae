"""The database schema: one definition for SQLite and PostgreSQL.

Uniqueness constraints are what make every write idempotent: an article is
unique by canonical URL, an entry by (feed, key), a match by (article, topic).
Schema changes go through Alembic migrations in ``storage/migrations``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER keys


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True)}


class FeedRow(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    language: Mapped[str | None] = mapped_column(String(16))
    interval_seconds: Mapped[int | None]
    title: Mapped[str] = mapped_column(String(1000), default="")
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    body_hash: Mapped[str | None] = mapped_column(String(64))
    health: Mapped[str] = mapped_column(String(16), default="new")
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[datetime | None]
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_new_entry_at: Mapped[datetime | None]
    next_poll_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    redirect_target: Mapped[str | None] = mapped_column(String(2048))
    redirect_count: Mapped[int] = mapped_column(default=0, server_default="0")
    moved_to: Mapped[str | None] = mapped_column(String(2048))


class EntryRow(Base):
    """Every feed entry ever seen, so that no entry's page is fetched twice."""

    __tablename__ = "entries"
    __table_args__ = (
        UniqueConstraint("feed_id", "key"),
        Index("ix_entries_feed_id_seen_at", "feed_id", "seen_at"),  # the daily cap's count
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(2100))
    link: Mapped[str | None] = mapped_column(String(2048), index=True)
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )
    seen_at: Mapped[datetime]


class ArticleRow(Base):
    __tablename__ = "articles"
    __table_args__ = (
        Index("ix_articles_fetched_at_matched", "fetched_at", "matched"),
        Index("ix_articles_retry_at", "retry_at"),
        Index("ix_articles_pruned_at", "pruned_at"),  # `Store.pruned_since`
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    canonical_url: Mapped[str] = mapped_column(String(2048), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(1000), default="")
    text: Mapped[str | None] = mapped_column(Text)
    text_chars: Mapped[int] = mapped_column(default=0)
    outlet: Mapped[str] = mapped_column(String(300), default="")
    author: Mapped[str | None] = mapped_column(String(300))
    language: Mapped[str | None] = mapped_column(String(16))
    published: Mapped[datetime | None]
    fetched_at: Mapped[datetime]
    extract_error: Mapped[str | None] = mapped_column(Text)
    matched: Mapped[bool] = mapped_column(Boolean, default=False)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    duplicate_of: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )
    duplicate_kind: Mapped[str | None] = mapped_column(String(16))
    duplicate_reason: Mapped[str | None] = mapped_column(String(500))
    similarity: Mapped[float | None] = mapped_column(Float)
    story_id: Mapped[int | None] = mapped_column(Id, index=True)
    """The id of the story's first article; articles about one event share it."""
    pruned_at: Mapped[datetime | None]
    retry_at: Mapped[datetime | None]
    """When the page, which failed for a transient reason, is to be fetched again; None:
    it is not (it did not fail, failed for good, or ran out of retries)."""
    page_retries: Mapped[int] = mapped_column(default=0, server_default="0")
    """Retries of the page made (or claimed) so far."""


class MatchRow(Base):
    __tablename__ = "matches"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    topic_id: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    score: Mapped[float]
    terms: Mapped[list[str]] = mapped_column(JSON)
    matched_at: Mapped[datetime]


class OutboxRow(Base):
    """A mail to send: recorded, with its exact bytes, before the first attempt.

    ``status`` is ``pending`` until the server accepts it (``sent``) or refuses it for
    good (``failed``). A pending row is retried at ``next_attempt_at``; sending it again
    sends the same bytes, so the same ``Message-ID``.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    subscriber: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # digest | empty | alert
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    message: Mapped[bytes] = mapped_column(LargeBinary)
    items: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    leased_until: Mapped[datetime | None]
    """Set while an attempt holds the row (`claim_due`), cleared by its outcome; a row
    still leased after its process stopped waits for this before it is tried again."""
    last_error: Mapped[str | None] = mapped_column(Text)
    reported: Mapped[bool] = mapped_column(Boolean, default=False)
    """For a failed row: already told to the subscriber in a later digest's footer."""
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class SentItemRow(Base):
    """An article put in a subscriber's digest; the key keeps it out of every later one."""

    __tablename__ = "digest_items"

    subscriber: Mapped[str] = mapped_column(String(100), primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    topic_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class AlertRow(Base):
    """An alert sent (or queued): what it was about, for rate limits and to alert once."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("subscriber", "topic_id", "key"),
        Index("ix_alerts_subscriber_topic_id_created_at", "subscriber", "topic_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    subscriber: Mapped[str] = mapped_column(String(100))
    topic_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # score | burst
    key: Mapped[str] = mapped_column(String(100))  # story id, or the burst's hour
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]


class ScheduleClaimRow(Base):
    """A piece of scheduled work (a digest slot, say) claimed by the first process to
    get there; with several schedulers and workers, the key makes it happen once."""

    __tablename__ = "schedule_claims"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    claimed_at: Mapped[datetime]
