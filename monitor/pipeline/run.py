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
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from monitor import metrics
from monitor.config import Config
from monitor.errors import ExtractError, FeedParseError, FetchError, StorageError
from monitor.log import get_logger
from monitor.models import (
    Article,
    Document,
    Entry,
    ExtractedPage,
    FeedRecord,
    FeedSpec,
    ParsedFeed,
    utcnow,
)
from monitor.pipeline import feeds as feed_rules
from monitor.pipeline.dedup import Fingerprint
from monitor.pipeline.dedup_stage import Deduplicator, Folded
from monitor.pipeline.egress import check_url
from monitor.pipeline.fetch import Fetcher, FetchResult, is_transient
from monitor.pipeline.match import Matcher
from monitor.pipeline.retry import RetryReport, next_page_retry
from monitor.pipeline.sandbox import Sandbox
from monitor.pipeline.wire import link_problem
from monitor.storage import retries
from monitor.storage.store import Store
from monitor.storage.thread import DatabaseThread, LoopThread
from monitor.text import clean_date, clean_line

log = get_logger("monitor.pipeline")

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"

RETRY_LEASE = timedelta(minutes=15)
"""A claimed retry not finished by then (its process died) is claimed again."""
RETRIES_PER_RUN = 200

EntryQueue = Callable[[FeedRecord, list[Entry]], Awaitable[None]]
"""Where a feed's new entries go instead of being ingested in this process (workers)."""


@dataclass(frozen=True, slots=True)
class PageFetch:
    """A page fetched and extracted, or why not; ``transient``: worth asking again later."""

    page: ExtractedPage | None
    final_url: str
    error: str | None
    transient: bool = False


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


def raise_first_failure(outcomes: Sequence[object]) -> None:
    """Raise the first exception among gathered outcomes, if any."""
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


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
        self.database = DatabaseThread()  # every store call made from the loop runs there
        self.mail = LoopThread("mail")  # digests and alerts: the store, then SMTP
        self.stop_deadline: float | None = None  # loop time; set when the daemon stops
        # On PostgreSQL other processes may store articles too.
        self.dedup = Deduplicator(
            store,
            config.settings.dedup,
            shared=store.dialect == "postgresql",
            database=self.database,
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
        await self.database.run(self.store.sync_feeds, specs)
        found = await self.database.run(self.store.feeds, [s.url for s in specs])
        records = {record.url: record for record in found}
        summary = PassSummary()

        async def one(spec: FeedSpec) -> None:
            record = records[spec.url]
            if due_only and not feed_rules.is_due(record.state, utcnow()):
                return
            report = await self.poll_feed(record)
            summary.add(report)
            if on_feed_done:
                on_feed_done(report)

        await asyncio.gather(*(one(spec) for spec in specs))
        summary.seconds = round(time.monotonic() - started, 3)
        return summary

    async def prune(self) -> list[int]:
        """Delete what is past retention from the store, then from the dedup indexes."""
        return await self.database.run(self._prune)

    def _prune(self) -> list[int]:
        pruned = self.store.prune(self.config.settings.storage.retention_days)
        self.dedup.forget(pruned)
        return pruned

    async def ingest_entries(
        self, record: FeedRecord, entries: Sequence[Entry]
    ) -> list[str | BaseException]:
        """Ingest entries at once; each one's outcome, or its failure. Every ingest
        finishes before the caller sees a failure: none is left running unowned, racing
        the next poll of this feed."""
        return await asyncio.gather(
            *(self.ingest_entry(record, entry) for entry in entries), return_exceptions=True
        )

    async def poll_feed(self, record: FeedRecord) -> FeedReport:
        """One feed, start to finish, in one of the `polling.concurrency` slots, whoever
        calls it (a pass, the daemon's job, a worker's task). Expected failures are
        recorded, never raised."""
        async with self._feeds:
            return await self._poll_feed(record)

    async def _poll_feed(self, record: FeedRecord) -> FeedReport:
        bound = log.bind(feed=record.url)
        started = time.monotonic()
        try:
            report = await self._poll(record)
        except StorageError as exc:
            bound.error("feed.storage_error", error=str(exc))
            return FeedReport(record.url, "failed", error=str(exc))
        metrics.FEED_POLLS.labels(report.outcome).inc()
        level = "warning" if report.outcome == "failed" else "info"
        # Entries handed on to other workers are counted there (`entries.ingested`).
        counts = (
            {"queued": report.entries_new}
            if self.entry_queue is not None
            else {
                "new": report.entries_new,
                "stored": report.articles_stored,
                "matched": report.articles_matched,
                "duplicates": report.duplicates,
            }
        )
        getattr(bound, level)(
            "feed.polled",
            outcome=report.outcome,
            **counts,
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
            await self._save_state(record, outcome, keep_validators=True)
            return FeedReport(record.url, "failed", error=str(exc))
        record = await self._note_redirect(record, result)
        if result.not_modified:
            await self._save_state(record, feed_rules.PollOutcome("not_modified", 304), True)
            return FeedReport(record.url, "not_modified")
        body_hash = hashlib.sha256(result.body).hexdigest()
        if body_hash == record.body_hash:
            unchanged = feed_rules.PollOutcome("unchanged", result.status)
            await self._save_state(record, unchanged, True)
            return FeedReport(record.url, "unchanged")
        try:
            with metrics.timed("parse"):
                parsed = await self.sandbox.parse_feed(
                    result.body, result.final_url, result.content_type
                )
        except FeedParseError as exc:
            metrics.FEED_FAILURES.labels("parse").inc()
            outcome = feed_rules.PollOutcome("failed", result.status, exc.reason)
            await self._save_state(record, outcome, keep_validators=True)
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
        await self._save_state(record, outcome, keep, result, body_hash, parsed.title)
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

    async def _save_state(
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
        await self.database.run(
            self.store.save_feed_poll,
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
        keys = [e.key for e in entries]
        known = await self.database.run(self.store.known_entry_keys, record.id, keys)
        fresh = [entry for entry in entries if entry.key not in known]
        budget = await self._daily_budget(record)
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
        outcomes = await self.ingest_entries(record, fresh)
        raise_first_failure(outcomes)
        for kind in outcomes:
            if kind in ("stored", "matched"):
                report.articles_stored += 1
            if kind == "matched":
                report.articles_matched += 1
            if kind == "duplicate":
                report.duplicates += 1
        return report

    async def _daily_budget(self, record: FeedRecord) -> int:
        """How many more new entries this feed may bring in within the last 24 hours."""
        cap = self.config.settings.polling.max_new_entries_per_day
        since = utcnow() - timedelta(days=1)
        seen = await self.database.run(self.store.entries_seen_since, record.id, since)
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
        canonical = self.dedup.canonical_url(entry.link)
        known = await self.database.run(self.store.by_canonical_url, canonical)
        if known is not None:
            await self.database.run(
                self.store.record_entry, record.id, entry.key, entry.link, known
            )
            return "duplicate"
        async with self._pages:
            fetched = await self._fetch_page(entry.link)
        article = self._article(spec, entry, fetched.page, fetched.error, fetched.final_url)
        retry_at = None
        if fetched.transient:
            polling = self.config.settings.polling
            retry_at = next_page_retry(0, utcnow(), utcnow(), polling)
        return await self._save(record, entry, article, fetched.page, fetched.final_url, retry_at)

    async def _fetch_page(self, url: str) -> PageFetch:
        try:
            with metrics.timed("fetch_page"):
                result = await self.fetcher.get(url, accept=PAGE_ACCEPT)
        except FetchError as exc:
            log.info("page.fetch_failed", url=url, status=exc.status, error=exc.reason)
            return PageFetch(None, url, str(exc), transient=is_transient(exc))
        try:
            with metrics.timed("extract"):
                page = await self.sandbox.extract(result.body, result.final_url)
        except ExtractError as exc:
            log.info("page.extract_failed", url=url, error=exc.reason)
            return PageFetch(None, result.final_url, str(exc), transient=exc.transient)
        if len(page.text) < self.config.settings.extraction.min_text_chars:
            reason = f"extracted text too short ({len(page.text)} characters)"
            return PageFetch(page, result.final_url, reason)
        return PageFetch(page, result.final_url, None)

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
        retry_at: datetime | None = None,
    ) -> str:
        """Fold duplicates and stories, then store."""
        fingerprint = self.dedup.fingerprint(
            article, page.canonical_url if page else None, final_url or article.url
        )
        with metrics.timed("dedup_store"):
            async with self.dedup.exclusive():
                folded = await self.database.run(
                    self._fold_and_save, record, entry, article, fingerprint, retry_at
                )
        if folded.decision.is_duplicate:
            return "duplicate"
        return "matched" if any(m.matched for m in article.matches) else "stored"

    def _fold_and_save(
        self,
        record: FeedRecord,
        entry: Entry,
        article: Article,
        fingerprint: Fingerprint,
        retry_at: datetime | None,
    ) -> Folded:
        """Decide, store and index as one call in the database thread, so the in-memory
        indexes and the store never disagree within this process (and, inside
        `Deduplicator.exclusive`, in none of those sharing the store)."""
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
            retry_at=retry_at,
        )
        self.dedup.remember(article_id, folded, article)
        return folded

    # --- pages that failed for a transient reason, fetched again ----------------------------

    async def retry_pages(self, limit: int = RETRIES_PER_RUN) -> RetryReport:
        """Fetch again the pages whose retry is due (`monitor.pipeline.retry`); store the
        text and matches of those that arrive. The daemon, the workers and ``poll
        --once`` all call this."""
        report = RetryReport()
        due = await self.database.run(retries.claim_due, self.store, utcnow(), RETRY_LEASE, limit)
        if not due:
            return report
        outcomes = await asyncio.gather(*(self._retry_page(i) for i in due), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, str):
                report.count(outcome)
        raise_first_failure(outcomes)  # their claims' lease runs out: they are tried again
        return report

    async def _retry_page(self, item: retries.PageRetry) -> str:
        link = item.entry.link or ""
        bound = log.bind(url=link, article=item.article_id, retry=item.retries_done)
        async with self._pages:
            fetched = await self._fetch_page(link)
        if fetched.error is not None:
            polling = self.config.settings.polling
            now = utcnow()
            retry_at = (
                next_page_retry(item.retries_done, item.first_attempt, now, polling)
                if fetched.transient
                else None
            )
            await self.database.run(
                retries.save_failure, self.store, item.article_id, fetched.error, retry_at
            )
            outcome = "failed" if retry_at else "gave_up"
            bound.info("page.retried", outcome=outcome, error=fetched.error)
            return outcome
        spec = self._specs.get(item.feed_url, FeedSpec(item.feed_url))
        article = self._article(spec, item.entry, fetched.page, None, fetched.final_url)
        page_canonical = fetched.page.canonical_url if fetched.page else None
        fingerprint = self.dedup.fingerprint(article, page_canonical, fetched.final_url)
        async with self.dedup.exclusive():
            await self.database.run(self._refold_and_save, item, article, fingerprint)
        matched = [m.topic_id for m in article.matches if m.matched]
        bound.info(
            "page.retried", outcome="recovered", text_chars=len(article.text), matched=matched
        )
        return "matched" if matched else "recovered"

    def _refold_and_save(
        self, item: retries.PageRetry, article: Article, fingerprint: Fingerprint
    ) -> None:
        """`_fold_and_save` for a stored article whose page arrived on a retry."""
        signature, story_id = self.dedup.refold(
            item.article_id,
            article,
            fingerprint,
            story_id=item.story_id,
            duplicate=item.duplicate_of is not None,
        )
        retries.save_page(
            self.store,
            item.article_id,
            article,
            content_hash=fingerprint.content_hash,
            signature=signature,
            story_id=story_id,
        )


def _host(url: str) -> str:
    return urlsplit(url).hostname or url
