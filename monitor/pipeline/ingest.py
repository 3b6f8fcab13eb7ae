"""One new entry all the way to storage: its page, its article, its fold, its row.

`poll_feed` (in `run`) calls `ingest_entry` for each new entry of a feed, and the
workers for each entry of their batch; `page_retries` uses `fetch_article_page` and
`article_of` for a page that arrives late, so a first fetch and a retry make an
article the same way.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from monitor import metrics
from monitor.models import Article, Entry, ExtractedPage, FeedRecord, FeedSpec, utcnow
from monitor.pipeline.article import assemble_article
from monitor.pipeline.dedup import Fingerprint
from monitor.pipeline.folding import Folded
from monitor.pipeline.pages import PageFetch, fetch_page
from monitor.pipeline.retry import next_page_retry

if TYPE_CHECKING:
    from monitor.pipeline.run import Pipeline


async def ingest_entry(pipeline: Pipeline, record: FeedRecord, entry: Entry) -> str:
    """Take one new entry all the way to storage; returns what became of it."""
    outcome = await _ingest(pipeline, record, entry)
    if outcome == "duplicate":
        metrics.ARTICLES_FOLDED.inc()
    else:
        metrics.ARTICLES_STORED.inc()
    if outcome == "matched":
        metrics.ARTICLES_MATCHED.inc()
    return outcome


async def _ingest(pipeline: Pipeline, record: FeedRecord, entry: Entry) -> str:
    spec = pipeline.spec_for(record.url) or FeedSpec(record.url, record.name)
    if entry.link is None:
        # Nothing to fetch: the entry is the article, identified within its feed.
        url = f"{record.url}#entry-{hashlib.sha256(entry.key.encode()).hexdigest()[:16]}"
        article = article_of(pipeline, spec, entry, None, None, url)
        return await _save(pipeline, record, entry, article)
    canonical = pipeline.dedup.canonical_url(entry.link)
    known = await pipeline.database.run(pipeline.store.by_canonical_url, canonical)
    if known is not None:
        await pipeline.database.run(
            pipeline.store.record_entry, record.id, entry.key, entry.link, known
        )
        return "duplicate"
    async with pipeline.page_slots:
        fetched = await fetch_article_page(pipeline, entry.link)
    article = article_of(pipeline, spec, entry, fetched.page, fetched.error, fetched.final_url)
    retry_at = None
    if fetched.transient:
        retry_at = next_page_retry(0, utcnow(), utcnow(), pipeline.config.settings.polling)
    return await _save(pipeline, record, entry, article, fetched.page, fetched.final_url, retry_at)


async def fetch_article_page(pipeline: Pipeline, url: str) -> PageFetch:
    """The page at ``url``, fetched and extracted, or why not (never raises)."""
    min_chars = pipeline.config.settings.extraction.min_text_chars
    return await fetch_page(pipeline.fetcher, pipeline.sandbox, url, min_chars)


def article_of(
    pipeline: Pipeline,
    spec: FeedSpec,
    entry: Entry,
    page: ExtractedPage | None,
    error: str | None,
    final_url: str,
) -> Article:
    """`assemble_article` with this process's matcher and canonical URLs, now."""
    with metrics.timed("match"):
        return assemble_article(
            spec,
            entry,
            page,
            error,
            final_url,
            canonical_url=pipeline.dedup.canonical_url,
            matcher=pipeline.matcher,
            now=utcnow(),
        )


async def _save(
    pipeline: Pipeline,
    record: FeedRecord,
    entry: Entry,
    article: Article,
    page: ExtractedPage | None = None,
    final_url: str | None = None,
    retry_at: datetime | None = None,
) -> str:
    """Fold duplicates and stories, then store."""
    fingerprint = pipeline.dedup.fingerprint(
        article, page.canonical_url if page else None, final_url or article.url
    )
    with metrics.timed("dedup_store"):
        async with pipeline.dedup.exclusive():
            folded = await pipeline.database.run(
                _fold_and_save, pipeline, record, entry, article, fingerprint, retry_at
            )
    if folded.decision.is_duplicate:
        return "duplicate"
    return "matched" if any(m.matched for m in article.matches) else "stored"


def _fold_and_save(
    pipeline: Pipeline,
    record: FeedRecord,
    entry: Entry,
    article: Article,
    fingerprint: Fingerprint,
    retry_at: datetime | None,
) -> Folded:
    """Decide, store and index as one call in the database thread, so the in-memory
    indexes and the store never disagree within this process (and, inside
    `Deduplicator.exclusive`, in none of those sharing the store)."""
    folded = pipeline.dedup.fold(article, fingerprint)
    story = folded.story
    article_id = pipeline.store.save_article(
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
    pipeline.dedup.remember(article_id, folded, article)
    return folded
