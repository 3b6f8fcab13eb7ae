"""What goes in a digest, and in which order: pure functions of the stored items.

Items (one per matched article and topic) are grouped by topic, then by story; each
article appears once, under the topic it matched best. Stories are ranked by their
best score, then by recency; past ``max_stories`` the rest waits for the next digest.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.models import StoredItem
from monitor.text import clean_line, clean_text

SNIPPET_CHARS = 220
TITLE_CHARS = 300
ALSO_IN_MAX = 8


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    hit: bool


@dataclass(frozen=True, slots=True)
class StoryEntry:
    """One article as the mail shows it; untrusted strings already cleaned and capped."""

    article_id: int
    title: str
    url: str | None  # None: not an http(s) link, shown as text only
    outlet: str
    when: datetime
    score: float
    terms: tuple[str, ...]
    snippet: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Story:
    lead: StoryEntry
    others: tuple[StoryEntry, ...]
    also_in: tuple[str, ...]
    more_outlets: int  # beyond those named in ``also_in``

    @property
    def terms(self) -> tuple[str, ...]:
        terms = [t for entry in (self.lead, *self.others) for t in entry.terms]
        return tuple(dict.fromkeys(terms))


@dataclass(frozen=True, slots=True)
class TopicSection:
    topic_id: str
    name: str
    stories: tuple[Story, ...]


@dataclass(frozen=True, slots=True)
class Selection:
    sections: tuple[TopicSection, ...]
    items: tuple[tuple[int, str], ...]  # (article id, topic id) of every article shown
    held_back: int  # stories left for the next digest

    @property
    def story_count(self) -> int:
        return sum(len(section.stories) for section in self.sections)


def select_stories(
    items: Sequence[StoredItem],
    topic_order: Sequence[str],
    topic_names: Mapping[str, str],
    copies: Mapping[int, Sequence[str]],
    max_stories: int,
) -> Selection:
    """Group ``items`` by topic and story, rank them, keep the best ``max_stories``."""
    best = _best_topic_per_article(items, topic_order)
    groups: dict[tuple[str, int], list[StoredItem]] = {}
    for item in best:
        groups.setdefault((item.topic_id, item.story_id), []).append(item)
    ranked = sorted(groups.values(), key=_story_rank)
    kept, held_back = ranked[:max_stories], len(ranked) - min(len(ranked), max_stories)
    sections = []
    for topic in topic_order:
        stories = [_story(g, copies) for g in kept if g[0].topic_id == topic]
        if stories:
            sections.append(TopicSection(topic, topic_names.get(topic, topic), tuple(stories)))
    shown = tuple((i.article_id, i.topic_id) for group in kept for i in group)
    return Selection(tuple(sections), shown, held_back)


def _best_topic_per_article(
    items: Sequence[StoredItem], topic_order: Sequence[str]
) -> list[StoredItem]:
    order = {topic: index for index, topic in enumerate(topic_order)}
    best: dict[int, StoredItem] = {}
    for item in items:
        current = best.get(item.article_id)
        if current is None or (-item.score, order.get(item.topic_id, 99)) < (
            -current.score,
            order.get(current.topic_id, 99),
        ):
            best[item.article_id] = item
    return list(best.values())


def _when(item: StoredItem) -> datetime:
    return item.published or item.fetched_at


def _story_rank(group: Sequence[StoredItem]) -> tuple[float, float, int]:
    newest = max(_when(i) for i in group)
    return (-max(i.score for i in group), -newest.timestamp(), group[0].story_id)


def _story(group: Sequence[StoredItem], copies: Mapping[int, Sequence[str]]) -> Story:
    members = sorted(group, key=lambda i: (-i.score, _when(i).timestamp(), i.article_id))
    lead, others = members[0], members[1:]
    outlets = [m.outlet for m in others]
    outlets += [outlet for m in members for outlet in copies.get(m.article_id, [])]
    cleaned = [clean_line(o, 80) for o in outlets]
    named = [o for o in dict.fromkeys(cleaned) if o and o != clean_line(lead.outlet, 80)]
    return Story(
        lead=entry(lead),
        others=tuple(entry(o) for o in others[:5]),
        also_in=tuple(named[:ALSO_IN_MAX]),
        more_outlets=max(len(named) - ALSO_IN_MAX, 0),
    )


def entry(item: StoredItem) -> StoryEntry:
    return StoryEntry(
        article_id=item.article_id,
        title=clean_line(item.title, TITLE_CHARS) or "(untitled)",
        url=safe_url(item.url),
        outlet=clean_line(item.outlet, 120),
        when=_when(item),
        score=item.score,
        terms=tuple(clean_line(t, 80) for t in item.terms[:12]),
        snippet=snippet(item.text or item.title, item.terms),
    )


def safe_url(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL without spaces or controls, else None."""
    if not url or len(url) > 2048:
        return None
    if not re.match(r"^https?://[^\s/?#]+", url, re.IGNORECASE):
        return None
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        return None
    return url


def term_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    """One regex finding any of the query terms (``*`` a word ending, quotes dropped)."""
    parts = []
    for term in sorted({t.strip('"').strip() for t in terms if t.strip()}, key=len, reverse=True):
        words = [re.escape(w).replace(r"\*", r"\w*") for w in term.split() if w != "*"]
        if not words:
            continue
        body = r"\W+".join(words)
        parts.append(body if _is_cjk(term[0]) else rf"(?<!\w){body}")
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def _is_cjk(char: str) -> bool:
    name = unicodedata.name(char, "")
    return name.startswith(("CJK", "HANGUL", "HIRAGANA", "KATAKANA"))


def snippet(text: str, terms: Sequence[str], width: int = SNIPPET_CHARS) -> tuple[Segment, ...]:
    """About two lines of ``text`` around the first matched term, terms marked as hits."""
    flat = " ".join(clean_text(text, 4000).split())
    pattern = term_pattern(terms)
    first = pattern.search(flat) if pattern else None
    start = 0
    if first and first.start() > width // 3:
        start = flat.rfind(" ", 0, first.start() - width // 4) + 1
    end = start + width
    if end < len(flat):
        cut = flat.rfind(" ", start + width // 2, end)
        end = cut if cut > 0 else end
    window = flat[start:end]
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(flat) else ""
    return _segments(prefix + window + suffix, pattern)


def _segments(text: str, pattern: re.Pattern[str] | None) -> tuple[Segment, ...]:
    if pattern is None:
        return (Segment(text, False),) if text else ()
    out, position = [], 0
    for found in pattern.finditer(text):
        if found.start() == found.end():
            continue
        if found.start() > position:
            out.append(Segment(text[position : found.start()], False))
        out.append(Segment(found.group(0), True))
        position = found.end()
    if position < len(text):
        out.append(Segment(text[position:], False))
    return tuple(out)
