"""Folding text so that a term matches however a page happens to spell it.

``fold`` applies, in order: Unicode NFKC (full-width Latin and digits become
ASCII, half-width kana become full-width, ligatures split), lower case, and the
removal of accents where a language treats them as optional:

* Latin and Greek letters lose their diacritics (``é``→``e``, ``ü``→``u``,
  ``ά``→``α``), ``ß`` becomes ``ss``, final ``ς`` becomes ``σ``.
* Cyrillic keeps its letters apart: ``й`` is not ``и`` and ``ї`` is not ``і``;
  only ``ё`` is folded to ``е``, because Russian writes them interchangeably.
* Hangul, kana and Han characters are never decomposed: ``が`` is not ``か``.
* Traditional Chinese characters become simplified ones (OpenCC's ``t2s``), so
  one term covers Taipei's ``北韓`` and Beijing's ``北韩``. Terms are folded the
  same way, so a term may be written in either form.
* Arabic and Persian letters that writers use interchangeably are merged: the
  alef forms (``أ إ آ ٱ`` → ``ا``), ``ى``/``ی`` → ``ي``, ``ک`` → ``ك``,
  ``ة``/``ۀ`` → ``ه``, ``ؤ`` → ``و``, ``ئ`` → ``ي``.
* Optional vowel points (Arabic harakat, Hebrew niqqud), the Arabic tatweel,
  soft hyphens and zero-width joiners are dropped.

The folded text is nearly always as long as the original, character for
character, so offsets carry over unchanged; where it is not (``ß``, dropped
marks, rare NFKC expansions) `Folded.to_original` maps an offset back.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache

import opencc

# Unsegmented scripts: each character is a token and terms match as substrings.
CHAR_SCRIPTS = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u2e80-\u2fdf"  # CJK radicals
    "\u3005-\u3007\u3021-\u3029\u3031-\u3035\u303b"  # 々 〆 〇, Hangzhou numerals, kana marks
    "\u3040-\u30ff"  # hiragana, katakana
    "\u31f0-\u31ff"  # katakana extensions
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\U00020000-\U0003134f"  # Han extensions
)
# Hangul: a term matches at the start of an eojeol, whatever particle follows.
HANGUL = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff"

_LATIN_GREEK = [(0x00C0, 0x024F), (0x1E00, 0x1EFF), (0x0370, 0x03FF), (0x1F00, 0x1FFF)]
# Letters with no canonical decomposition that readers still treat as the base letter.
_EXTRA_FOLDS = {"ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i", "ŧ": "t", "ς": "σ", "ё": "е"}
_ARABIC_FOLDS = {
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ی": "ي", "ئ": "ي", "ک": "ك",
    "ة": "ه", "ۀ": "ه", "ؤ": "و",
}  # fmt: skip
# Characters that change the length when folded: expanded or dropped.
_RESIZE = {
    "ß": "ss", "\u00ad": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "",
    "\u0640": "",  # Arabic tatweel, a stretch of the line between letters
}  # fmt: skip
_DROPPED_MARKS = "\u0300-\u036f\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7\u064b-\u065f\u0670"


def _single_folds() -> dict[str, str]:
    """Lower-case accented Latin and Greek letters mapped to their base letter."""
    table = dict(_EXTRA_FOLDS) | _ARABIC_FOLDS
    for low, high in _LATIN_GREEK:
        for code in range(low, high + 1):
            char = chr(code).lower()
            if len(char) != 1 or char in table:
                continue
            base = "".join(
                c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)
            )
            if len(base) == 1 and base != char:
                table[char] = base
    return table


_SINGLE = _single_folds()
_RESIZE_RE = re.compile("[" + "".join(_RESIZE) + _DROPPED_MARKS + "]")
_RESIZED = frozenset(chr(c) for c in range(0x10000) if _RESIZE_RE.match(chr(c)))
_ASIAN_RE = re.compile(f"[{HANGUL}{CHAR_SCRIPTS}]")
_UNSEGMENTED_RE = re.compile(f"[{CHAR_SCRIPTS}]")
_HAN_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HANGUL_RE = re.compile(f"[{HANGUL}]")
_LATIN_SPECIAL = "".join(sorted(_SINGLE)) + "".join(_RESIZE) + _DROPPED_MARKS
_LATIN_SPECIAL_RE = re.compile(f"[{_LATIN_SPECIAL}]")
# Everything fold may have to act on after lower-casing: one character class, one pass.
_SPECIAL_RE = re.compile(f"[{_LATIN_SPECIAL}{HANGUL}{CHAR_SCRIPTS}]")


@cache
def _cluster_re() -> re.Pattern[str]:
    """What NFKC can change: a character with a compatibility form (full-width, ligature,
    half-width kana, ...) or one followed by marks it may merge with, as a cluster.

    Built on first use (some milliseconds): normalising only these clusters is many
    times faster than normalising a whole Japanese article, and gives the same text.
    """
    joining = [(0x0300, 0x1DFF), (0x20D0, 0x20FF), (0x3099, 0x309A), (0xFE20, 0xFE2F)]
    marks = {
        chr(c)
        for low, high in joining
        for c in range(low, high + 1)
        if unicodedata.combining(chr(c))
    }
    marks |= {"\uff9e", "\uff9f"} | {chr(c) for c in range(0x1160, 0x1200)}
    unstable = {
        chr(c) for c in range(0xA0, 0x10000) if not unicodedata.is_normalized("NFKC", chr(c))
    }
    join, change = _char_class(marks), _char_class(unstable - marks)
    return re.compile(f"(?s:.{join}+|{change}{join}*)")


def _char_class(chars: set[str]) -> str:
    """A regular-expression class of ``chars``, written as ranges."""
    codes = sorted(ord(c) for c in chars if not 0xD800 <= ord(c) <= 0xDFFF)
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    body = "".join(
        re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
        for low, high in ranges
    )
    return f"[{body}]"


@dataclass(frozen=True, slots=True)
class OffsetMap:
    """Breakpoints from positions in a rewritten string back to the string it came from."""

    new: tuple[int, ...]
    old: tuple[int, ...]

    def __call__(self, offset: int) -> int:
        index = bisect_right(self.new, offset) - 1
        if index < 0:
            return offset
        mapped = self.old[index] + (offset - self.new[index])
        if index + 1 < len(self.old):
            mapped = min(mapped, self.old[index + 1])
        return mapped


@dataclass(frozen=True, slots=True)
class Folded:
    """A folded text and the way back to offsets in the original."""

    text: str
    maps: tuple[OffsetMap, ...] = ()  # applied last to first
    unsegmented: bool = False  # holds Han, kana, Thai ...: text without spaces between words
    hangul: bool = False

    def to_original(self, offset: int) -> int:
        for offset_map in reversed(self.maps):
            offset = offset_map(offset)
        return offset


def fold(text: str) -> Folded:
    """Fold ``text`` for matching; see the module docstring for what that means."""
    maps: list[OffsetMap] = []
    if not unicodedata.is_normalized("NFKC", text):
        text, nfkc_map = _nfkc(text)
        if nfkc_map is not None:
            maps.append(nfkc_map)
    if "İ" in text:
        text = text.replace("İ", "I")  # its lower case would grow a combining dot
    text = text.lower()
    first = _SPECIAL_RE.search(text)
    if first is None:
        return Folded(text, tuple(maps))
    if _ASIAN_RE.match(first.group()):
        # Korean or Japanese: many more such characters follow, left out of the set
        unsegmented = _UNSEGMENTED_RE.search(text, first.start()) is not None
        hangul = _HANGUL_RE.search(text, first.start()) is not None
        specials = set(_LATIN_SPECIAL_RE.findall(text, first.start()))
    else:
        specials = set(_SPECIAL_RE.findall(text, first.start()))
        unsegmented = _UNSEGMENTED_RE.search("".join(specials)) is not None
        hangul = _HANGUL_RE.search("".join(specials)) is not None
    for char in _SINGLE.keys() & specials:
        text = text.replace(char, _SINGLE[char])
    if unsegmented and _HAN_RE.search(text) is not None:
        text = to_simplified(text)
    if not specials.isdisjoint(_RESIZED):
        text, resize_map = _resize(text)
        maps.append(resize_map)
    return Folded(text, tuple(maps), unsegmented, hangul)


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


_T2S_CHARS: dict[int, str] = {}  # one character to one character, learnt as met


def to_simplified(text: str) -> str:
    """``text`` with traditional Chinese characters made simplified, length kept.

    OpenCC converts whole phrases; where that changes the length (rare: a phrase
    written with another number of characters) offsets would no longer carry over,
    so the text is converted character by character instead.
    """
    converted: str = _t2s().convert(text)
    if len(converted) == len(text):
        return converted
    table = _T2S_CHARS
    for char in set(_HAN_RE.findall(text)):
        if ord(char) not in table:
            single = _t2s().convert(char)
            table[ord(char)] = single if len(single) == 1 else char
    return text.translate(table)


def fold_term(text: str) -> str:
    """The folded form of a query term; terms need no way back."""
    return fold(text).text


def _nfkc(text: str) -> tuple[str, OffsetMap | None]:
    """NFKC cluster by cluster, recording where lengths change (None: nowhere)."""
    pieces: list[str] = []
    new: list[int] = [0]
    old: list[int] = [0]
    last, growth = 0, 0
    for match in _cluster_re().finditer(text):
        start, end = match.span()
        piece = unicodedata.normalize("NFKC", match.group())
        pieces.append(text[last:start])
        pieces.append(piece)
        if len(piece) != end - start:
            new.extend((start + growth, start + growth + len(piece)))
            old.extend((start, end))
            growth += len(piece) - (end - start)
        last = end
    pieces.append(text[last:])
    return "".join(pieces), (OffsetMap(tuple(new), tuple(old)) if len(new) > 1 else None)


def _resize(text: str) -> tuple[str, OffsetMap]:
    pieces: list[str] = []
    new: list[int] = [0]
    old: list[int] = [0]
    last, growth = 0, 0
    for match in _RESIZE_RE.finditer(text):
        at = match.start()
        replacement = _RESIZE.get(match.group(), "")
        pieces.append(text[last:at])
        pieces.append(replacement)
        new.extend((at + growth, at + growth + len(replacement)))
        old.extend((at, at + 1))
        growth += len(replacement) - 1
        last = at + 1
    pieces.append(text[last:])
    return "".join(pieces), OffsetMap(tuple(new), tuple(old))
