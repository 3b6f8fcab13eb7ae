"""Plain, frozen data passed between the stages of the pipeline.

Nothing here does I/O or knows about the database: a stage takes these values
in and gives these values out, so every stage can be tested on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Field = Literal["title", "body"]


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed as configured: where it is and how often to poll it."""

    url: str
    name: str = ""
    language: str | None = None
    interval_seconds: int | None = None  # None: the global default


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a parsed feed, before its page is fetched."""

    key: str  # identity within the feed: GUID, else link, else content hash
    link: str | None
    title: str
    summary: str
    published: datetime | None
    author: str | None = None
    guid: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What a feed document yielded."""

    title: str
    entries: tuple[Entry, ...]
    degraded_reason: str | None = None  # set when the feed was malformed but usable


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    """The main content of an article page, as trafilatura found it."""

    text: str
    title: str | None = None
    author: str | None = None
    published: datetime | None = None
    language: str | None = None
    canonical_url: str | None = None
    site_name: str | None = None


# --- topic matching ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicDefinition:
    """A topic as written in the topic file, before its query is compiled.

    ``seeds`` holds the texts of the topic's seed documents (already read by
    the config loader), not paths, so that matching stays free of I/O.
    """

    id: str
    query: str
    name: str = ""
    description: str = ""
    exclude: str | None = None
    min_score: float = 1.0
    seeds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Document:
    """The text a topic is matched against."""

    title: str
    text: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class TermHit:
    """One place where a query term matched."""

    term: str  # the term as written in the query or term list
    field: Field
    start: int  # character offset in the original field text
    end: int
    context: str  # the surrounding words, for humans


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """How one document fared against one topic.

    ``matched`` is true when the query holds, no exclusion holds and the score
    reaches the topic's minimum. ``reason`` says why not, when it is false.
    """

    topic_id: str
    matched: bool
    score: float
    hits: tuple[TermHit, ...] = ()
    reason: str | None = None
    evidence: str | None = None  # with explain: where the score came from, in words

    @property
    def terms(self) -> tuple[str, ...]:
        """The distinct terms that matched, in order of first appearance."""
        return tuple(dict.fromkeys(hit.term for hit in self.hits))


@dataclass(frozen=True, slots=True)
class Article:
    """An article ready for storage: entry, page and matches combined."""

    url: str
    feed_url: str
    entry_key: str
    title: str
    text: str
    outlet: str
    published: datetime | None
    language: str | None
    author: str | None
    canonical_url: str
    extract_error: str | None = None
    matches: tuple[TopicMatch, ...] = field(default=())


Health = Literal["new", "ok", "degraded", "failing", "gone", "stale"]
OutcomeKind = Literal["fetched", "not_modified", "unchanged", "failed"]


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store remembers about a feed between polls."""

    health: Health = "new"
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    last_success_at: datetime | None = None
    last_new_entry_at: datetime | None = None
    next_poll_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    redirect_target: str | None = None  # where permanent redirects point, not yet confirmed
    redirect_count: int = 0  # polls in a row that were permanently redirected there
    moved_to: str | None = None  # confirmed new address: polled instead of the configured one


# --- digests and the outbox -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredItem:
    """A matched original article and one topic it matched, as a digest needs it."""

    article_id: int
    topic_id: str
    score: float
    terms: tuple[str, ...]
    title: str
    url: str
    outlet: str
    published: datetime | None
    fetched_at: datetime
    story_id: int
    text: str  # the first few thousand characters, for the snippet


@dataclass(frozen=True, slots=True)
class FeedProblem:
    url: str
    name: str
    health: str
    since: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class NewMessage:
    subscriber: str
    kind: str
    message_id: str
    recipient: str
    subject: str
    message: bytes
    items: Sequence[tuple[int, str]] = ()  # (article id, topic id) it carries


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    id: int
    subscriber: str
    kind: str
    message_id: str
    recipient: str
    message: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class Lease:
    """A pending message held by an attempt that has not ended (or whose process died)."""

    id: int
    kind: str
    until: datetime


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    id: int
    created_at: datetime
    error: str


# --- stored records ------------------------------------------------------------


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


def utcnow() -> datetime:
    """The clock of every stage and store call: aware, in UTC."""
    return datetime.now(UTC)


@dataclass
class FeedReport:
    """What one feed's poll did."""

    url: str
    outcome: str  # fetched | not_modified | unchanged | failed
    entries_new: int = 0
    articles_stored: int = 0
    articles_matched: int = 0
    duplicates: int = 0
    error: str | None = None
    capped: int = 0  # new entries left for later by the daily cap
    bad_links: list[str] = field(default_factory=list)  # "URL: why it cannot be fetched"


@dataclass
class PassSummary:
    """The JSON summary of `monitor poll --once`."""

    feeds: int = 0
    feeds_failed: int = 0
    entries_new: int = 0
    articles_stored: int = 0
    articles_matched: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    failures: list[dict[str, str]] = field(default_factory=list)

    def add(self, report: FeedReport) -> None:
        self.feeds += 1
        self.entries_new += report.entries_new
        self.articles_stored += report.articles_stored
        self.articles_matched += report.articles_matched
        self.duplicates += report.duplicates
        if report.outcome == "failed":
            self.feeds_failed += 1
            self.failures.append({"feed": report.url, "error": report.error or ""})
