"""What the orchestrator needs of the dedup stage, and nothing of how it is kept.

`Folding` is the dedup stage as `run.py` sees it: canonical URLs, fingerprints, the
fold decision, and the indexes' memory of what was stored. `dedup_stage.Deduplicator`
implements it over the store; the orchestrator never imports it (`runtime.resources`
builds it), so a stage can be tested with another implementation.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from monitor.models import Article, DuplicateLink
from monitor.pipeline.dedup import DedupDecision, Fingerprint, StoryDecision


@dataclass(frozen=True, slots=True)
class Folded:
    """What the dedup stage decided for one article, ready for `Store.save_article`."""

    fingerprint: Fingerprint
    decision: DedupDecision
    story: StoryDecision | None

    @property
    def link(self) -> DuplicateLink:
        if not self.decision.is_duplicate:
            return DuplicateLink(None, None, None, None)
        d = self.decision
        return DuplicateLink(d.original_id, d.kind, d.reason, d.similarity)

    @property
    def content_hash(self) -> str | None:
        return self.fingerprint.content_hash

    @property
    def signature(self) -> bytes | None:
        sig = self.fingerprint.signature
        return sig.to_bytes() if sig is not None and not self.decision.is_duplicate else None


class Folding(Protocol):
    """The dedup stage of one process."""

    def canonical_url(
        self, url: str, *, page_canonical: str | None = None, final_url: str | None = None
    ) -> str:
        """The URL that identifies this article across feeds."""
        ...

    def fingerprint(
        self, article: Article, page_canonical: str | None, final_url: str
    ) -> Fingerprint:
        """The article's content hash and near-duplicate signature (pure, CPU only)."""
        ...

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        """Held around every fold-and-save: the indexes and the store agree inside it."""
        ...

    def fold(self, article: Article, fp: Fingerprint) -> Folded:
        """Copy of a stored article? Member of which story? (database thread)"""
        ...

    def remember(self, article_id: int, folded: Folded, article: Article) -> None:
        """Index an article just stored (database thread)."""
        ...

    def refold(
        self,
        article_id: int,
        article: Article,
        fp: Fingerprint,
        *,
        story_id: int | None,
        duplicate: bool,
    ) -> tuple[bytes | None, int | None]:
        """A stored article whose page arrived later: its new signature and story."""
        ...

    def forget(self, pruned_ids: list[int], now: datetime | None = None) -> None:
        """Drop pruned articles from the indexes (database thread)."""
        ...
