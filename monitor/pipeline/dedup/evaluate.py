"""Precision and recall of the duplicate and story decisions on labelled pairs.

The pairs are the JSON lines of ``tests/data/dedup-pairs.jsonl`` and
``tests/data/dedup-story-pairs.jsonl`` (see ``tests/data/make_dedup_pairs.py``), read by the
caller. Each pair is decided the way the pipeline decides: article ``a`` is stored first,
then ``b`` arrives and goes through :func:`~.decide.decide` (or the story index).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.pipeline.dedup.decide import DEFAULTS, decide, fingerprint
from monitor.pipeline.dedup.features import StoryFeatures, story_features
from monitor.pipeline.dedup.index import NearDuplicateIndex
from monitor.pipeline.dedup.stories import StoryIndex
from monitor.settings import DedupSettings

Pair = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Scores:
    """Counts of one binary decision against labels, and the kinds of pair it got wrong."""

    tp: int
    fp: int
    fn: int
    tn: int
    missed: Counter[str] = field(default_factory=Counter)  # kind → false negatives
    wrong: Counter[str] = field(default_factory=Counter)  # kind → false positives

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


class _DictLookup:
    def __init__(self, urls: dict[str, int], hashes: dict[str, int]) -> None:
        self.urls, self.hashes = urls, hashes

    def by_canonical_url(self, url: str) -> int | None:
        return self.urls.get(url)

    def by_content_hash(self, content_hash: str) -> int | None:
        return self.hashes.get(content_hash)


def is_duplicate_pair(pair: Pair, settings: DedupSettings = DEFAULTS) -> bool:
    """Store ``a``, then decide ``b``: is it folded into ``a``?"""
    first = fingerprint("https://first.example/a", pair["a"]["text"], settings=settings)
    second = fingerprint("https://second.example/b", pair["b"]["text"], settings=settings)
    index = NearDuplicateIndex(bands=settings.lsh_bands, rows=settings.lsh_rows)
    hashes = {first.content_hash: 1} if first.content_hash else {}
    if first.signature is not None:
        index.add(1, first.signature)
    lookup = _DictLookup({first.canonical_url: 1}, hashes)
    return decide(second, lookup, index, settings).is_duplicate


def evaluate_duplicates(pairs: Iterable[Pair], settings: DedupSettings = DEFAULTS) -> Scores:
    return _score((p, is_duplicate_pair(p, settings), p["label"] == "duplicate") for p in pairs)


def evaluate_stories(
    pairs: Iterable[Pair], settings: DedupSettings = DEFAULTS, *, cross_language: bool = False
) -> Scores:
    """Same-story decisions; pairs in two languages are counted only if ``cross_language``.

    Every distinct article of the pairs is counted as background for the IDF weights, as
    the recent articles of a running index would be.
    """
    pairs = list(pairs)
    corpus = {side["id"]: _features(side) for p in pairs for side in (p["a"], p["b"])}
    chosen = [p for p in pairs if cross_language == p["kind"].endswith("-xlang")]
    results = []
    for pair in chosen:
        index = StoryIndex(settings)
        index.observe(corpus.values())
        index.add(1, corpus[pair["a"]["id"]], title=pair["a"]["title"], outlet="a")
        joined = index.decide(corpus[pair["b"]["id"]]).kind == "join"
        results.append((pair, joined, pair["label"] == "same"))
    return _score(results)


def _features(side: Mapping[str, Any]) -> StoryFeatures:
    published = datetime.fromisoformat(side["published"])
    return story_features(side["title"], side["text"], published, tuple(side.get("topics", ())))


def _score(results: Iterable[tuple[Pair, bool, bool]]) -> Scores:
    counts: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    for pair, predicted, actual in results:
        counts[("t" if predicted == actual else "f") + ("p" if predicted else "n")] += 1
        if actual and not predicted:
            missed[pair["kind"]] += 1
        if predicted and not actual:
            wrong[pair["kind"]] += 1
    return Scores(counts["tp"], counts["fp"], counts["fn"], counts["tn"], missed, wrong)
