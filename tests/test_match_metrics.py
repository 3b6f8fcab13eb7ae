"""Precision and recall on labelled records, in each label shape."""

from __future__ import annotations

import pytest

from monitor.errors import LabelError
from monitor.models import Document, TopicDefinition
from monitor.pipeline.match import build_matcher
from monitor.pipeline.match.metrics import example_from_record, parse_label_map, tally

TOPICS = ["nk", "pact"]


def record(id: str, text: str, language: str = "en", **labels: object) -> dict[str, object]:
    return {"id": id, "title": "", "text": text, "language": language, **labels}


def test_label_shapes() -> None:
    by_field = example_from_record(record("a", "x", nk=True), TOPICS, {})
    assert by_field.labels == {"nk": True}  # no pact label: pact is not judged
    by_list = example_from_record({**record("b", "x"), "labels": ["pact"]}, TOPICS, {})
    assert by_list.labels == {"nk": False, "pact": True}
    renamed = example_from_record(
        record("c", "x", troops=True, treaty=False), TOPICS, {"troops": "nk", "treaty": "pact"}
    )
    assert renamed.labels == {"nk": True, "pact": False}
    assert renamed.document == Document("", "x", "en")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"title": "", "text": ""}, "'id'"),
        ({"id": "a", "title": 1, "text": ""}, "'title'"),
        ({"id": "a", "title": "", "text": "", "nk": "yes"}, "true or false"),
        ({"id": "a", "title": "", "text": "", "labels": "nk"}, "list of topic ids"),
    ],
)
def test_malformed_records(bad: dict[str, object], message: str) -> None:
    with pytest.raises(LabelError, match=message):
        example_from_record(bad, TOPICS, {})


def test_label_map_parsing() -> None:
    assert parse_label_map("troops=nk-troops, pact=nk-russia-pact") == {
        "troops": "nk-troops",
        "pact": "nk-russia-pact",
    }
    assert parse_label_map("") == {}
    with pytest.raises(LabelError, match="field=topic-id"):
        parse_label_map("troops")


def test_tally_counts_and_ratios_overall_and_by_language() -> None:
    matcher = build_matcher([TopicDefinition("nk", "pyongyang", min_score=0)], {})
    examples = [
        example_from_record(record(*row[:3], nk=row[3]), ["nk"], {})
        for row in [
            ("1", "Pyongyang", "en", True),  # TP
            ("2", "Pyongyang", "en", False),  # FP
            ("3", "Seoul", "en", True),  # FN
            ("4", "Seoul", "en", False),  # TN
            ("5", "Pyongyang", "ko", True),  # TP
        ]
    ]
    overall, english, korean = tally(examples, matcher.match, by_language=True)
    assert (overall.language, english.language, korean.language) == ("all", "en", "ko")
    assert (overall.true_positives, overall.false_positives, overall.false_negatives) == (2, 1, 1)
    assert overall.true_negatives == 1
    assert overall.precision == pytest.approx(2 / 3)
    assert overall.recall == pytest.approx(2 / 3)
    assert overall.f1 == pytest.approx(2 / 3)
    assert [m.example.id for m in overall.false_positive_misses] == ["2"]
    assert [m.example.id for m in overall.false_negative_misses] == ["3"]
    assert overall.false_negative_misses[0].match.reason == "no match for pyongyang"
    assert (korean.precision, korean.recall) == (1.0, 1.0)


def test_nothing_to_measure_counts_as_perfect() -> None:
    matcher = build_matcher([TopicDefinition("nk", "pyongyang", min_score=0)], {})
    (only,) = tally(
        [example_from_record(record("1", "Seoul", nk=False), ["nk"], {})], matcher.match
    )
    assert (only.precision, only.recall) == (1.0, 1.0)
