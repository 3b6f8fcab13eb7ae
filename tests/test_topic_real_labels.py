"""The real-coverage labels (bench/data/topic-real-labels.jsonl) stay usable: every row
well formed and split by its URL, no URL twice, none of the articles reserved for
outside evaluation, and enough languages and positives to measure per language.
The texts themselves are not in the repository; `bench/eval_topics.py` scores them."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from eval_topics import LABELS, SPLITS, _url_key, split_of  # noqa: E402

EXCLUDE = REPO.parent / "shared" / "data" / "eval-exclude-urls.txt"
KINDS = {"positive", "hard-negative", "easy-negative"}


def rows() -> list[dict[str, object]]:
    lines = LABELS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_every_row_is_well_formed_and_split_by_its_url() -> None:
    for row in rows():
        assert isinstance(row["troops"], bool) and isinstance(row["pact"], bool), row["id"]
        assert row["kind"] in KINDS, row["id"]
        assert (row["kind"] == "positive") == (row["troops"] or row["pact"]), row["id"]
        later = SPLITS[2:]  # gathered after a report: not split by URL
        assert row["split"] in (*later, split_of(str(row["url"]))), row["id"]
        assert str(row["url"]).startswith(("http://", "https://")), row["id"]
        assert row["query"] and row["note"], row["id"]


def test_no_url_twice_and_none_reserved_for_outside_evaluation() -> None:
    keys = [_url_key(str(row["url"])) for row in rows()]
    assert len(keys) == len(set(keys))
    reserved = {
        _url_key(line)
        for line in EXCLUDE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert reserved, f"{EXCLUDE} lists no URL"
    assert not reserved & set(keys)


def test_the_set_is_large_and_wide_enough_to_measure() -> None:
    labelled = rows()
    languages = Counter(str(row["language"]) for row in labelled)
    assert len(labelled) >= 400
    assert len(languages) >= 30
    positives = sum(1 for row in labelled if row["troops"] or row["pact"])
    assert 0.3 <= positives / len(labelled) <= 0.7
    assert {"tune", "test"} <= {row["split"] for row in labelled} <= set(SPLITS)
