"""Near-duplicates: each kind of syndication edit, the index, and the layered decision."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from monitor.pipeline.dedup import (
    DedupDecision,
    NearDuplicateIndex,
    Signature,
    SignatureError,
    decide,
    fingerprint,
    signature,
)
from monitor.pipeline.dedup import bands as bands_module
from monitor.pipeline.dedup.evaluate import is_duplicate_pair
from monitor.settings import DedupSettings

DATA = Path(__file__).parent / "data"
PAIRS = [json.loads(line) for line in (DATA / "dedup-pairs.jsonl").read_text("utf-8").splitlines()]
BY_KIND: dict[str, list[dict[str, Any]]] = defaultdict(list)
for _pair in PAIRS:
    BY_KIND[_pair["kind"]].append(_pair)

SINGLE_EDITS = [
    "headline",
    "whitespace-case",
    "dateline",
    "byline",
    "related",
    "boilerplate",
    "trim",
    "reword",
    "trimhalf",
]


@pytest.mark.parametrize("kind", SINGLE_EDITS)
def test_every_copy_with_one_edit_is_folded(kind: str) -> None:
    missed = [p["id"] for p in BY_KIND[kind] if not is_duplicate_pair(p)]
    assert BY_KIND[kind] and missed == []


@pytest.mark.parametrize(
    "kind", sorted(k for k in BY_KIND if "+" in k and BY_KIND[k][0]["label"] == "duplicate")
)
def test_copies_with_several_edits_are_mostly_folded(kind: str) -> None:
    found = sum(is_duplicate_pair(p) for p in BY_KIND[kind])
    assert found >= 0.8 * len(BY_KIND[kind])


@pytest.mark.parametrize("kind", ["same-event", "same-topic", "template", "continuing-1"])
def test_different_articles_are_not_folded(kind: str) -> None:
    folded = [p["id"] for p in BY_KIND[kind] if is_duplicate_pair(p)]
    assert BY_KIND[kind] and folded == []


TEXT = BY_KIND["dateline"][0]["a"]["text"]
COPY = BY_KIND["dateline"][0]["b"]["text"]
OTHER = BY_KIND["same-topic"][0]["b"]["text"]


class Lookup:
    def __init__(self) -> None:
        self.urls: dict[str, int] = {}
        self.hashes: dict[str, int] = {}

    def by_canonical_url(self, url: str) -> int | None:
        return self.urls.get(url)

    def by_content_hash(self, content_hash: str) -> int | None:
        return self.hashes.get(content_hash)


@pytest.fixture
def stored() -> tuple[Lookup, NearDuplicateIndex]:
    """Article #123 stored: https://example.com/story with TEXT."""
    fp = fingerprint("https://www.example.com/story?utm_source=rss", TEXT)
    lookup, index = Lookup(), NearDuplicateIndex()
    lookup.urls[fp.canonical_url] = 123
    assert fp.content_hash is not None and fp.signature is not None
    lookup.hashes[fp.content_hash] = 123
    index.add(123, fp.signature)
    return lookup, index


def test_same_canonical_url(stored: tuple[Lookup, NearDuplicateIndex]) -> None:
    fp = fingerprint("http://m.example.com/story/amp?fbclid=1", OTHER)
    decision = decide(fp, *stored)
    assert decision == DedupDecision(
        "url", 123, 1.0, "same canonical URL https://example.com/story"
    )


def test_same_text_elsewhere(stored: tuple[Lookup, NearDuplicateIndex]) -> None:
    decision = decide(fingerprint("https://mirror.example.org/x", TEXT.upper()), *stored)
    assert (decision.kind, decision.original_id, decision.reason) == (
        "content",
        123,
        "same text as #123",
    )


def test_near_duplicate(stored: tuple[Lookup, NearDuplicateIndex]) -> None:
    decision = decide(fingerprint("https://other.example.net/copy", COPY), *stored)
    assert decision.kind == "near" and decision.original_id == 123
    assert decision.similarity is not None and decision.similarity > 0.8
    assert decision.reason.startswith("near-duplicate of #123 (similarity 0.")


def test_new_article(stored: tuple[Lookup, NearDuplicateIndex]) -> None:
    decision = decide(fingerprint("https://other.example.net/new", OTHER), *stored)
    assert decision == DedupDecision("new")
    assert not decision.is_duplicate


def test_short_texts_are_compared_by_url_only(stored: tuple[Lookup, NearDuplicateIndex]) -> None:
    fp = fingerprint("https://other.example.net/teaser", "Read more on our website.")
    assert fp.content_hash is None and fp.signature is None
    assert decide(fp, *stored).kind == "new"
    fp = fingerprint("https://example.com/story", "Read more on our website.")
    assert decide(fp, *stored).kind == "url"


def test_min_text_chars_is_a_setting() -> None:
    fp = fingerprint("https://a.example/x", "short text", settings=DedupSettings(min_text_chars=5))
    assert fp.signature is not None


# --- the index --------------------------------------------------------------


def sig(n: int) -> Signature:
    rng = np.random.default_rng(n)
    return Signature(rng.integers(0, 2**32 - 1, 128, dtype=np.uint32), 900)


def test_index_add_query_remove() -> None:
    index = NearDuplicateIndex()
    for n in range(50):
        index.add(n, sig(n))
    assert len(index) == 50 and 7 in index
    best = index.query(sig(7))
    assert best[0].article_id == 7 and best[0].similarity == 1.0
    assert index.remove(7) and 7 not in index and len(index) == 49
    assert all(c.article_id != 7 for c in index.query(sig(7)))
    assert not index.remove(7)


def test_adding_an_id_again_replaces_its_signature() -> None:
    index = NearDuplicateIndex()
    index.add(1, sig(1))
    index.add(1, sig(2))
    assert len(index) == 1
    assert index.query(sig(1)) == []
    assert index.query(sig(2))[0].article_id == 1


def test_candidates_best_first_then_oldest() -> None:
    index = NearDuplicateIndex()
    base = sig(0)
    close = base.values.copy()
    close[:20] += 1
    index.add(5, Signature(close, 900))
    index.add(9, base)
    index.add(3, base)
    assert [c.article_id for c in index.query(base)] == [3, 9, 5]
    assert index.query(base, limit=1)[0].article_id == 3
    assert [c.article_id for c in index.query(base, min_similarity=0.95)] == [3, 9]


def test_pending_entries_merge_into_the_sorted_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bands_module, "MERGE_EVERY", 16)
    index = NearDuplicateIndex()
    for n in range(100):
        index.add(n, sig(n))
    for n in range(100):
        assert index.query(sig(n))[0].article_id == n


def test_removing_many_reclaims_their_slots() -> None:
    index = NearDuplicateIndex()
    for n in range(100):
        index.add(n, sig(n))
    assert index.remove_many(range(0, 100, 2)) == 50
    assert index.remove_many([0, 1000]) == 0
    assert len(index) == 50 and index.nbytes() < 100 * (42 * 8 + 128 * 2 + 12)
    for n in range(100):
        found = [c.article_id for c in index.query(sig(n))]
        assert found == ([] if n % 2 == 0 else [n])
    index.add(7, sig(1007))
    assert index.query(sig(1007))[0].article_id == 7


def test_crowded_band_buckets_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A band key shared by more than MAX_BUCKET articles finds none of them by itself."""
    monkeypatch.setattr(bands_module, "MAX_BUCKET", 5)
    common = sig(0).values
    index = NearDuplicateIndex()
    for n in range(10):
        values = sig(n + 1).values.copy()
        values[:3] = common[:3]  # the same first band, nothing else
        index.add(n, Signature(values, 900))
    index.bulk_add(np.array([99], dtype=np.int64), sig(99).values[None, :], [900])
    assert index.query(sig(0)) == []
    assert index.query(sig(99))[0].article_id == 99


def test_rebuild_from_stored_bytes() -> None:
    rows = [(n, sig(n).to_bytes()) for n in range(200)]
    rows.append((900, b"garbage"))
    rows.append((901, Signature(sig(1).values, 900, scheme=99).to_bytes()))
    index = NearDuplicateIndex.from_rows(rows)
    assert len(index) == 200 and index.skipped == (900, 901)
    assert index.query(sig(150))[0].article_id == 150
    index.add(500, sig(500))
    assert index.query(sig(500))[0].article_id == 500


def test_index_refuses_signatures_it_cannot_compare() -> None:
    index = NearDuplicateIndex()
    with pytest.raises(SignatureError):
        index.add(1, Signature(sig(1).values, 900, scheme=99))
    with pytest.raises(SignatureError):
        index.query(Signature(sig(1).values[:64], 900))


def test_bands_must_fit_the_signature() -> None:
    with pytest.raises(ValueError):
        NearDuplicateIndex(bands=50, rows=3)


def test_empty_text_finds_nothing() -> None:
    index = NearDuplicateIndex()
    index.add(1, signature(""))
    assert index.query(signature("")) == []
