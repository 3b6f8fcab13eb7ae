"""Is a new article one already stored? Layered, each layer saying why.

The orchestrator computes a :class:`Fingerprint` for the article, asks :func:`decide` with
its storage behind a :class:`DedupLookup`, stores the article with the decision, and — only
for ``kind == "new"`` — adds the signature to the :class:`NearDuplicateIndex`, so that every
copy points at the first-seen original rather than at another copy.

Layers, first match wins:

1. ``url``: the same canonical URL (tracking parameters, AMP and mobile variants, the
   page's own canonical link and redirects folded; see :mod:`.urls`).
2. ``content``: the same normalised text under another URL.
3. ``near``: a syndicated copy with another headline, dateline, byline, boilerplate, a few
   edited sentences or the last paragraphs cut (MinHash over character shingles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from monitor.pipeline.dedup.index import Candidate, NearDuplicateIndex
from monitor.pipeline.dedup.minhash import Signature, signature
from monitor.pipeline.dedup.text import content_hash, normalise
from monitor.pipeline.dedup.urls import canonical_url
from monitor.settings import DedupSettings

Kind = Literal["new", "url", "content", "near"]
DEFAULTS = DedupSettings()


class DedupLookup(Protocol):
    """Storage lookups, each returning the id of the original article (not of a copy)."""

    def by_canonical_url(self, url: str) -> int | None: ...

    def by_content_hash(self, content_hash: str) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What storage keeps per article to recognise its copies later.

    ``content_hash`` and ``signature`` are ``None`` for texts too short to compare.
    """

    canonical_url: str
    content_hash: str | None
    signature: Signature | None


@dataclass(frozen=True, slots=True)
class DedupDecision:
    """The verdict on one article, with the reason in words a reader understands."""

    kind: Kind
    original_id: int | None = None
    similarity: float | None = None
    reason: str = "new article"

    @property
    def is_duplicate(self) -> bool:
        return self.kind != "new"


def fingerprint(
    url: str,
    text: str,
    *,
    page_canonical: str | None = None,
    final_url: str | None = None,
    settings: DedupSettings = DEFAULTS,
) -> Fingerprint:
    """Canonical URL, content hash and MinHash signature of one article.

    Raises :class:`~monitor.errors.InvalidURLError` when ``url`` or ``final_url`` is unusable.
    """
    key = canonical_url(url, page_canonical=page_canonical, final_url=final_url)
    if len(normalise(text)) < settings.min_text_chars:
        return Fingerprint(key, None, None)
    return Fingerprint(key, content_hash(text), signature(text))


def decide(
    fp: Fingerprint,
    lookup: DedupLookup,
    index: NearDuplicateIndex,
    settings: DedupSettings = DEFAULTS,
) -> DedupDecision:
    """Which layer, if any, recognises the article as one already stored."""
    same_url = lookup.by_canonical_url(fp.canonical_url)
    if same_url is not None:
        return DedupDecision("url", same_url, 1.0, f"same canonical URL {fp.canonical_url}")
    if fp.content_hash is not None:
        same_text = lookup.by_content_hash(fp.content_hash)
        if same_text is not None:
            return DedupDecision("content", same_text, 1.0, f"same text as #{same_text}")
    if fp.signature is not None:
        match = near_match(fp.signature, index, settings)
        if match is not None:
            return DedupDecision("near", match.article_id, match.similarity, _near_reason(match))
    return DedupDecision("new")


def near_match(
    sig: Signature, index: NearDuplicateIndex, settings: DedupSettings = DEFAULTS
) -> Candidate | None:
    """The best stored article that ``sig`` copies, under the thresholds of ``settings``."""
    floor = min(settings.near_similarity, settings.containment_floor)
    for candidate in index.query(sig, min_similarity=floor):
        if is_copy(candidate, settings):
            return candidate
    return None


def is_copy(candidate: Candidate, settings: DedupSettings = DEFAULTS) -> bool:
    """A whole-text match, or the shorter text (a cut copy) nearly all inside the longer."""
    if candidate.similarity >= settings.near_similarity:
        return True
    return (
        candidate.similarity >= settings.containment_floor
        and candidate.containment >= settings.near_containment
    )


def _near_reason(match: Candidate) -> str:
    reason = f"near-duplicate of #{match.article_id} (similarity {match.similarity:.2f}"
    if match.containment > match.similarity + 0.2:
        reason += f"; {match.containment:.0%} of the shorter text is in the other"
    return reason + ")"
