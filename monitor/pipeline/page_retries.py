"""Pages that failed for a transient reason, fetched again when their retry is due.

The rules of when (backoff, give-up) are in `retry`; this module claims the due
retries, fetches and extracts each page as a first fetch does, and stores the text and
matches of those that arrive, folding them again (a page that arrives late may make
its article a copy, or a member of a story).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

from monitor.log import get_logger
from monitor.models import Article, FeedSpec, utcnow
from monitor.pipeline.dedup import Fingerprint
from monitor.pipeline.ingest import article_of, fetch_article_page
from monitor.pipeline.retry import RetryReport, next_page_retry
from monitor.storage import retries

if TYPE_CHECKING:
    from monitor.pipeline.run import Pipeline

log = get_logger("monitor.pipeline")

RETRY_LEASE = timedelta(minutes=15)
"""A claimed retry not finished by then (its process died) is claimed again."""


async def retry_due(pipeline: Pipeline, limit: int) -> RetryReport:
    """Claim up to ``limit`` due retries and try each; what became of them."""
    from monitor.pipeline.run import raise_first_failure

    report = RetryReport()
    due = await pipeline.database.run(
        retries.claim_due, pipeline.store, utcnow(), RETRY_LEASE, limit
    )
    if not due:
        return report
    outcomes = await asyncio.gather(
        *(_retry_page(pipeline, item) for item in due), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, str):
            report.count(outcome)
    raise_first_failure(outcomes)  # their claims' lease runs out: they are tried again
    return report


async def _retry_page(pipeline: Pipeline, item: retries.PageRetry) -> str:
    link = item.entry.link or ""
    bound = log.bind(url=link, article=item.article_id, retry=item.retries_done)
    async with pipeline.page_slots:
        fetched = await fetch_article_page(pipeline, link)
    if fetched.error is not None:
        polling = pipeline.config.settings.polling
        now = utcnow()
        retry_at = (
            next_page_retry(item.retries_done, item.first_attempt, now, polling)
            if fetched.transient
            else None
        )
        await pipeline.database.run(
            retries.save_failure, pipeline.store, item.article_id, fetched.error, retry_at
        )
        outcome = "failed" if retry_at else "gave_up"
        bound.info("page.retried", outcome=outcome, error=fetched.error)
        return outcome
    spec = pipeline.spec_for(item.feed_url) or FeedSpec(item.feed_url)
    article = article_of(pipeline, spec, item.entry, fetched.page, None, fetched.final_url)
    page_canonical = fetched.page.canonical_url if fetched.page else None
    fingerprint = pipeline.dedup.fingerprint(article, page_canonical, fetched.final_url)
    async with pipeline.dedup.exclusive():
        await pipeline.database.run(_refold_and_save, pipeline, item, article, fingerprint)
    matched = [m.topic_id for m in article.matches if m.matched]
    bound.info("page.retried", outcome="recovered", text_chars=len(article.text), matched=matched)
    return "matched" if matched else "recovered"


def _refold_and_save(
    pipeline: Pipeline, item: retries.PageRetry, article: Article, fingerprint: Fingerprint
) -> None:
    """The pipeline's fold-and-save for a stored article whose page arrived on a retry
    (database thread)."""
    signature, story_id = pipeline.dedup.refold(
        item.article_id,
        article,
        fingerprint,
        story_id=item.story_id,
        duplicate=item.duplicate_of is not None,
    )
    retries.save_page(
        pipeline.store,
        item.article_id,
        article,
        content_hash=fingerprint.content_hash,
        signature=signature,
        story_id=story_id,
    )
