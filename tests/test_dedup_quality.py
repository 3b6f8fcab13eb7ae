"""Precision and recall of duplicate folding and story grouping on the labelled pairs.

The figures and the sweep that chose the defaults are in bench/results/dedup.md. The
floors here sit below the measured values (duplicates: precision 0.985, recall 0.971;
stories, same language: precision 0.94, recall 0.84 from 19 same-event pairs, where one
pair is five points of recall) so that MinHash noise from a changed seed does not fail
the build, while a real regression does.
"""

from __future__ import annotations

import json
from pathlib import Path

from monitor.pipeline.dedup.evaluate import evaluate_duplicates, evaluate_stories

DATA = Path(__file__).parent / "data"


def load(name: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in (DATA / name).read_text("utf-8").splitlines()]


def test_duplicate_decision_precision_and_recall() -> None:
    pairs = load("dedup-pairs.jsonl")
    assert len(pairs) >= 200
    scores = evaluate_duplicates(pairs)
    summary = f"{scores} missed={dict(scores.missed)} wrong={dict(scores.wrong)}"
    assert scores.precision >= 0.97, summary
    assert scores.recall >= 0.90, summary


def test_story_grouping_is_conservative() -> None:
    pairs = load("dedup-story-pairs.jsonl")
    same_language = evaluate_stories(pairs)
    assert same_language.precision >= 0.90, same_language
    assert same_language.recall >= 0.70, same_language
    across = evaluate_stories(pairs, cross_language=True)
    assert across.fp == 0, across  # never a wrong join across languages
