"""The typed shape of the configuration files, with defaults and limits.

`monitor.config` reads the files and the environment; these pydantic models say
what is allowed. Unknown keys are refused so that a typo never passes silently.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from monitor.models import FeedSpec, TopicDefinition
from monitor.text import clean_line

TOPIC_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
TERM_LIST_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(Section):
    url: str = "sqlite:///data/monitor.db"
    """SQLAlchemy URL. A relative SQLite path is relative to the settings file (to the
    working directory when it comes from ``MONITOR_DATABASE__URL``)."""


class HttpSettings(Section):
    user_agent: str = "monitor/0.1 (+https://github.com/monitor-news/monitor)"
    connect_timeout: Annotated[float, Field(gt=0, le=120)] = 10.0
    read_timeout: Annotated[float, Field(gt=0, le=300)] = 20.0
    deadline: Annotated[float, Field(gt=0, le=600)] = 60.0
    """Total seconds one request may take, however slowly the server trickles."""
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    max_body_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    max_connections: Annotated[int, Field(ge=1, le=1000)] = 50
    max_per_host: Annotated[int, Field(ge=1, le=100)] = 4
    allow_private_networks: bool = False
    allowed_hosts: tuple[str, ...] = ()
    """Hosts allowed to resolve to private addresses even when private networks are off."""


class PollingSettings(Section):
    interval_minutes: Annotated[float, Field(ge=1, le=7 * 24 * 60)] = 15
    jitter_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    backoff_max_hours: Annotated[float, Field(gt=0, le=7 * 24)] = 6
    max_entries_per_pass: Annotated[int, Field(ge=1, le=10_000)] = 200
    max_new_entries_per_day: Annotated[int, Field(ge=1, le=100_000)] = 500
    """New entries taken from one feed in any 24 hours; a feed that renumbers every GUID
    (or a hostile one) cannot flood the store and the digests. The rest wait for later."""
    concurrency: Annotated[int, Field(ge=1, le=500)] = 20
    page_retries: Annotated[int, Field(ge=0, le=20)] = 4
    """Times a page that failed for a transient reason (timeout, connection error, 5xx,
    429, extraction timeout) is fetched again; 0: never. A 404, a refused address or a
    page too large is not retried."""
    page_retry_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 5
    """Wait before the first retry; each later one waits ``page_retry_factor`` times longer."""
    page_retry_factor: Annotated[float, Field(ge=1, le=10)] = 3
    page_retry_window_hours: Annotated[float, Field(gt=0, le=7 * 24)] = 24
    """No retry is made later than this after the first attempt."""
    shutdown_grace_seconds: Annotated[float, Field(ge=0, le=3600)] = 20
    """On SIGTERM `monitor run` lets polls and mails in flight finish this long, then
    abandons them safely (a mail the server has whole is waited for: see send.py)."""


class ExtractionSettings(Section):
    workers: Annotated[int, Field(ge=0, le=64)] = 0
    """Extraction processes; 0 means one per CPU core."""
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30
    """Time limit for each page extracted and each feed parsed; an overrun kills the worker."""
    memory_mb: Annotated[int, Field(ge=256, le=65536)] = 1536
    """Memory limit of each worker process; a page or feed that needs more fails alone."""
    min_text_chars: Annotated[int, Field(ge=0)] = 200
    """Below this, the page's extraction counts as failed and the feed summary is kept."""


class WorkersSettings(Section):
    """The distributed path: `monitor scheduler` and `monitor worker` on PostgreSQL."""

    concurrency: Annotated[int, Field(ge=1, le=500)] = 10
    """Tasks one worker runs at once (its default; `monitor worker --concurrency` wins)."""
    schedule_seconds: Annotated[int, Field(ge=1, le=59)] = 5
    """How often the scheduler looks for due feeds."""
    heartbeat_seconds: Annotated[float, Field(gt=0, le=300)] = 5
    stalled_after_seconds: Annotated[float, Field(gt=0, le=3600)] = 30
    """A worker silent this long is taken for dead and its tasks are run again elsewhere."""
    poll_lease_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 15
    """A claimed feed is not claimed again for this long unless its poll finishes first."""
    shutdown_grace_seconds: Annotated[float, Field(ge=0, le=3600)] = 30
    """On SIGTERM, tasks in flight get this long; the rest go back to the queue."""


class MetricsSettings(Section):
    listen: str | None = None
    """``host:port`` of the Prometheus endpoint (and ``/healthz``); ``None``: none."""

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isascii() or not port.isdigit():
            raise ValueError("must be host:port, e.g. 127.0.0.1:9464")
        if not 0 < int(port) < 65536:
            raise ValueError("port must be between 1 and 65535")
        return value


class StorageSettings(Section):
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 30
    """Unmatched articles keep their text this long, for backtesting changed topics."""


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["console", "json"] = "console"


class SmtpSettings(Section):
    host: str = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    security: Literal["none", "starttls", "tls"] = "none"
    user: str | None = None
    password: SecretStr | None = None
    from_address: str = "monitor@localhost"
    timeout: Annotated[float, Field(gt=0, le=300)] = 30


class DedupSettings(Section):
    """Duplicate folding and story grouping. The evidence for each default is in
    ``bench/results/dedup.md`` (from ``tests/data/dedup-pairs.jsonl`` and
    ``tests/data/dedup-story-pairs.jsonl``)."""

    min_text_chars: Annotated[int, Field(ge=0)] = 200
    """Shorter normalised texts are not compared by content: teasers and failed extractions
    ("Read more on our website") would fold unrelated articles together."""
    near_similarity: Annotated[float, Field(gt=0, le=1)] = 0.45
    """Estimated Jaccard similarity (8-character shingles) from which a text is a copy.
    Measured: 95 % of copies at 0.45 or more (lowest 0.41); next-day reports reusing half
    of the earlier report's paragraphs 0.28–0.46; other articles on the same event ≤ 0.28."""
    near_containment: Annotated[float, Field(gt=0, le=1)] = 0.8
    """Or: this share of the shorter text found in the longer (a copy cut after a few
    paragraphs: 0.8–1.0), when the similarity is at least ``containment_floor``. Next-day
    reports measured 0.44–0.66, other reports of the same event at most 0.60."""
    containment_floor: Annotated[float, Field(ge=0, le=1)] = 0.25
    lsh_bands: Annotated[int, Field(ge=1, le=128)] = 42
    lsh_rows: Annotated[int, Field(ge=1, le=16)] = 3
    """Bands × rows of the LSH index (at most 128 values): 42 × 3 finds 98 % of pairs at
    similarity 0.45 while unrelated articles rarely share a band."""
    story_window_days: Annotated[float, Field(gt=0, le=30)] = 3
    """An article joins a story only through an article of it published within this many
    days (before or after)."""
    story_min_score: Annotated[float, Field(gt=0, le=1)] = 0.40
    """Score (IDF-weighted cosine of names and numbers, 0.7, and title words, 0.3) from which
    two articles report the same event. Same-language pairs measured: reports of one event
    0.34–0.72 (16 of 19 at 0.40 or more), different events at most 0.45 (one, then 0.39)."""


EMAIL = re.compile(r"^[^@\s<>\"'(),;:\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
SUBSCRIBER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def schedule_crontab(schedule: str, time: str = "07:00") -> str:
    """A subscriber's schedule as a five-field crontab: ``daily [HH:MM]``, ``hourly [:MM]``,
    or a crontab as it is. Raises `ValueError` saying what is expected."""
    words = schedule.split()
    if words and words[0] in {"daily", "hourly"}:
        if len(words) > 2:
            raise ValueError(f"{schedule!r}: use 'daily', 'daily 07:30', 'hourly' or 'hourly :15'")
        at = words[1] if len(words) == 2 else (time if words[0] == "daily" else ":00")
        if words[0] == "hourly":
            minute = re.fullmatch(r":?([0-5]?\d)", at)
            if not minute:
                raise ValueError(f"{schedule!r}: an hourly schedule takes a minute such as :15")
            return f"{int(minute.group(1))} * * * *"
        clock = CLOCK.match(at)
        if not clock:
            raise ValueError(f"{at!r} is not a time of day such as 07:30")
        return f"{int(clock.group(2))} {int(clock.group(1))} * * *"
    from apscheduler.triggers.cron import CronTrigger

    if len(words) != 5:
        raise ValueError(
            f"{schedule!r}: use 'daily', 'daily 07:30', 'hourly' or a crontab such as '0 7 * * 1-5'"
        )
    try:
        CronTrigger.from_crontab(schedule, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"{schedule!r} is not a valid crontab: {exc}") from exc
    return schedule


class AlertSettings(Section):
    """Mail at once, outside the digest, when one topic has news that cannot wait."""

    topic: str
    min_score: Annotated[float, Field(gt=0)] | None = None
    """A story whose score reaches this is sent at once; ``None``: no score alerts."""
    burst_factor: Annotated[float, Field(gt=1)] | None = 3.0
    """Alert when the last ``burst_hours`` hold this many times the usual number of articles;
    ``None``: no burst alerts."""
    burst_hours: Annotated[float, Field(gt=0, le=48)] = 3
    burst_min_articles: Annotated[int, Field(ge=1)] = 5
    baseline_days: Annotated[float, Field(gt=0, le=60)] = 7
    min_interval_minutes: Annotated[float, Field(ge=0)] = 60
    """At most one alert per subscriber and topic in this many minutes."""


class SubscriberSettings(Section):
    name: str
    email: str
    topics: Annotated[list[str], Field(min_length=1)]
    schedule: str = "daily"
    """``daily`` (at ``time``), ``daily 07:30``, ``hourly``, ``hourly :15`` or a crontab."""
    time: str = "07:00"
    timezone: str = "UTC"
    min_score: Annotated[float, Field(ge=0)] = 0.0
    max_stories: Annotated[int, Field(ge=1, le=500)] = 40
    format: Literal["html", "text"] = "html"
    """``html``: an HTML part with a plain-text part; ``text``: plain text only."""
    send_empty: bool | None = None
    """Send a short "nothing new" mail; ``None``: as ``digest.send_empty``."""
    alerts: list[AlertSettings] = []

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not SUBSCRIBER_NAME.match(value):
            raise ValueError("a subscriber name is letters, digits, '.', '-' and '_'")
        return value

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str) -> str:
        if not EMAIL.match(value) or len(value) > 254:
            raise ValueError("not an e-mail address such as analyst@example.org")
        return value

    @field_validator("time")
    @classmethod
    def _time_shape(cls, value: str) -> str:
        if not CLOCK.match(value):
            raise ValueError("a time of day such as 07:30")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use e.g. Europe/Berlin") from exc
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        schedule_crontab(value)
        return value

    @property
    def crontab(self) -> str:
        return schedule_crontab(self.schedule, self.time)


class DigestSettings(Section):
    send_empty: bool = False
    """Send a short "nothing new" mail when a scheduled digest has no story."""
    lookback_days: Annotated[float, Field(gt=0, le=90)] = 3
    """A digest holds unsent stories stored in this many days (a new subscriber's first
    digest does not reach further back)."""
    retry_seconds: Annotated[float, Field(ge=1)] = 60
    retry_max_seconds: Annotated[float, Field(ge=1)] = 3600
    """Backoff of a delivery the server refused for now: doubling from ``retry_seconds``."""
    feed_failing_hours: Annotated[float, Field(gt=0)] = 24
    unsubscribe: str | None = None
    """The ``List-Unsubscribe`` target (mailto: or https: URL); default: mail the sender."""
    atom_dir: str | None = None
    """Folder the daemon keeps an Atom feed per topic in; ``None``: none."""
    atom_minutes: Annotated[float, Field(ge=1)] = 15


class Settings(Section):
    """``config/monitor.yaml``."""

    feeds: str = "feeds.yaml"
    topics: str = "topics.yaml"
    database: DatabaseSettings = DatabaseSettings()
    http: HttpSettings = HttpSettings()
    polling: PollingSettings = PollingSettings()
    extraction: ExtractionSettings = ExtractionSettings()
    storage: StorageSettings = StorageSettings()
    logging: LoggingSettings = LoggingSettings()
    smtp: SmtpSettings = SmtpSettings()
    dedup: DedupSettings = DedupSettings()
    subscribers: list[SubscriberSettings] = []
    digest: DigestSettings = DigestSettings()
    workers: WorkersSettings = WorkersSettings()
    metrics: MetricsSettings = MetricsSettings()


# --- the feed list ----------------------------------------------------------


class FeedItem(Section):
    url: str
    name: str = ""
    language: str | None = None
    interval_minutes: Annotated[float, Field(ge=1, le=7 * 24 * 60)] | None = None

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value, re.IGNORECASE):
            raise ValueError("a feed URL must start with http:// or https:// and name a host")
        return value

    def to_spec(self) -> FeedSpec:
        interval = round(self.interval_minutes * 60) if self.interval_minutes else None
        # A name may come from an imported OPML file: it becomes the outlet's name.
        return FeedSpec(self.url, clean_line(self.name, 300), self.language, interval)


class FeedFile(Section):
    feeds: list[FeedItem] = []

    @field_validator("feeds", mode="before")
    @classmethod
    def _empty_when_blank(cls, value: object) -> object:
        # `feeds:` with every item commented out is YAML's null: an empty list, not an error.
        return [] if value is None else value


# --- the topic file ---------------------------------------------------------


class TopicItem(Section):
    id: str
    query: str
    name: str = ""
    description: str = ""
    exclude: str | None = None
    min_score: Annotated[float, Field(ge=0)] = 1.0
    seeds: list[str] = []

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not TOPIC_ID.match(value):
            raise ValueError("a topic id is lower-case letters, digits, '-' and '_'")
        return value

    def to_definition(self, seed_texts: tuple[str, ...]) -> TopicDefinition:
        return TopicDefinition(
            id=self.id,
            query=self.query,
            name=self.name or self.id,
            description=self.description,
            exclude=self.exclude,
            min_score=self.min_score,
            seeds=seed_texts,
        )


class TopicFile(Section):
    term_lists: dict[str, list[str]] = {}
    topics: list[TopicItem] = []

    @field_validator("term_lists")
    @classmethod
    def _list_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, terms in value.items():
            if not TERM_LIST_NAME.match(name):
                raise ValueError(f"term list name {name!r} must be letters, digits and '_'")
            if not terms:
                raise ValueError(f"term list {name!r} is empty")
        return value
