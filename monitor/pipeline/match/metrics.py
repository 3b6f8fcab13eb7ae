"""Precision and recall of topics against labelled articles.

A labelled record is a JSON object with ``id``, ``title``, ``text``, an optional
``language``, and its labels in one of two shapes: a boolean field per topic id
(``"nk-troops": true``), or a ``labels`` list of the topic ids it is about. A label
map renames other boolean fields to topic ids (``troops`` → ``nk-troops``).

When there is nothing to measure, a figure counts as perfect: precision with no
article matched is 1, and recall with no article labelled is 1, so a language
without positives for a topic fails only through false positives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.errors import LabelError
from monitor.models import Document, TopicMatch

ALL_LANGUAGES = "all"


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    document: Document
    labels: Mapping[str, bool]  # topic id -> about it; topics not here are not judged


@dataclass(frozen=True, slots=True)
class Miss:
    """A false positive or false negative, with what the matcher said."""

    example: Example
    match: TopicMatch


@dataclass(slots=True)
class Tally:
    topic_id: str
    language: str
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    true_negatives: int = 0
    misses: list[Miss] = field(default_factory=list)

    @property
    def precision(self) -> float:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_positive_misses(self) -> list[Miss]:
        return [m for m in self.misses if m.match.matched]

    @property
    def false_negative_misses(self) -> list[Miss]:
        return [m for m in self.misses if not m.match.matched]

    def as_dict(self) -> dict[str, Any]:
        """The figures and the mistakes as plain data, for JSON."""
        return {
            "topic": self.topic_id,
            "language": self.language,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
            "true_negatives": self.true_negatives,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "errors": [
                {
                    "id": miss.example.id,
                    "kind": "false positive" if miss.match.matched else "false negative",
                    "title": miss.example.document.title,
                    "score": miss.match.score,
                    "reason": miss.match.reason,
                }
                for miss in self.misses
            ],
        }

    def add(self, example: Example, match: TopicMatch) -> None:
        expected = example.labels[self.topic_id]
        if match.matched and expected:
            self.true_positives += 1
        elif match.matched:
            self.false_positives += 1
            self.misses.append(Miss(example, match))
        elif expected:
            self.false_negatives += 1
            self.misses.append(Miss(example, match))
        else:
            self.true_negatives += 1


def parse_label_map(text: str) -> dict[str, str]:
    """``troops=nk-troops,pact=nk-russia-pact`` as a mapping."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, topic = item.partition("=")
        if not sep or not name.strip() or not topic.strip():
            raise LabelError(f"label map item {item!r} is not field=topic-id")
        mapping[name.strip()] = topic.strip()
    return mapping


def example_from_record(
    record: Mapping[str, Any], topic_ids: Sequence[str], label_map: Mapping[str, str]
) -> Example:
    """Read one labelled record; raise `LabelError` when it is malformed."""
    for name in ("id", "title", "text"):
        if not isinstance(record.get(name), str):
            raise LabelError(f"field {name!r} must be a string")
    language = record.get("language")
    document = Document(
        record["title"], record["text"], language if isinstance(language, str) else None
    )
    return Example(record["id"], document, _labels(record, topic_ids, label_map))


def _labels(
    record: Mapping[str, Any], topic_ids: Sequence[str], label_map: Mapping[str, str]
) -> dict[str, bool]:
    listed = record.get("labels")
    if listed is not None:
        if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
            raise LabelError("field 'labels' must be a list of topic ids")
        return {topic: topic in listed for topic in topic_ids}
    labels: dict[str, bool] = {}
    renamed = {topic: name for name, topic in label_map.items()}
    for topic in topic_ids:
        name = topic if topic in record else renamed.get(topic)
        if name is None or name not in record:
            continue
        if not isinstance(record[name], bool):
            raise LabelError(f"label {name!r} must be true or false")
        labels[topic] = record[name]
    return labels


def tally(
    examples: Iterable[Example],
    match: Callable[[Document], Sequence[TopicMatch]],
    by_language: bool = False,
) -> list[Tally]:
    """One tally per topic over all examples, then per topic and language if asked."""
    tallies: dict[tuple[str, str], Tally] = {}
    for example in examples:
        for result in match(example.document):
            if result.topic_id not in example.labels:
                continue
            languages = [ALL_LANGUAGES]
            if by_language:
                languages.append(example.document.language or "?")
            for language in languages:
                key = (result.topic_id, language)
                if key not in tallies:
                    tallies[key] = Tally(result.topic_id, language)
                tallies[key].add(example, result)
    return sorted(
        tallies.values(), key=lambda t: (t.topic_id, t.language != ALL_LANGUAGES, t.language)
    )
