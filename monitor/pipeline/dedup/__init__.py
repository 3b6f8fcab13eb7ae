"""Deduplication and story grouping: run after matching, before storage.

Pure functions and in-memory indexes; the storage lookups come in through
:class:`DedupLookup`. Per new article the orchestrator:

1. ``fp = fingerprint(url, text, page_canonical=…, final_url=…, settings=…)``
2. ``decision = decide(fp, lookup, near_index, settings)``
3. if ``decision.kind == "new"``: store it, ``near_index.add(article_id, fp.signature)``
   (when the signature is not ``None``), then
   ``story = story_index.decide(story_features(title, text, published, topics))`` and
   ``story_index.add(article_id, features, title=…, outlet=…, story_id=story.story_id)``;
   otherwise store it with ``duplicate_of = decision.original_id`` and the reason.

Per article, storage keeps: ``canonical_url`` (text, indexed), ``content_hash`` (32 hex
characters, indexed, nullable), ``signature`` (``Signature.to_bytes()``, 520 bytes,
nullable), ``duplicate_of`` (id, nullable), ``duplicate_kind``, ``duplicate_similarity``,
``duplicate_reason``, and ``story_id`` (id of the story's first article).
"""

from monitor.errors import SignatureError
from monitor.pipeline.dedup.decide import (
    DedupDecision,
    DedupLookup,
    Fingerprint,
    decide,
    fingerprint,
    near_match,
)
from monitor.pipeline.dedup.features import StoryFeatures, story_features
from monitor.pipeline.dedup.index import Candidate, NearDuplicateIndex
from monitor.pipeline.dedup.minhash import Signature, signature
from monitor.pipeline.dedup.stories import Story, StoryDecision, StoryIndex
from monitor.pipeline.dedup.text import content_hash, normalise
from monitor.pipeline.dedup.urls import canonical_url, same_site

__all__ = [
    "Candidate",
    "DedupDecision",
    "DedupLookup",
    "Fingerprint",
    "NearDuplicateIndex",
    "Signature",
    "SignatureError",
    "Story",
    "StoryDecision",
    "StoryFeatures",
    "StoryIndex",
    "canonical_url",
    "content_hash",
    "decide",
    "fingerprint",
    "near_match",
    "normalise",
    "same_site",
    "signature",
    "story_features",
]
