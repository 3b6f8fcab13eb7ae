"""Story grouping: different articles about the same event, folded into one story.

A story's id is the id of its first article, so storage needs no table of its own: each
article keeps a ``story_id`` and the digest groups by it. The index holds the articles of
the last ``story_window_days`` and is rebuilt at start-up from them (their title, text,
publication time and topics), which is cheap: a few thousand articles.

The decision is conservative by construction. The score of two articles is a weighted
cosine of their names and numbers (0.7) and title words (0.3), each feature weighted by its
rarity among the recent articles (IDF), so that the vocabulary a whole topic shares
(Russia, North Korea, Kursk) counts for little and specifics (397 deputies, Shoigu, 6,000
sappers) count for much. An article joins the best-scoring story only when the score
reaches ``story_min_score``, the story has an article within the date window, and the two
do not carry disjoint topic sets.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from monitor.pipeline.dedup.features import StoryFeatures
from monitor.settings import DedupSettings

NAME_WEIGHT = 0.7
TITLE_WEIGHT = 0.3
MIN_DOCUMENTS = 50
"""IDF is computed as if the window held at least this many articles, so that a nearly
empty index (just after start-up) does not treat every word as rare."""


@dataclass(frozen=True, slots=True)
class Story:
    """One event as the digest shows it: first title, first-seen time, outlets."""

    story_id: int
    title: str
    first_seen: datetime
    last_seen: datetime
    outlets: tuple[str, ...] = ()
    size: int = 1


@dataclass(frozen=True, slots=True)
class StoryDecision:
    kind: Literal["join", "new"]
    story_id: int | None
    score: float
    reason: str


@dataclass(slots=True)
class _Member:
    story_id: int
    features: StoryFeatures
    terms: frozenset[str] = field(default_factory=frozenset)


class StoryIndex:
    """Recent articles by story, with the document frequencies that weight their features."""

    def __init__(self, settings: DedupSettings | None = None) -> None:
        self.settings = settings or DedupSettings()
        self.stories: dict[int, Story] = {}
        self._members: dict[int, _Member] = {}
        self._postings: defaultdict[str, set[int]] = defaultdict(set)
        self._df: Counter[str] = Counter()
        self._observed = 0  # articles counted in _df without being members

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._members

    def decide(self, features: StoryFeatures) -> StoryDecision:
        """Join the best story within the window and above the score, or start a new one."""
        best: tuple[float, int] | None = None
        for article_id in self._candidates(features):
            member = self._members[article_id]
            if not self._compatible(features, member.features):
                continue
            score = self.score(features, member.features)
            if best is None or score > best[0]:
                best = (score, article_id)
        if best is None or best[0] < self.settings.story_min_score:
            score = best[0] if best else 0.0
            return StoryDecision("new", None, score, f"no story scored {_min(self.settings)}")
        score, article_id = best
        member = self._members[article_id]
        story = self.stories[member.story_id]
        shared = self._top_shared(features, member.features)
        reason = f"same event as #{article_id} \u201c{story.title}\u201d ({score:.2f}: {shared})"
        return StoryDecision("join", member.story_id, score, reason)

    def add(
        self,
        article_id: int,
        features: StoryFeatures,
        *,
        title: str,
        outlet: str,
        story_id: int | None = None,
    ) -> Story:
        """Record an article in a story (``None``: it starts its own, with its id)."""
        sid = article_id if story_id is None else story_id
        self._members[article_id] = _Member(sid, features, features.all)
        for term in features.all:
            self._postings[term].add(article_id)
            self._df[term] += 1
        self.stories[sid] = self._grown(sid, features.published, title, outlet)
        return self.stories[sid]

    def prune(self, before: datetime) -> None:
        """Forget articles published before ``before`` (their stories close when empty)."""
        for article_id, member in list(self._members.items()):
            if member.features.published < before:
                self._forget(article_id, member)
        live = {m.story_id for m in self._members.values()}
        self.stories = {sid: s for sid, s in self.stories.items() if sid in live}

    def score(self, a: StoryFeatures, b: StoryFeatures) -> float:
        """Weighted cosine of names-and-numbers and of title words, in [0, 1]."""
        names = self._cosine(a.names, b.names)
        titles = self._cosine(a.title, b.title)
        return NAME_WEIGHT * names + TITLE_WEIGHT * titles

    def observe(self, many: Iterable[StoryFeatures]) -> None:
        """Count features of articles that are not indexed (e.g. a background corpus)."""
        for features in many:
            self._df.update(features.all)
            self._observed += 1

    # --- internals --------------------------------------------------------

    def _idf(self, term: str) -> float:
        documents = max(len(self._members) + self._observed, MIN_DOCUMENTS)
        return math.log((documents + 1) / (self._df[term] + 1)) + 1.0

    def _cosine(self, a: frozenset[str], b: frozenset[str]) -> float:
        shared = a & b
        if not shared:
            return 0.0
        dot = sum(self._idf(t) ** 2 for t in shared)
        norm_a = math.sqrt(sum(self._idf(t) ** 2 for t in a))
        norm_b = math.sqrt(sum(self._idf(t) ** 2 for t in b))
        return dot / (norm_a * norm_b)

    def _candidates(self, features: StoryFeatures) -> set[int]:
        found: set[int] = set()
        for term in features.names:
            found |= self._postings.get(term, set())
        return found

    def _compatible(self, new: StoryFeatures, old: StoryFeatures) -> bool:
        window = timedelta(days=self.settings.story_window_days)
        if abs(new.published - old.published) > window:
            return False
        return not (new.topics and old.topics and not new.topics & old.topics)

    def _top_shared(self, a: StoryFeatures, b: StoryFeatures, count: int = 4) -> str:
        shared = sorted(a.names & b.names, key=lambda t: (-self._idf(t), t))[:count]
        return "shared " + ", ".join(t.split(":", 1)[1] for t in shared) if shared else "title"

    def _grown(self, sid: int, published: datetime, title: str, outlet: str) -> Story:
        story = self.stories.get(sid)
        if story is None:
            return Story(sid, title, published, published, (outlet,) if outlet else ())
        outlets = story.outlets + ((outlet,) if outlet and outlet not in story.outlets else ())
        return replace(
            story,
            first_seen=min(story.first_seen, published),
            last_seen=max(story.last_seen, published),
            outlets=outlets,
            size=story.size + 1,
        )

    def _forget(self, article_id: int, member: _Member) -> None:
        del self._members[article_id]
        for term in member.terms:
            self._postings[term].discard(article_id)
            if not self._postings[term]:
                del self._postings[term]
            self._df[term] -= 1
            if self._df[term] <= 0:
                del self._df[term]


def _min(settings: DedupSettings) -> str:
    return f"{settings.story_min_score:.2f} or more within {settings.story_window_days:g} days"
