"""Matching documents against every topic at once.

`Matcher` folds and scans a document once for the terms of all topics together,
then lets each topic judge the occurrences found. A topic none of whose terms
occur is settled without evaluating its query (its answer on an empty document
is worked out when it is compiled).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import ConfigError, ConfigProblem
from monitor.models import Document, Field, TermHit, TopicDefinition, TopicMatch
from monitor.pipeline.match.compile import CompiledTopic, Expression, compile_topic_queries
from monitor.pipeline.match.evaluate import BOTH, DocView, Outcome
from monitor.pipeline.match.explain import evidence_note, excluded, failure
from monitor.pipeline.match.score import SEED_WEIGHT, SeedProfile
from monitor.pipeline.match.terms import Occ, TermIndex
from monitor.pipeline.match.tokens import tokenize

MAX_HITS = 30  # per topic and document; enough to explain, small enough to store
FIELD_NAMES: tuple[Field, Field] = ("title", "body")


@dataclass(frozen=True, slots=True, eq=False)
class _Prepared:
    """A compiled topic with what it needs per match, computed once."""

    topic: CompiledTopic
    written: Mapping[str, str]  # pattern key -> term as written
    empty: TopicMatch  # the answer for a document holding none of its terms


class Matcher:
    """Every topic compiled, ready to match documents; safe to share between threads."""

    def __init__(self, topics: Sequence[CompiledTopic]) -> None:
        self.topics: tuple[CompiledTopic, ...] = tuple(topics)
        self._index = TermIndex(p for topic in self.topics for p in topic.patterns)
        self._prepared = tuple(_prepare(topic) for topic in self.topics)
        self._topics_of: dict[str, list[int]] = {}  # pattern key -> topics that use it
        for number, topic in enumerate(self.topics):
            for pattern in topic.patterns:
                self._topics_of.setdefault(pattern.key, []).append(number)

    def match(self, doc: Document, *, explain: bool = False) -> tuple[TopicMatch, ...]:
        """One `TopicMatch` per topic, in topic order.

        A matched topic lists every place its terms occur (up to `MAX_HITS`). An
        unmatched one gives its reason, and with ``explain`` also the first place of
        each of its terms that occurs; without, no hits, which keeps matching fast
        when most documents concern no topic. Topics none of whose terms occur get
        the answer worked out for them at compile time.
        """
        view = self.view(doc)
        hits = _HitMaker(view, explain)
        touched: set[int] = set()
        for key in view.found:
            touched.update(self._topics_of.get(key, ()))
        return tuple(
            _evaluate(prepared, view, hits) if number in touched else prepared.empty
            for number, prepared in enumerate(self._prepared)
        )

    def view(self, doc: Document) -> DocView:
        """``doc`` folded, tokenized and scanned for the terms of every topic."""
        title, body = tokenize(doc.title), tokenize(doc.text, lead=True)
        found: dict[str, list[Occ]] = {}
        self._index.scan(title, 0, found)
        self._index.scan(body, 1, found)
        return DocView(title, body, found)


def build_matcher(
    topics: Sequence[TopicDefinition],
    term_lists: Mapping[str, Sequence[str]],
    source: Path | str = "topics",
) -> Matcher:
    """Compile every topic; raise one `ConfigError` listing every query that is wrong."""
    compiled: list[CompiledTopic] = []
    problems: list[ConfigProblem] = []
    for index, definition in enumerate(topics):
        parts, wrong = compile_topic_queries(definition, term_lists)
        problems += [
            ConfigProblem(str(source), f"topics[{index}].{part}", message)
            for part, message in wrong
        ]
        query = parts["query"]
        if query is not None:
            seeds = SeedProfile.from_texts(definition.seeds)
            compiled.append(CompiledTopic(definition, query, parts["exclude"], seeds))
    if problems:
        raise ConfigError(problems)
    return Matcher(compiled)


def _prepare(topic: CompiledTopic) -> _Prepared:
    written = {p.key: p.written for p in reversed(topic.patterns)}
    empty_view = DocView(tokenize(""), tokenize("", lead=True), {})
    provisional = _Prepared(topic, written, TopicMatch(topic.id, False, 0.0))
    return _Prepared(
        topic, written, _evaluate(provisional, empty_view, _HitMaker(empty_view, False))
    )


class _HitMaker:
    """Builds `TermHit` values for one document, once per place and term."""

    def __init__(self, view: DocView, explain: bool) -> None:
        self.view = view
        self.explain = explain
        self.made: dict[tuple[int, int, int, str], TermHit] = {}

    def hit(self, occ: Occ, term: str) -> TermHit:
        key = (occ.field, occ.first, occ.last, term)
        made = self.made.get(key)
        if made is None:
            field = self.view.fields[occ.field]
            start, end = field.span(occ.first, occ.last)
            context = field.context(occ.first, occ.last)
            made = TermHit(term, FIELD_NAMES[occ.field], start, end, context)
            self.made[key] = made
        return made

    def hits(
        self, expression: Expression, written: Mapping[str, str], every: bool
    ) -> tuple[TermHit, ...]:
        """Where the expression's positive terms occur, in text order, title first.

        ``every`` place (up to `MAX_HITS`) for a topic that matched; otherwise, when
        explaining, the first place of each term in each field: enough to explain.
        """
        found = self.view.found
        if not (every or self.explain):
            return ()
        keys = expression.positive_keys.intersection(found)
        if every:
            occs = sorted(occ for key in keys for occ in found[key])
        else:
            occs = sorted(occ for key in keys for occ in _first_per_field(found[key]))
        places: dict[tuple[int, int, int], Occ] = {}
        for occ in occs:
            places.setdefault((occ.field, occ.first, occ.last), occ)
            if len(places) >= MAX_HITS:
                break
        return tuple(self.hit(occ, written.get(occ.key, occ.key)) for occ in places.values())


def _first_per_field(occs: list[Occ]) -> list[Occ]:
    """The first occurrence in the title and the first in the body."""
    firsts: dict[int, Occ] = {}
    for occ in occs:
        firsts.setdefault(occ.field, occ)
        if len(firsts) == len(FIELD_NAMES):
            break
    return list(firsts.values())


def _evaluate(prepared: _Prepared, view: DocView, maker: _HitMaker) -> TopicMatch:
    topic = prepared.topic

    def show(occ: Occ) -> str:
        hit = maker.hit(occ, prepared.written.get(occ.key, occ.key))
        return f"{hit.term!r} in the {hit.field}: «{hit.context}»"

    outcome = view.outcome(topic.query.clause, BOTH)
    score = round(outcome.score or 0.0, 3)
    reason = None
    if not outcome.ok:
        reason = failure(topic.query.clause, view, show)
    elif topic.exclude is not None and (held := view.outcome(topic.exclude.clause, BOTH)).ok:
        reason = excluded(topic.exclude.text, held.occs, show)
    else:
        score = round(score + _seed_bonus(topic, view, outcome), 3)
        if score < topic.min_score:
            reason = f"score {score:g} below min_score {topic.min_score:g}"
    hits = maker.hits(topic.query, prepared.written, every=reason is None)
    note = evidence_note(topic.query.clause, view) if maker.explain and outcome.ok else None
    return TopicMatch(topic.id, reason is None, score, hits, reason, note)


def _seed_bonus(topic: CompiledTopic, view: DocView, outcome: Outcome) -> float:
    if topic.seeds is None or not outcome.occs:
        return 0.0
    return SEED_WEIGHT * topic.seeds.similarity(view.fields)
