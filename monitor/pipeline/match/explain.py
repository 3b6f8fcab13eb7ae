"""Saying, in words, why a topic did not match, and showing a query with its lists spelled out."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from monitor.errors import TopicQueryError
from monitor.models import TermHit, TopicDefinition, TopicMatch
from monitor.pipeline.match import query as q
from monitor.pipeline.match.evaluate import (
    BOTH,
    TITLE,
    AllOf,
    AnyOf,
    Boosted,
    Clause,
    DocView,
    Leaf,
    Near,
    Slop,
    Within,
    Without,
)
from monitor.pipeline.match.terms import Occ

ShowOcc = Callable[[Occ], str]
MAX_LABEL = 60
_BARE = re.compile(r'[^\s()"~?@*]+\*?')


def failure(clause: Clause, view: DocView, show: ShowOcc, mask: int = BOTH) -> str:
    """The first clause that fails on ``view``, in words."""
    if isinstance(clause, Leaf):
        what = f"term of @{clause.list_name}" if clause.list_name else f"match for {clause.text}"
        return f"no {what}{_where(mask)}"
    if isinstance(clause, AllOf):
        for child in clause.children:
            if not view.outcome(child, mask).ok:
                return failure(child, view, show, mask)
    if isinstance(clause, AnyOf):
        return "none of " + ", ".join(label(c) for c in clause.children) + _where(mask)
    if isinstance(clause, Without):
        held = view.outcome(clause.child, mask)
        found = f": {show(held.occs[0])}" if held.occs else ""
        return f"excluded by NOT {label(clause.child)}{found}"
    if isinstance(clause, Within):
        return failure(clause.child, view, show, mask & clause.mask)
    if isinstance(clause, Boosted):
        return failure(clause.child, view, show, mask)
    if isinstance(clause, Near):
        for side in (clause.left, clause.right):
            if not view.outcome(side, mask).ok:
                return failure(side, view, show, mask)
        return (
            f"no {_near_label(clause.left)} within {clause.distance} words of "
            f"{label(clause.right)}{_where(mask)}"
        )
    if isinstance(clause, Slop):
        return f"the words of {clause.text} are not within {clause.distance} words of each other"
    return f"{label(clause)} does not hold"


def evidence_note(clause: Clause, view: DocView, mask: int = BOTH) -> str:
    """Where the evidence behind a held query's score stands, in words.

    The score of an ``AND`` is its weakest part's, so this follows the weakest
    part down and counts its places in the title, the lead and the rest of the body.
    """
    while True:
        if isinstance(clause, AllOf):
            scored = [
                (out.score, child)
                for child in clause.children
                if (out := view.outcome(child, mask)).ok and out.score is not None
            ]
            if not scored:
                break
            clause = min(scored, key=lambda item: item[0])[1]
        elif isinstance(clause, Within):
            mask &= clause.mask
            clause = clause.child
        else:
            break
    occs = view.outcome(clause, mask).occs
    lead_end = view.body.lead_end
    title = sum(1 for occ in occs if occ.field == 0)
    lead = sum(1 for occ in occs if occ.field == 1 and occ.first < lead_end)
    rest = len(occs) - title - lead
    where = ", ".join(
        f"{count} in the {name}"
        for count, name in ((title, "title"), (lead, "lead"), (rest, "body after the lead"))
        if count
    )
    lead_words = view.body.position(lead_end - 1) + 1 if lead_end else 0
    return (
        f"weakest part {label(clause)}: {where or 'nowhere'} "
        f"(a place counts 3 in the title, 2 in the lead — here the first "
        f"{lead_words:g} words — and 1 further down)"
    )


def excluded(exclude_text: str, occs: Sequence[Occ], show: ShowOcc) -> str:
    found = f" ({show(occs[0])})" if occs else ""
    return f"excluded by: {_shorten(exclude_text)}{found}"


def label(clause: Clause) -> str:
    if isinstance(clause, Leaf) and clause.list_name:
        return f"@{clause.list_name}"
    return _shorten(clause.text)


def _near_label(clause: Clause) -> str:
    if isinstance(clause, Leaf):
        return f"term of @{clause.list_name}" if clause.list_name else clause.text
    return f"match of {_shorten(clause.text)}"


def _where(mask: int) -> str:
    if mask == BOTH:
        return ""
    return " in the title" if mask == TITLE else " in the body"


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def expand_text(text: str, topic_id: str, term_lists: Mapping[str, Sequence[str]]) -> str:
    """``text`` with every ``@name`` replaced by its terms, ORed in parentheses."""
    references = sorted(_list_refs(q.parse_query(text, topic_id)), key=lambda r: r.start)
    pieces: list[str] = []
    last = 0
    for ref in references:
        entries = term_lists.get(ref.name)
        if entries is None:
            raise TopicQueryError(topic_id, f"unknown term list @{ref.name}", ref.start)
        pieces.append(text[last : ref.start])
        pieces.append("(" + " OR ".join(_quote(entry) for entry in entries) + ")")
        last = ref.end
    pieces.append(text[last:])
    return "".join(pieces)


def expand_query(definition: TopicDefinition, term_lists: Mapping[str, Sequence[str]]) -> str:
    """The topic's query with its term lists resolved, for people to read."""
    return expand_text(definition.query, definition.id, term_lists)


def _quote(entry: str) -> str:
    if _BARE.fullmatch(entry) and entry not in {"AND", "OR", "NOT"}:
        return entry
    return '"' + entry.replace('"', "") + '"'


def _list_refs(node: q.Node) -> Iterator[q.ListRef]:
    if isinstance(node, q.ListRef):
        yield node
    elif isinstance(node, q.Not | q.Scoped | q.Boost):
        yield from _list_refs(node.child)
    elif isinstance(node, q.Near):
        yield from _list_refs(node.left)
        yield from _list_refs(node.right)
    elif isinstance(node, q.And | q.Or):
        for child in node.children:
            yield from _list_refs(child)


def match_dict(result: TopicMatch, min_score: float) -> dict[str, Any]:
    """A `TopicMatch` as plain data, for JSON."""
    return {
        "id": result.topic_id,
        "matched": result.matched,
        "score": result.score,
        "min_score": min_score,
        "reason": result.reason,
        "hits": [_hit_dict(hit) for hit in result.hits],
    }


def _hit_dict(hit: TermHit) -> dict[str, Any]:
    return {
        "term": hit.term,
        "field": hit.field,
        "start": hit.start,
        "end": hit.end,
        "context": hit.context,
    }
