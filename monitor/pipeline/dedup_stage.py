"""The dedup stage of the pipeline: the pure `dedup` package with storage at its edge.

Holds the two in-memory indexes for the life of the process — near-duplicate
signatures of every stored original, and the recent matched articles by story —
and rebuilds them at start-up from what the store kept, so a restart does not
re-read or re-shingle any article text for near-duplicates.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from monitor.errors import InvalidURLError
from monitor.log import get_logger
from monitor.models import Article, utcnow
from monitor.pipeline.dedup import (
    Fingerprint,
    NearDuplicateIndex,
    Signature,
    SignatureError,
    StoryFeatures,
    StoryIndex,
    decide,
    fingerprint,
    signature,
    story_features,
)
from monitor.pipeline.dedup import canonical_url as canonicalise
from monitor.pipeline.folding import Folded
from monitor.settings import DedupSettings
from monitor.storage.store import Store
from monitor.storage.thread import DatabaseThread

log = get_logger("monitor.dedup")
LOCK_RETRY_SECONDS = 0.002
PRUNES_CHECK_SECONDS = 60.0
PRUNE_CLOCK_MARGIN = timedelta(minutes=10)


class Deduplicator:
    """The dedup indexes of one process (the `Folding` of the pipeline).

    ``shared``: other processes write articles to the same database (PostgreSQL
    workers). Then every fold-and-save runs inside `exclusive`, which holds the
    database-wide article write lock and first indexes what the others stored since
    this process last looked.
    """

    def __init__(
        self,
        store: Store,
        settings: DedupSettings,
        *,
        shared: bool = False,
        database: DatabaseThread,
    ) -> None:
        self.store = store
        self.settings = settings
        self.shared = shared
        self._database = database
        self._turn = asyncio.Lock()
        started = time.monotonic()
        # Read before loading: rows stored meanwhile are caught up (and skipped if seen).
        self._seen_up_to = store.last_article_id()
        self._prunes_read_at = utcnow()  # prunes before this are not in what is loaded
        self._prunes_checked = time.monotonic()
        self.near = NearDuplicateIndex.from_rows(
            store.signatures(), bands=settings.lsh_bands, rows_per_band=settings.lsh_rows
        )
        if self.near.skipped:
            self._resign(self.near.skipped)
        self.stories = StoryIndex(settings)
        self._add_story_members(0)
        log.info(
            "dedup.indexes_loaded",
            signatures=len(self.near),
            story_articles=len(self.stories),
            duration=round(time.monotonic() - started, 3),
        )

    def _add_story_members(self, after_id: int) -> None:
        window = timedelta(days=self.settings.story_window_days)
        for article in self.store.story_members(utcnow() - window, after_id):
            if article.id in self.stories:
                continue
            features = story_features(
                article.title, article.text, article.published, frozenset(article.topics)
            )
            self.stories.add(
                article.id,
                features,
                title=article.title,
                outlet=article.outlet,
                story_id=article.story_id,
            )

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Around one fold-and-save: alone among all processes, with indexes up to date.

        Waiting for another process's turn yields to the event loop, so this
        process's fetches and extractions go on meanwhile."""
        if not self.shared:
            yield
            return
        async with self._turn:
            lock = self.store.article_write_lock()
            try:
                # Another process holds it for a few milliseconds (one save): ask often.
                while not await self._database.run(lock.try_acquire):
                    await asyncio.sleep(LOCK_RETRY_SECONDS)
                await self._database.run(self._catch_up)
                yield
            finally:
                # Queued even if this task is cancelled meanwhile: the thread runs it.
                await self._database.run(lock.release)

    def _catch_up(self) -> None:
        """Index the originals other processes stored since this one last looked, and
        forget what another process pruned (at most once every `PRUNES_CHECK_SECONDS`)."""
        if time.monotonic() - self._prunes_checked >= PRUNES_CHECK_SECONDS:
            self._forget_others_prunes()
        after, last = self._seen_up_to, self.store.last_article_id()
        if last == after:
            return
        for article_id, data in self.store.signatures(after):
            if article_id not in self.near:
                try:
                    self.near.add(article_id, Signature.from_bytes(data))
                except SignatureError:
                    log.warning("dedup.unreadable_signature", article=article_id)
            self._seen_up_to = max(self._seen_up_to, article_id)
        self._add_story_members(after)
        self._seen_up_to = max(self._seen_up_to, last)

    @staticmethod
    def canonical_url(
        url: str, *, page_canonical: str | None = None, final_url: str | None = None
    ) -> str:
        """The article's identity URL; an unusable URL is kept as it came."""
        try:
            return canonicalise(url, page_canonical=page_canonical, final_url=final_url)
        except InvalidURLError:
            return url

    def fingerprint(
        self, article: Article, page_canonical: str | None, final_url: str
    ) -> Fingerprint:
        """The article's keys and signature: pure work, done before `exclusive`."""
        try:
            return fingerprint(
                article.url,
                article.text,
                page_canonical=page_canonical,
                final_url=final_url,
                settings=self.settings,
            )
        except InvalidURLError:
            return Fingerprint(article.canonical_url, None, None)

    def fold(self, article: Article, fp: Fingerprint) -> Folded:
        """Is ``article`` a copy of a stored one, and which story does it join?"""
        decision = decide(fp, self.store, self.near, self.settings)
        story = None
        topics = _matched_topics(article)
        if not decision.is_duplicate and topics:
            story = self.stories.decide(self._features(article, topics))
        return Folded(fp, decision, story)

    def remember(self, article_id: int, folded: Folded, article: Article) -> None:
        """Index a newly stored original so later copies and follow-ups find it."""
        self._seen_up_to = max(self._seen_up_to, article_id)
        if folded.decision.is_duplicate:
            return
        if folded.fingerprint.signature is not None and article_id not in self.near:
            self.near.add(article_id, folded.fingerprint.signature)
        topics = _matched_topics(article)
        if folded.story is not None and topics:
            self.stories.add(
                article_id,
                self._features(article, topics),
                title=article.title,
                outlet=article.outlet,
                story_id=folded.story.story_id,
            )

    def refold(
        self,
        article_id: int,
        article: Article,
        fp: Fingerprint,
        *,
        story_id: int | None,
        duplicate: bool,
    ) -> tuple[bytes | None, int | None]:
        """A stored article's text changed (its page arrived on a retry): index it again.

        Its id, duplicate link and story stay as they were, so nothing already mailed
        about it moves. An original's signature is replaced by the page's; an original
        that matches only now, and so had no story, starts or joins one. Returns the
        signature to store and the story id to set (None: leave it)."""
        if duplicate:
            return None, None
        self.near.remove(article_id)
        sig = fp.signature
        if sig is not None:
            self.near.add(article_id, sig)
        stored = sig.to_bytes() if sig is not None else None
        topics = _matched_topics(article)
        if story_id is not None or not topics or article_id in self.stories:
            return stored, None
        features = self._features(article, topics)
        decision = self.stories.decide(features)
        joined = decision.story_id if decision.story_id is not None else article_id
        self.stories.add(
            article_id, features, title=article.title, outlet=article.outlet, story_id=joined
        )
        return stored, joined

    def _forget_others_prunes(self) -> None:
        """The prune task runs in one process of a cluster; the others learn of it here.
        Prunes are read back with a margin for the clocks of other machines (forgetting
        twice is harmless)."""
        read_at = utcnow()
        self.forget(self.store.pruned_since(self._prunes_read_at - PRUNE_CLOCK_MARGIN))
        self._prunes_read_at = read_at
        self._prunes_checked = time.monotonic()

    def forget(self, pruned_ids: list[int], now: datetime | None = None) -> None:
        """Drop what the store pruned, and story members older than the window."""
        self.near.remove_many(pruned_ids)
        window = timedelta(days=self.settings.story_window_days)
        self.stories.prune((now or utcnow()) - window)

    def _resign(self, article_ids: tuple[int, ...]) -> None:
        """Signatures stored by another MinHash scheme: sign those articles again."""
        fresh = {i: signature(text) for i, text in self.store.texts(article_ids).items()}
        for article_id, sig in fresh.items():
            self.near.add(article_id, sig)
        self.store.set_signatures({i: sig.to_bytes() for i, sig in fresh.items()})

    @staticmethod
    def _features(article: Article, topics: frozenset[str]) -> StoryFeatures:
        return story_features(article.title, article.text, article.published or utcnow(), topics)


def _matched_topics(article: Article) -> frozenset[str]:
    return frozenset(m.topic_id for m in article.matches if m.matched)
