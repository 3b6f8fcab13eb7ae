"""From a topic as written to clauses ready to match: term lists resolved, terms compiled."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.errors import SourceError, TermError, TopicQueryError
from monitor.models import TopicDefinition
from monitor.pipeline.match import cldr
from monitor.pipeline.match import query as q
from monitor.pipeline.match.evaluate import (
    BODY,
    TITLE,
    AllOf,
    AnyOf,
    Boosted,
    Clause,
    Leaf,
    Near,
    Slop,
    Within,
    Without,
)
from monitor.pipeline.match.score import SeedProfile
from monitor.pipeline.match.terms import Pattern, compile_term

TermLists = Mapping[str, Sequence[str]]
_QUOTED_LIST = re.compile(r"@[A-Za-z_]")


@dataclass(frozen=True, slots=True, eq=False)
class Expression:
    """One compiled query (a topic's ``query`` or its ``exclude``)."""

    text: str
    clause: Clause
    patterns: tuple[Pattern, ...]
    positive_keys: frozenset[str]  # keys of terms that are not under NOT
    keys: frozenset[str]


@dataclass(frozen=True, slots=True, eq=False)
class CompiledTopic:
    """A topic ready to match: compiled once, used from any number of threads."""

    definition: TopicDefinition
    query: Expression
    exclude: Expression | None
    seeds: SeedProfile | None

    @property
    def id(self) -> str:
        return self.definition.id

    @property
    def min_score(self) -> float:
        return self.definition.min_score

    @property
    def patterns(self) -> tuple[Pattern, ...]:
        extra = self.exclude.patterns if self.exclude is not None else ()
        return self.query.patterns + extra


def compile_topic(definition: TopicDefinition, term_lists: TermLists) -> CompiledTopic:
    """Compile a topic's query and exclusion; raise `TopicQueryError` on the first problem."""
    query = compile_expression(definition.query, definition.id, term_lists)
    exclude = None
    if definition.exclude is not None and definition.exclude.strip():
        exclude = compile_expression(definition.exclude, definition.id, term_lists)
    return CompiledTopic(definition, query, exclude, SeedProfile.from_texts(definition.seeds))


def compile_expression(text: str, topic_id: str, term_lists: TermLists) -> Expression:
    """Parse and compile one query; raise `TopicQueryError`."""
    compiler = _Compiler(text, topic_id, term_lists)
    clause = compiler.clause(
        q.parse_query(text, topic_id), negated=False, in_near=False, field=None
    )
    patterns = tuple(compiler.patterns.values())
    return Expression(
        text, clause, patterns, frozenset(compiler.positive), frozenset(compiler.patterns)
    )


QueryParts = dict[str, Expression | None]


def compile_topic_queries(
    definition: TopicDefinition, term_lists: TermLists
) -> tuple[QueryParts, list[tuple[str, str]]]:
    """A topic's ``query`` and ``exclude`` compiled (None where absent or wrong), and
    what is wrong with them: (part, message showing where in the query)."""
    parts: QueryParts = {"query": None, "exclude": None}
    problems: list[tuple[str, str]] = []
    for part in parts:
        text = definition.query if part == "query" else definition.exclude
        if text is None or (part == "exclude" and not text.strip()):
            continue
        try:
            parts[part] = compile_expression(text, definition.id, term_lists)
        except TopicQueryError as exc:
            problems.append((part, describe_query_error(exc, text)))
    return parts, problems


def describe_query_error(error: TopicQueryError, text: str) -> str:
    """The error with the query around its position, so the reader sees where."""
    if error.position is None:
        return error.message
    at = error.position
    before = " ".join(text[max(0, at - 30) : at].split())
    after = " ".join(text[at : at + 30].split())
    return f"{error.message} at position {at}: «{before} ⟨here⟩ {after}»"


class _Compiler:
    def __init__(self, text: str, topic_id: str, term_lists: TermLists) -> None:
        self.text = text
        self.topic_id = topic_id
        self.term_lists = term_lists
        self.patterns: dict[str, Pattern] = {}
        self.positive: set[str] = set()

    def fail(self, message: str, position: int) -> TopicQueryError:
        return TopicQueryError(self.topic_id, message, position)

    def clause(self, node: q.Node, *, negated: bool, in_near: bool, field: str | None) -> Clause:
        written = self.text[node.start : node.end]
        if isinstance(node, q.Term | q.Phrase | q.ListRef):
            return self.leaf(node, written, negated)
        if isinstance(node, q.Not):
            if in_near:
                raise self.fail("NOT cannot be inside a NEAR operand; apply it outside", node.start)
            return Without(
                self.clause(node.child, negated=True, in_near=False, field=field), written
            )
        if isinstance(node, q.Scoped):
            if field is not None and field != node.field:
                raise self.fail(f"{node.field}: inside {field}: can never match", node.start)
            child = self.clause(node.child, negated=negated, in_near=in_near, field=node.field)
            return Within(TITLE if node.field == "title" else BODY, child, written)
        if isinstance(node, q.Boost):
            child = self.clause(node.child, negated=negated, in_near=in_near, field=field)
            return Boosted(child, node.factor, written)
        if isinstance(node, q.Near):
            left = self.clause(node.left, negated=negated, in_near=True, field=field)
            right = self.clause(node.right, negated=negated, in_near=True, field=field)
            return Near(left, right, node.distance, written)
        children = tuple(
            self.clause(child, negated=negated, in_near=in_near, field=field)
            for child in node.children
        )
        return AllOf(children, written) if isinstance(node, q.And) else AnyOf(children, written)

    def leaf(self, node: q.Term | q.Phrase | q.ListRef, written: str, negated: bool) -> Clause:
        if isinstance(node, q.ListRef):
            patterns = self.list_patterns(node)
            return self.register(patterns, written, negated, list_name=node.name)
        if isinstance(node, q.Phrase):
            quoted = _QUOTED_LIST.search(node.text)
            if quoted is not None:
                raise self.fail(
                    "a term list cannot be quoted; write @name outside the quotes",
                    node.start + 1 + quoted.start(),
                )
            if node.slop is not None and len(node.text.split()) > 1:
                return self.slop(node, written, negated)
            return self.register([self.term(node.text, node.start + 1)], written, negated)
        return self.register([self.term(node.text, node.start)], written, negated)

    def slop(self, node: q.Phrase, written: str, negated: bool) -> Clause:
        assert node.slop is not None
        words: list[frozenset[str]] = []
        for chunk in re.finditer(r"\S+", node.text):
            pattern = self.term(chunk.group(), node.start + 1 + chunk.start())
            words.append(frozenset(self.register([pattern], written, negated).keys))
        return Slop(tuple(words), node.slop, written)

    def term(self, text: str, position: int) -> Pattern:
        try:
            return compile_term(text)
        except TermError as exc:
            raise self.fail(f"in term {text!r}: {exc.message}", position + exc.offset) from exc

    def list_patterns(self, node: q.ListRef) -> list[Pattern]:
        entries = self.term_lists.get(node.name)
        if entries is None:
            known = ", ".join(f"@{name}" for name in sorted(self.term_lists)[:12]) or "none"
            close = difflib.get_close_matches(node.name, list(self.term_lists), n=1)
            hint = f"did you mean @{close[0]}? " if close else ""
            raise self.fail(f"unknown term list @{node.name} ({hint}defined: {known})", node.start)
        patterns: list[Pattern] = []
        for entry in entries:
            if cldr.is_source(entry):
                try:
                    patterns.extend(map(compile_term, cldr.expand_entry(entry)))
                except SourceError as exc:
                    raise self.fail(f"term list @{node.name}: {exc}", node.start) from exc
                continue
            try:
                patterns.append(compile_term(entry))
            except TermError as exc:
                raise self.fail(
                    f"term list @{node.name}, entry {entry!r}: {exc.message}", node.start
                ) from exc
        return patterns

    def register(
        self, patterns: list[Pattern], written: str, negated: bool, list_name: str | None = None
    ) -> Leaf:
        for pattern in patterns:
            self.patterns.setdefault(pattern.key, pattern)
            if not negated:
                self.positive.add(pattern.key)
        return Leaf(frozenset(p.key for p in patterns), written, list_name)
