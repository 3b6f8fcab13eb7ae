"""How strongly a document is about a topic, once its query holds.

The query decides *whether* the evidence is there; the score says how central it
is. Evidence is counted by *places*: occurrences a few words apart are one place
("North Korean troops"), and a ``NEAR`` clause's places are where its two sides
meet. A place weighs by where it stands: in the title (`TITLE_WEIGHT`), in the lead
(`LEAD_WEIGHT`) or further down (`BODY_WEIGHT`), times any ``^w`` boost of the
clause it came from. Repeated evidence adds with diminishing returns: the k-th
strongest place counts 1/k of its weight, so a topic named in five places of the
body (2.3) outweighs one mention (1.0) but not a headline (3.0).

Clauses combine like fuzzy logic: ``OR`` pools its places, ``AND`` is as strong
as its weakest clause, ``NOT`` only filters. So a single background sentence that
ties two lists together deep in an article scores 1, one sentence in the lead
that carries the whole query scores 2 (a feed summary or wire brief is all lead,
see `tokens`), and an article whose title and lead are about the topic scores 4
or more. A ``min_score`` of 2 therefore takes one explicit sentence in the title or
lead and leaves a background mention further down; the README's "Writing a topic"
gives the evidence for that choice on real coverage.

A topic with seed documents gains up to `SEED_WEIGHT` for the cosine similarity of
the document's content words to the seeds' words: a tie-breaker, since it can only
help documents in the seeds' language.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from monitor.pipeline.match.terms import Occ
from monitor.pipeline.match.tokens import FieldText, token_kind, tokenize

Span = tuple[float, float]

TITLE_WEIGHT = 3.0
LEAD_WEIGHT = 2.0
BODY_WEIGHT = 1.0
SEED_WEIGHT = 0.5
PLACE_WORDS = 4  # occurrences this close are one place
MIN_FEATURE = 4  # shorter words are mostly function words in alphabetic scripts
HANGUL_START = "\u1100"  # from Hangul on, scripts write content words in 2-3 characters


def occurrence_weight(occ: Occ, body: FieldText) -> float:
    if occ.field == 0:
        return TITLE_WEIGHT * occ.boost
    return (LEAD_WEIGHT if occ.first < body.lead_end else BODY_WEIGHT) * occ.boost


def evidence(
    occs: Iterable[Occ], fields: tuple[FieldText, FieldText], span: Callable[[Occ], Span]
) -> float:
    """Diminishing sum over the places where ``occs`` stand, strongest place first.

    A place is a sentence: the occurrences in one sentence are one piece of evidence,
    however many pairs of terms meet in it, so one background sentence weighs 1. In
    text without sentence marks a place also ends `PLACE_WORDS` past an occurrence,
    so a paragraph of mentions does not chain into a single place. A place weighs as
    its strongest occurrence.
    """
    body = fields[1]
    items = sorted((occ.field, *span(occ), occurrence_weight(occ, body), occ.first) for occ in occs)
    weights: list[float] = []
    field_now, reach, sentence_now = -1, 0.0, -1
    for field, start, end, weight, first in items:
        if field == field_now and start <= reach:
            weights[-1] = max(weights[-1], weight)
        else:
            sentence = fields[field].sentence(first)
            if field == field_now and sentence == sentence_now:
                weights[-1] = max(weights[-1], weight)
            else:
                weights.append(weight)
                field_now, sentence_now = field, sentence
        reach = max(reach, end + PLACE_WORDS) if field == field_now else end + PLACE_WORDS
    weights.sort(reverse=True)
    return sum(weight / rank for rank, weight in enumerate(weights, start=1))


def features(fields: Iterable[FieldText]) -> Counter[str]:
    """Content words: long words, Hangul words, and character pairs of unsegmented text."""
    counts: Counter[str] = Counter()
    for field in fields:
        counts.update(field.tokens)
        if field.positions is not None:
            counts.update(_character_pairs(field.tokens))
    return Counter({t: n for t, n in counts.items() if _is_feature(t)})


def _is_feature(token: str) -> bool:
    return len(token) >= MIN_FEATURE or (len(token) > 1 and token[0] >= HANGUL_START)


def _character_pairs(tokens: list[str]) -> Iterable[str]:
    previous = ""
    for token in tokens:
        is_char = len(token) == 1 and token_kind(token) == "chars"
        if is_char and previous:
            yield previous + token
        previous = token if is_char else ""


@dataclass(frozen=True, slots=True)
class SeedProfile:
    """The seed documents' words, weighted and normalised for a cosine."""

    weights: dict[str, float]

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> SeedProfile | None:
        counts = features(tokenize(text) for text in texts)
        if not counts:
            return None
        weights = {word: _weight(count) for word, count in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return cls({word: w / norm for word, w in weights.items()})

    def similarity(self, fields: Iterable[FieldText]) -> float:
        """The cosine of the document's content words (`features`) and the seeds'."""
        counts = features(fields)
        if not counts:
            return 0.0
        weight = _WEIGHTS.__getitem__
        norm = math.sqrt(sum(weight(count) ** 2 for count in counts.values()))
        seeds = self.weights
        shared = seeds.keys() & counts.keys()
        return sum(seeds[word] * weight(counts[word]) for word in shared) / norm


class _Weights(dict[int, float]):
    """``1 + log(count)``, the weight of a word seen ``count`` times, remembered."""

    def __missing__(self, count: int) -> float:
        value = self[count] = 1.0 + math.log(count)
        return value


def _weight(count: int) -> float:
    return _WEIGHTS[count]


_WEIGHTS = _Weights()
