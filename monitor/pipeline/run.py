"""The one orchestrator: poll → parse → fetch page → extract → match → dedup → store.

Each stage is called in order for each feed; storage is touched only here, at
the edge. One feed's failure never stops the pass: it is recorded on the feed
and the next feed goes on. A feed's validators (ETag, Last-Modified, body hash)
are saved only after all its new entries are stored, so a crash in the middle
of a feed means the next poll sees the same entries again and finishes them.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from urllib.parse import urlsplit

from monitor import metrics
from monitor.config import Config
from monitor.digest.alerts import check_alerts
from monitor.errors import ExtractError, FeedParseError, FetchError, StorageError
from monitor.log import get_logger
from monitor.models import Article, Document, Entry, ExtractedPage, FeedSpec, ParsedFeed
from monitor.pipeline import feeds as feed_rules
from monitor.pipeline.dedup_stage import Deduplicator
from monitor.pipeline.egress import check_url
from monitor.pipeline.fetch import Fetcher, FetchResult
from monitor.pipeline.match import Matcher
from monitor.pipeline.sandbox import Sandbox
from monitor.pipeline.wire import link_problem
from monitor.storage.store import FeedRecord, Store, utcnow
from monitor.text import clean_date, clean_line

log = get_logger("monitor.pipeline")

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"

EntryQueue = Callable[[FeedRecord, list[Entry]], Awaitable[None]]
"""Where a feed's new entries go instead of being ingested in this process (workers)."""


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


class Pipeline:
    """Everything a poll needs, created once per process and shared by all feeds."""

    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: Fetcher,
        sandbox: Sandbox,
        matcher: Matcher,
        *,
        entry_queue: EntryQueue | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.sandbox = sandbox
        self.matcher = matcher
        self.entry_queue = entry_queue
        # On PostgreSQL other processes may store articles too.
        self.dedup = Deduplicator(
            store, config.settings.dedup, shared=store.dialect == "postgresql"
        )
        self._specs = {spec.url: spec for spec in config.feeds}
        polling = config.settings.polling
        self._pages = asyncio.Semaphore(polling.concurrency * 2)
        self._feeds = asyncio.Semaphore(polling.concurrency)

    async def poll_all(
        self,
        specs: Sequence[FeedSpec] | None = None,
        *,
        due_only: bool = False,
        on_feed_done: Callable[[FeedReport], None] | None = None,
    ) -> PassSummary:
        """Poll every feed (or the due ones) concurrently and sum up what was done."""
        started = time.monotonic()
        specs = list(specs if specs is not None else self.config.feeds)
        self.store.sync_feeds(specs)
        records = {record.url: record for record in self.store.feeds(s.url for s in specs)}
        summary = PassSummary()

        async def one(spec: FeedSpec) -> None:
            record = records[spec.url]
            if due_only and not feed_rules.is_due(record.state, utcnow()):
                return
            async with self._feeds:
                report = await self.poll_feed(record)
            summary.add(report)
            if on_feed_done:
                on_feed_done(report)

        await asyncio.gather(*(one(spec) for spec in specs))
        summary.seconds = round(time.monotonic() - started, 3)
        return summary

    async def poll_feed(self, record: FeedRecord) -> FeedReport:
        """One feed, start to finish. Expected failures are recorded, never raised."""
        bound = log.bind(feed=record.url)
        started = time.monotonic()
        try:
            report = await self._poll(record)
            if report.articles_matched:
                await check_alerts(self.store, self.config)
        except StorageError as exc:
            bound.error("feed.storage_error", error=str(exc))
            return FeedReport(record.url, "failed", error=str(exc))
        metrics.FEED_POLLS.labels(report.outcome).inc()
        level = "warning" if report.outcome == "failed" else "info"
        getattr(bound, level)(
            "feed.polled",
            outcome=report.outcome,
            new=report.entries_new,
            stored=report.articles_stored,
            matched=report.articles_matched,
            duplicates=report.duplicates,
            error=report.error,
            duration=round(time.monotonic() - started, 3),
        )
        return report

    async def _poll(self, record: FeedRecord) -> FeedReport:
        try:
            with metrics.timed("fetch_feed"):
                result = await self.fetcher.get(
                    record.state.moved_to or record.url,
                    etag=record.etag,
                    last_modified=record.last_modified,
                    accept=FEED_ACCEPT,
                )
        except FetchError as exc:
            metrics.FEED_FAILURES.labels(metrics.failure_kind(exc.status, exc.reason)).inc()
            outcome = feed_rules.PollOutcome(
                "failed", exc.status, exc.reason, retry_after=exc.retry_after
            )
            self._save_state(record, outcome, keep_validators=True)
            return FeedReport(record.url, "failed", error=str(exc))
        record = await self._note_redirect(record, result)
        if result.not_modified:
            self._save_state(record, feed_rules.PollOutcome("not_modified", 304), True)
            return FeedReport(record.url, "not_modified")
        body_hash = hashlib.sha256(result.body).hexdigest()
        if body_hash == record.body_hash:
            self._save_state(record, feed_rules.PollOutcome("unchanged", result.status), True)
            return FeedReport(record.url, "unchanged")
        try:
            with metrics.timed("parse"):
                parsed = await self.sandbox.parse_feed(
                    result.body, result.final_url, result.content_type
                )
        except FeedParseError as exc:
            metrics.FEED_FAILURES.labels("parse").inc()
            outcome = feed_rules.PollOutcome("failed", result.status, exc.reason)
            self._save_state(record, outcome, keep_validators=True)
            return FeedReport(record.url, "failed", error=str(exc))
        report = await self._store_entries(record, parsed)
        capped = (
            f"daily cap of {self.config.settings.polling.max_new_entries_per_day} new entries "
            f"reached; {report.capped} left for later"
        )
        problems = [parsed.degraded_reason, capped if report.capped else None]
        if report.bad_links:
            problems.append(
                f"{len(report.bad_links)} of {report.entries_new} new entries link to URLs "
                f"that cannot be fetched (first: {report.bad_links[0]}); they are stored "
                "with their feed summary as text"
            )
        outcome = feed_rules.PollOutcome(
            "fetched",
            result.status,
            new_entries=report.entries_new,
            degraded_reason="; ".join(p for p in problems if p) or None,
        )
        # Capped: keep the old validators so a later poll sees the entries left over.
        keep = report.capped > 0
        self._save_state(record, outcome, keep, result, body_hash, parsed.title)
        return report

    async def _note_redirect(self, record: FeedRecord, result: FetchResult) -> FeedRecord:
        """Count a permanent redirect; move the feed once it is confirmed and allowed."""
        state = feed_rules.after_redirect(record.state, result.permanent_redirect)
        moved = state.moved_to
        bound = log.bind(feed=record.url)
        if moved is not None and moved != record.state.moved_to:
            try:
                await check_url(moved, self.fetcher.policy)
            except FetchError as exc:
                bound.warning("feed.move_refused", to=moved, error=exc.reason)
                state = replace(state, moved_to=record.state.moved_to)
            else:
                bound.warning(
                    "feed.moved",
                    to=moved,
                    advice=f"the feed has moved for good: replace {record.url} with {moved} "
                    "in the feed list; until then the new address is polled in its place",
                )
        elif state.redirect_target:
            bound.info("feed.redirected", to=state.redirect_target, times=state.redirect_count)
        return replace(record, state=state)

    def _save_state(
        self,
        record: FeedRecord,
        outcome: feed_rules.PollOutcome,
        keep_validators: bool,
        result: FetchResult | None = None,
        body_hash: str | None = None,
        title: str | None = None,
    ) -> None:
        polling = self.config.settings.polling
        interval = record.interval_seconds or round(polling.interval_minutes * 60)
        state = feed_rules.after_poll(
            record.state,
            outcome,
            utcnow(),
            timedelta(seconds=interval),
            timedelta(hours=polling.backoff_max_hours),
        )
        self.store.save_feed_poll(
            record.id,
            state,
            etag=result.etag if result else None,
            last_modified=result.last_modified if result else None,
            body_hash=body_hash,
            title=title,
            keep_validators=keep_validators,
        )

    async def _store_entries(self, record: FeedRecord, parsed: ParsedFeed) -> FeedReport:
        report = FeedReport(record.url, "fetched")
        entries = parsed.entries[: self.config.settings.polling.max_entries_per_pass]
        known = self.store.known_entry_keys(record.id, [e.key for e in entries])
        fresh = [entry for entry in entries if entry.key not in known]
        budget = self._daily_budget(record)
        if len(fresh) > budget:
            report.capped = len(fresh) - budget
            log.warning(
                "feed.daily_cap", feed=record.url, new=len(fresh), taken=budget, left=report.capped
            )
            fresh = fresh[:budget]
        report.entries_new = len(fresh)
        for entry in fresh:
            problem = link_problem(entry.link) if entry.link else None
            if problem:
                report.bad_links.append(clean_line(f"{entry.link}: {problem}", 300))
        if self.entry_queue is not None:
            await self.entry_queue(record, fresh)
            return report
        # Every ingest finishes before a failure is raised: none is left running unowned,
        # racing the next poll of this feed.
        outcomes = await asyncio.gather(
            *(self.ingest_entry(record, entry) for entry in fresh), return_exceptions=True
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise failures[0]
        for kind in outcomes:
            if kind in ("stored", "matched"):
                report.articles_stored += 1
            if kind == "matched":
                report.articles_matched += 1
            if kind == "duplicate":
                report.duplicates += 1
        return report

    def _daily_budget(self, record: FeedRecord) -> int:
        """How many more new entries this feed may bring in within the last 24 hours."""
        cap = self.config.settings.polling.max_new_entries_per_day
        seen = self.store.entries_seen_since(record.id, utcnow() - timedelta(days=1))
        return max(cap - seen, 0)

    async def ingest_entry(self, record: FeedRecord, entry: Entry) -> str:
        """Take one new entry all the way to storage; returns what became of it."""
        outcome = await self._ingest(record, entry)
        if outcome == "duplicate":
            metrics.ARTICLES_FOLDED.inc()
        else:
            metrics.ARTICLES_STORED.inc()
        if outcome == "matched":
            metrics.ARTICLES_MATCHED.inc()
        return outcome

    async def _ingest(self, record: FeedRecord, entry: Entry) -> str:
        spec = self._specs.get(record.url, FeedSpec(record.url, record.name))
        if entry.link is None:
            # Nothing to fetch: the entry is the article, identified within its feed.
            url = f"{record.url}#entry-{hashlib.sha256(entry.key.encode()).hexdigest()[:16]}"
            return await self._save(record, entry, self._article(spec, entry, None, None, url))
        known = self.store.by_canonical_url(self.dedup.canonical_url(entry.link))
        if known is not None:
            self.store.record_entry(record.id, entry.key, entry.link, known)
            return "duplicate"
        async with self._pages:
            page, final_url, error = await self._fetch_page(entry.link)
        article = self._article(spec, entry, page, error, final_url)
        return await self._save(record, entry, article, page, final_url)

    async def _fetch_page(self, url: str) -> tuple[ExtractedPage | None, str, str | None]:
        try:
            with metrics.timed("fetch_page"):
                result = await self.fetcher.get(url, accept=PAGE_ACCEPT)
        except FetchError as exc:
            log.info("page.fetch_failed", url=url, status=exc.status, error=exc.reason)
            return None, url, str(exc)
        try:
            with metrics.timed("extract"):
                page = await self.sandbox.extract(result.body, result.final_url)
        except ExtractError as exc:
            log.info("page.extract_failed", url=url, error=exc.reason)
            return None, result.final_url, str(exc)
        if len(page.text) < self.config.settings.extraction.min_text_chars:
            reason = f"extracted text too short ({len(page.text)} characters)"
            return page, result.final_url, reason
        return page, result.final_url, None

    def _article(
        self,
        spec: FeedSpec,
        entry: Entry,
        page: ExtractedPage | None,
        error: str | None,
        final_url: str,
    ) -> Article:
        use_page = page is not None and error is None
        text = page.text if use_page and page else entry.summary
        title = entry.title or (page.title if page and page.title else "") or final_url
        language = (page.language if page else None) or spec.language
        url = entry.link or final_url
        canonical = (
            self.dedup.canonical_url(
                url, page_canonical=page.canonical_url if page else None, final_url=final_url
            )
            if entry.link
            else final_url
        )
        document = Document(title=title, text=text, language=language)
        now = utcnow()  # the fetch time, near enough: a date far after it is unknown
        published = clean_date(entry.published, now) or clean_date(
            page.published if page else None, now
        )
        with metrics.timed("match"):
            matches = self.matcher.match(document)
        return Article(
            url=url,
            feed_url=spec.url,
            entry_key=entry.key,
            title=title,
            text=text,
            outlet=spec.name or (page.site_name if page else None) or _host(url),
            published=published,
            language=language,
            author=entry.author or (page.author if page else None),
            canonical_url=canonical,
            extract_error=error,
            matches=matches,
        )

    async def _save(
        self,
        record: FeedRecord,
        entry: Entry,
        article: Article,
        page: ExtractedPage | None = None,
        final_url: str | None = None,
    ) -> str:
        """Fold duplicates and stories, then store; no await between deciding and
        storing, so the in-memory indexes and the store never disagree within this
        process (and, with `Deduplicator.exclusive`, none of those sharing the store)."""
        fingerprint = self.dedup.fingerprint(
            article, page.canonical_url if page else None, final_url or article.url
        )
        with metrics.timed("dedup_store"):
            async with self.dedup.exclusive():
                folded = self.dedup.fold(article, fingerprint)
                story = folded.story
                article_id = self.store.save_article(
                    record.id,
                    entry.key,
                    article,
                    content_hash=folded.content_hash,
                    signature=folded.signature,
                    duplicate=folded.link,
                    story_id=story.story_id if story else None,
                    own_story=story is not None and story.story_id is None,
                )
                self.dedup.remember(article_id, folded, article)
        if folded.decision.is_duplicate:
            return "duplicate"
        return "matched" if any(m.matched for m in article.matches) else "stored"


def _host(url: str) -> str:
    return urlsplit(url).hostname or url
