"""The quality gate: the shipped topics on the labelled dev set.

Precision and recall must each reach 0.95 for every shipped topic, over the whole
set and within every language. On failure the per-language table and the ids of
the false positives and false negatives (with the matcher's reasons) are printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.config import load_topic_file
from monitor.errors import ConfigProblem
from monitor.pipeline.match import build_matcher
from monitor.pipeline.match.metrics import Tally, example_from_record, tally

REPO = Path(__file__).resolve().parent.parent
TOPICS = REPO / "config" / "topics.yaml"
DEVSET = REPO / "tests" / "data" / "topic-devset.jsonl"
LABELS = {"troops": "nk-troops", "pact": "nk-russia-pact"}
FLOOR = 0.95


@pytest.fixture(scope="module")
def tallies() -> list[Tally]:
    problems: list[ConfigProblem] = []
    topics, term_lists = load_topic_file(TOPICS, problems)
    assert not problems, problems
    assert {t.id for t in topics} >= set(LABELS.values())
    matcher = build_matcher(topics, term_lists, TOPICS)
    ids = [t.id for t in topics]
    with DEVSET.open(encoding="utf-8") as lines:
        examples = [example_from_record(json.loads(line), ids, LABELS) for line in lines]
    return tally(examples, matcher.match, by_language=True)


def report(tallies: list[Tally]) -> str:
    lines = [f"{'topic':<16} {'lang':<4} {'prec':>5} {'rec':>5}  false positives | false negatives"]
    for t in tallies:
        fps = " ".join(m.example.id for m in t.false_positive_misses)
        fns = " ".join(m.example.id for m in t.false_negative_misses)
        lines.append(
            f"{t.topic_id:<16} {t.language:<4} {t.precision:>5.2f} {t.recall:>5.2f}  {fps} | {fns}"
        )
    for t in tallies:
        if t.language == "all":
            for miss in t.misses:
                kind = "FP" if miss.match.matched else "FN"
                verdict = f"score {miss.match.score}: {miss.match.reason}"
                lines.append(f"{kind} {t.topic_id} {miss.example.id} {verdict}")
    return "\n".join(lines)


def test_every_language_of_the_dev_set_is_measured(tallies: list[Tally]) -> None:
    languages = {t.language for t in tallies}
    assert languages == {"all", "en", "de", "fr", "es", "ko", "ru", "uk", "ja"}
    assert {t.topic_id for t in tallies} == set(LABELS.values())


@pytest.mark.parametrize("topic_id", sorted(LABELS.values()))
def test_precision_and_recall_reach_the_floor(tallies: list[Tally], topic_id: str) -> None:
    below = [t for t in tallies if t.topic_id == topic_id and min(t.precision, t.recall) < FLOOR]
    if below:
        print(report(tallies))
    assert not below, f"{topic_id} below {FLOOR} in: {', '.join(t.language for t in below)}"
