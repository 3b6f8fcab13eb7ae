"""What an article is about, as cheap name-like features for story grouping.

Two reports of one event name the same people, places and numbers; two events on the same
topic share the topic's vocabulary (North Korea, Russia, Kursk) but rarely the specifics.
Features, each kept as a lower-case string with a prefix:

* ``n:`` names — capitalised words in Latin, Cyrillic or Greek text, except at the start
  of a sentence (a name there is almost always repeated later in the article);
  katakana and kanji runs and Hangul words in CJK text, which has no capitals.
* ``#:`` numbers of two or more digits, with thousands separators removed ("12,000",
  "12 000" and "12.000" are one feature) — the same in every language.
* ``t:`` title words (three letters or more), or character pairs of CJK titles.

How much a shared feature counts is decided by how rare it is among recent articles
(:mod:`.stories`), not here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
NUMBER = re.compile(r"\d{1,3}(?:[ ,.\u00a0\u202f]\d{3})+(?!\d)|\d+")
KATAKANA = re.compile(r"[\u30a0-\u30ff]{2,}")
KANJI = re.compile(r"[\u4e00-\u9fff]{2,}")
HANGUL = re.compile(r"[\uac00-\ud7af]{2,}")
CJK_RUN = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]+")
TITLE_WORD = re.compile(r"[^\W_]+")
SENTENCE_END = frozenset('.!?:;«"“—–(\n')
# One-syllable Korean particles that follow nouns ("북한이", "러시아에"): dropped so the noun
# matches across sentences.
PARTICLES = frozenset("은는이가을를의에와과도로만")


@dataclass(frozen=True, slots=True)
class StoryFeatures:
    """The story-grouping view of one article."""

    names: frozenset[str]  # names and numbers: ``n:…`` and ``#:…``
    title: frozenset[str]  # ``t:…``
    published: datetime
    topics: frozenset[str] = frozenset()

    @property
    def all(self) -> frozenset[str]:
        return self.names | self.title


def story_features(
    title: str, text: str, published: datetime, topics: tuple[str, ...] | frozenset[str] = ()
) -> StoryFeatures:
    """Names, numbers and title words of an article (see the module docstring)."""
    body = unicodedata.normalize("NFKC", f"{title}\n\n{text}")
    names = {f"n:{n}" for n in capitalised(body) | cjk_terms(body)}
    numbers = {f"#:{n}" for n in numbers_in(body)}
    return StoryFeatures(
        frozenset(names | numbers),
        frozenset(f"t:{w}" for w in title_terms(title)),
        published,
        frozenset(topics),
    )


def capitalised(text: str) -> set[str]:
    """Capitalised words that do not open a sentence (those are capitalised anyway)."""
    found = set()
    for match in WORD.finditer(text):
        word = match.group(0)
        if word[0].isupper() and not _opens_sentence(text, match.start()):
            found.add(word.casefold())
    return found


def _opens_sentence(text: str, at: int) -> bool:
    at -= 1
    while at >= 0 and text[at] in " \t\u00a0":
        at -= 1
    return at < 0 or text[at] in SENTENCE_END


def cjk_terms(text: str) -> set[str]:
    terms = set(KATAKANA.findall(text)) | set(KANJI.findall(text))
    for word in HANGUL.findall(text):
        terms.add(word[:-1] if len(word) >= 3 and word[-1] in PARTICLES else word)
    return terms


def numbers_in(text: str) -> set[str]:
    found = set()
    for raw in NUMBER.findall(text):
        digits = re.sub(r"\D", "", raw).lstrip("0")
        if len(digits) >= 2:
            found.add(digits)
    return found


def title_terms(title: str) -> set[str]:
    folded = unicodedata.normalize("NFKC", title).casefold()
    terms = {w for w in TITLE_WORD.findall(folded) if len(w) >= 3 and not CJK_RUN.search(w)}
    for run in CJK_RUN.findall(folded):
        terms |= {run[i : i + 2] for i in range(len(run) - 1)}
    return terms
