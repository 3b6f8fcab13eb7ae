"""The compiled clauses of a topic and how each decides on a document.

Every clause answers `Outcome`: whether it holds, how strong its evidence is (see
`score`), and which occurrences made it hold. ``NEAR`` and sloppy phrases answer
with the spans where their sides meet, so a score built on them counts places where
the lists meet, not every stray mention of either.

Clauses are immutable and keep no state between calls: one compiled topic can be
matched from many threads at once. What a clause answers on one document is kept in
that document's `DocView`, so an explanation or a second topic never asks twice.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from monitor.pipeline.match.score import evidence
from monitor.pipeline.match.terms import Occ
from monitor.pipeline.match.tokens import FieldText

TITLE, BODY, BOTH = 1, 2, 3  # field masks; Occ.field is 0 (title) or 1 (body)


class Outcome:
    """What a clause answers on one document.

    ``score`` is None for a clause that filters but brings no evidence (NOT).
    Otherwise it is worked out on first use: most clauses' scores are never asked
    for (an ``OR`` or ``NEAR`` scores the places it pools, not its children).
    """

    __slots__ = ("_score", "_view", "evidential", "occs", "ok")

    def __init__(
        self,
        ok: bool,
        occs: tuple[Occ, ...] = (),
        view: DocView | None = None,
        score: float | Callable[[], float] | None = None,
    ) -> None:
        self.ok = ok
        self.occs = occs
        self._view = view  # set: the score is the evidence of ``occs`` in this view
        self._score = score
        self.evidential = view is not None or score is not None

    @property
    def score(self) -> float | None:
        score = self._score
        if score is None and self._view is not None:
            score = self._score = self._view.evidence(self.occs)
        elif callable(score):
            score = self._score = score()
        return score


FAIL = Outcome(False, score=0.0)
FILTER = Outcome(True)  # holds, brings no evidence


class DocView:
    """A document prepared for matching: its fields and every term occurrence in them."""

    __slots__ = ("body", "fields", "found", "outcomes")

    def __init__(self, title: FieldText, body: FieldText, found: dict[str, list[Occ]]) -> None:
        self.fields = (title, body)
        self.body = body
        self.found = found
        self.outcomes: dict[tuple[object, int], Outcome] = {}

    def outcome(self, clause: Clause, mask: int) -> Outcome:
        """``clause`` evaluated on this document, once: explanations ask again, and
        topics sharing a term list share its leaf's answer."""
        key = (clause.keys if isinstance(clause, Leaf) else clause, mask)
        known = self.outcomes.get(key)
        if known is None:
            known = self.outcomes[key] = clause.evaluate(self, mask)
        return known

    def occurrences(self, keys: frozenset[str], mask: int) -> list[Occ]:
        found = self.found
        if len(keys) <= len(found):
            lists = [found[key] for key in keys if key in found]
        else:
            lists = [occs for key, occs in found.items() if key in keys]
        occs = [occ for chunk in lists for occ in chunk]
        if mask != BOTH:
            occs = [occ for occ in occs if (1 << occ.field) & mask]
        return occs

    def span(self, occ: Occ) -> tuple[float, float]:
        """Word positions of the first and last token of ``occ``."""
        positions = self.fields[occ.field].positions
        if positions is None:
            return float(occ.first), float(occ.last)
        return positions[occ.first], positions[occ.last]

    def evidence(self, occs: Iterable[Occ]) -> float:
        return evidence(occs, self.fields, self.span)


class Clause(Protocol):
    @property
    def text(self) -> str:
        """The clause as written in the query."""

    def evaluate(self, view: DocView, mask: int) -> Outcome: ...


@dataclass(frozen=True, slots=True, eq=False)
class Leaf:
    """A term, an exact phrase or a term list: any of its patterns."""

    keys: frozenset[str]
    text: str
    list_name: str | None = None

    def evaluate(self, view: DocView, mask: int) -> Outcome:
        occs = view.occurrences(self.keys, mask)
        return Outcome(True, tuple(occs), view) if occs else FAIL


@dataclass(frozen=True, slots=True, eq=False)
class AnyOf:
    children: tuple[Clause, ...]
    text: str

    def evaluate(self, view: DocView, mask: int) -> Outcome:
        held = [out for out in (view.outcome(c, mask) for c in self.children) if out.ok]
        if not held:
            return FAIL
        occs = tuple(occ for out in held for occ in out.occs)
        if not any(out.evidential for out in held):
            return Outcome(True, occs)
        return Outcome(True, occs, view)


@dataclass(frozen=True, slots=True, eq=False)
class AllOf:
    children: tuple[Clause, ...]
    text: str

    def evaluate(self, view: DocView, mask: int) -> Outcome:
        outs = []
        for child in self.children:
            out = view.outcome(child, mask)
            if not out.ok:
                return FAIL
            outs.append(out)
        occs = tuple(occ for out in outs for occ in out.occs)
        scored = [out for out in outs if out.evidential]
        if not scored:
            return Outcome(True, occs)
        return Outcome(True, occs, score=lambda: min(out.score or 0.0 for out in scored))


@dataclass(frozen=True, slots=True, eq=False)
class Without:
    child: Clause
    text: str

    def evaluate(self, view: DocView, mask: int) -> Outcome:
        out = view.outcome(self.child, mask)
        return FAIL if out.ok else FILTER


@dataclass(frozen=True, slots=True, eq=False)
class Within:
    """A clause restricted to one field (``title:`` or ``body:``)."""

    mask: int
    child: Clause
    text: str

    def evaluate(self, view: DocView, mask: int) -> Outcome:
        narrowed = mask & self.mask
        return view.outcome(self.child, narrowed) if narrowed else FAIL


@dataclass(frozen=True, slots=True, eq=False)
class Boosted:
    """``clause^factor``: its evidence counts ``factor`` times."""

    child: Clause
    factor: float
    text: str

    def evaluate(self, view: DocView, mask: int) -> Outcome:
        out = view.outcome(self.child, mask)
        if not out.ok or not out.evidential:
            return out
        occs = tuple(occ._replace(boost=occ.boost * self.factor) for occ in out.occs)
        return Outcome(True, occs, view)


@dataclass(frozen=True, slots=True, eq=False)
class Near:
    """``a NEAR/n b``: the evidence is the places where the two sides meet."""

    left: Clause
    right: Clause
    distance: int
    text: str

    def evaluate(self, view: DocView, mask: int) -> Outcome:
        left = view.outcome(self.left, mask)
        if not left.ok:
            return FAIL
        right = view.outcome(self.right, mask)
        if not right.ok:
            return FAIL
        meetings = meeting_places(view, left.occs, right.occs, self.distance)
        if not meetings:
            return FAIL
        return Outcome(True, tuple(meetings), view)


@dataclass(frozen=True, slots=True, eq=False)
class Slop:
    """``"a b c"~n``: every word of the phrase within ``n`` words of the others."""

    words: tuple[frozenset[str], ...]
    distance: int
    text: str

    def evaluate(self, view: DocView, mask: int) -> Outcome:
        per_word = [view.occurrences(keys, mask) for keys in self.words]
        if not all(per_word):
            return FAIL
        windows = _windows(view, per_word, self.distance)
        if not windows:
            return FAIL
        return Outcome(True, tuple(windows), view)


def gap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Words from the end of one span to the start of the other; 0 when they overlap."""
    if b[0] > a[1]:
        return b[0] - a[1]
    if a[0] > b[1]:
        return a[0] - b[1]
    return 0.0


def _meeting(a: Occ, b: Occ) -> Occ:
    return Occ(a.field, min(a.first, b.first), max(a.last, b.last), "", max(a.boost, b.boost))


def meeting_places(
    view: DocView, left: Sequence[Occ], right: Sequence[Occ], distance: int
) -> list[Occ]:
    """One span for each pair of occurrences, one from each side, within ``distance`` words."""
    meetings: dict[Occ, None] = {}
    for field in (0, 1):
        targets = sorted((view.span(o), o) for o in right if o.field == field)
        if not targets:
            continue
        starts = [span[0] for span, _ in targets]
        widest = max(span[1] - span[0] for span, _ in targets)
        for occ in left:
            if occ.field != field:
                continue
            span = view.span(occ)
            low = bisect_left(starts, span[0] - distance - widest)
            high = bisect_right(starts, span[1] + distance)
            for target_span, target in targets[low:high]:
                if gap(span, target_span) <= distance:
                    meetings[_meeting(occ, target)] = None
    return list(meetings)


def _windows(view: DocView, per_word: list[list[Occ]], distance: int) -> list[Occ]:
    """One span for each window of at most ``distance`` words that holds every word."""
    items = sorted(
        (occ.field, view.span(occ), word, occ) for word, occs in enumerate(per_word) for occ in occs
    )
    windows: dict[Occ, None] = {}
    for i, (field, span, _, first) in enumerate(items):
        inside: dict[int, Occ] = {}
        for other_field, other_span, word, other in items[i:]:
            if other_field != field or other_span[0] - span[0] > distance:
                break
            if other_span[1] - span[0] <= distance:
                inside.setdefault(word, other)
        if len(inside) == len(per_word):
            last = max(inside.values(), key=lambda occ: occ.last)
            boost = max(occ.boost for occ in inside.values())
            windows[Occ(field, first.first, last.last, "", boost)] = None
    return list(windows)
