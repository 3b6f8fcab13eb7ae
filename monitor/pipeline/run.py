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
from dataclasses import replace
from datetime import timedelta

from monitor import metrics
from monitor.config import Config
from monitor.errors import FeedParseError, FetchError, StorageError
from monitor.log import get_logger
from monitor.models import (
    Entry,
    FeedRecord,
    FeedReport,
    FeedSpec,
    ParsedFeed,
    PassSummary,
    utcnow,
)
from monitor.pipeline import feeds as feed_rules
from monitor.pipeline import page_retries
from monitor.pipeline.egress import check_url
from monitor.pipeline.fetch import Fetcher, FetchResult
from monitor.pipeline.folding import Folding
from monitor.pipeline.ingest import ingest_entry
from monitor.pipeline.match import Matcher
from monitor.pipeline.retry import RetryReport
from monitor.pipeline.sandbox import Sandbox
from monitor.pipeline.wire import link_problem
from monitor.storage.store import Store
from monitor.storage.thread import DatabaseThread, LoopThread
from monitor.text import clean_line

log = get_logger("monitor.pipeline")

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)

RETRIES_PER_RUN = 200

EntryQueue = Callable[[FeedRecord, list[Entry]], Awaitable[None]]
"""Where a feed's new entries go instead of being ingested in this process (workers)."""


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
        database: DatabaseThread,
        dedup: Folding,
        entry_queue: EntryQueue | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.sandbox = sandbox
        self.matcher = matcher
        self.entry_queue = entry_queue
        self.database = database  # every store call made from the loop runs there
        self.mail = LoopThread("mail")  # digests and alerts: the store, then SMTP
        self.stop_deadline: float | None = None  # loop time; set when the daemon stops
        self.dedup = dedup
        self._specs = {spec.url: spec for spec in config.feeds}
        polling = config.settings.polling
        self.page_slots = asyncio.Semaphore(polling.concurrency * 2)
        self._feeds = asyncio.Semaphore(polling.concurrency)

    def spec_for(self, url: str) -> FeedSpec | None:
        """The configured feed at ``url`` (None: removed from the config since)."""
        return self._specs.get(url)

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
            *(ingest_entry(self, record, entry) for entry in entries), return_exceptions=True
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

    async def retry_pages(self, limit: int = RETRIES_PER_RUN) -> RetryReport:
        """Fetch again the pages whose retry is due; the daemon, the workers and ``poll
        --once`` all call this (`monitor.pipeline.page_retries`)."""
        return await page_retries.retry_due(self, limit)
