"""Terms: compiling one written term, and finding every term in a text in one pass.

A term is a word or a sequence of words (``North Korea``, ``Kim Jong-un``,
``북한``, ``北朝鮮``, ``войск*``). It is folded and split exactly as text is, so
each of its words is matched against one token (see `tokens`):

* ``exact``: a Latin, Cyrillic, ... word equal to the token;
* ``prefix``: a word written with a trailing ``*``, and every Hangul word, which
  matches at the start of the token (``북한`` in ``북한군은``);
* ``suffix``: a word written with a leading ``*``, which matches at the end of
  the token: the last part of a compound (``*soldaten`` in ``Elitesoldaten``);
* ``infix``: a word written ``*so*``, which matches anywhere inside the token,
  for a compound part that may itself be inflected (``*soldat*`` in
  ``Nordkoreasoldaten``);
* ``chars``: a run of Han, kana, ... characters, matched as a substring.

Arabic and Hebrew attach conjunctions, prepositions and the article to the next
word (``والقوات``, ``ולרוסיה``). A token in those scripts also matches a term as
the word it is once such proclitics are taken off (see `clitic_forms`), so a term
is written bare: ``قوات``, ``רוסיה``.

`TermIndex` holds the terms of all topics keyed by their first word, so a text is
scanned once, token by token, whatever the number of topics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from itertools import compress
from typing import Literal, NamedTuple

from monitor.errors import TermError
from monitor.pipeline.match.normalize import fold_term
from monitor.pipeline.match.tokens import TOKEN_SPLIT, FieldText, token_kind

WordMode = Literal["exact", "prefix", "suffix", "infix", "chars"]
MIN_PREFIX = 2  # letters before '*' in a Latin, Cyrillic, ... word
MIN_INNER = 4  # letters after a leading '*': a shorter piece is inside too many words
HEAD = 3  # prefix words are indexed by at most this many leading characters
MEMO_SIZE = 200_000  # distinct tokens whose candidate patterns are remembered


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # folded
    mode: WordMode
    width: int  # tokens it spans: 1, or its length for ``chars``
    clitic: bool = False  # Arabic or Hebrew: a token matches it also without proclitics


@dataclass(frozen=True, slots=True)
class Pattern:
    key: str  # canonical form: equal keys match exactly the same places
    written: str
    words: tuple[Word, ...]
    single: bool  # one token long: matched as soon as its first word is
    second: str | None  # how the second token must start: checked before the whole pattern


class Occ(NamedTuple):
    """Where a pattern occurs: its field (0 title, 1 body) and token span.

    Clauses also make occurrences of their own: ``NEAR`` one for each place where
    its two sides meet (with an empty ``key``), a boost one with a higher ``boost``.
    """

    field: int
    first: int
    last: int  # inclusive
    key: str
    boost: float = 1.0


def _is_word_char(char: str) -> bool:
    return TOKEN_SPLIT.match(char) is not None


def _check_wildcards(written: str) -> None:
    for at, char in enumerate(written):
        if char != "*":
            continue
        if at + 1 < len(written) and _is_word_char(written[at + 1]):
            if at > 0 and _is_word_char(written[at - 1]):
                raise TermError("'*' must start or end a word, not stand inside one", at)
            _check_inner(written, at)
            continue
        start = at
        while start > 0 and _is_word_char(written[start - 1]):
            start -= 1
        stem = written[start:at]
        if not stem:
            raise TermError("'*' must follow the start of a word, e.g. deploy*", at)
        if token_kind(stem) == "word" and len(stem) < MIN_PREFIX:
            raise TermError(f"'*' needs at least {MIN_PREFIX} letters before it", at)


def _check_inner(written: str, at: int) -> None:
    """A leading ``*``: the rest of the word must be long enough, in a spaced script."""
    end = at + 1
    while end < len(written) and _is_word_char(written[end]):
        end += 1
    piece = written[at + 1 : end]
    if token_kind(piece) != "word":
        raise TermError(
            "a leading '*' is for words of spaced scripts; Chinese, Japanese and Thai "
            "terms already match inside text, Korean ones at word starts",
            at,
        )
    if len(piece) < MIN_INNER:
        raise TermError(f"a leading '*' needs at least {MIN_INNER} letters after it", at)


@cache
def compile_term(written: str) -> Pattern:
    """Compile a term as written in a query or a term list; raise `TermError`."""
    _check_wildcards(written)
    parts = TOKEN_SPLIT.split(fold_term(written))
    words: list[Word] = []
    for index in range(1, len(parts), 2):
        token, after, before = parts[index], parts[index + 1], parts[index - 1]
        kind = token_kind(token)
        if kind == "chars":
            if words and words[-1].mode == "chars" and index > 1 and before == "":
                last = words.pop()
                words.append(Word(last.text + token, "chars", last.width + 1))
            else:
                words.append(Word(token, "chars", 1))
        elif before.endswith("*") and kind == "word":
            words.append(Word(token, "infix" if after.startswith("*") else "suffix", 1))
        elif kind == "hangul" or after.startswith("*"):
            words.append(Word(token, "prefix", 1))
        else:
            words.append(Word(token, "exact", 1))
    if not words:
        raise TermError("a term needs at least one letter or digit", 0)
    words = [
        Word(w.text, w.mode, w.width, True) if _CLITIC_SCRIPTS.match(w.text) else w for w in words
    ]
    key = " ".join(_KEY_FORMS[w.mode].format(w.text) for w in words)
    single = len(words) == 1 and words[0].width == 1
    second = None
    if len(words) > 1 and words[1].mode in ("exact", "prefix") and not words[1].clitic:
        second = words[1].text
    return Pattern(key, written, tuple(words), single, second)


_KEY_FORMS = {"exact": "{}", "chars": "{}", "prefix": "{}*", "suffix": "*{}", "infix": "*{}*"}

# Proclitics written together with the next word, outermost first: a conjunction, then
# a preposition, then the article (Arabic); up to three prefix letters (Hebrew).
_ARABIC_CONJUNCTIONS = ("و", "ف")
_ARABIC_PREPOSITIONS = ("ب", "ل", "ك", "س")
_HEBREW_PREFIXES = frozenset("והבלמשכ")
_CLITIC_SCRIPTS = re.compile("[\u0590-\u05ff\u0600-\u06ff\u0750-\u077f]")
_MIN_STEM = 2  # letters that must remain once proclitics are taken off
CLITIC_MEMO_SIZE = 100_000


def _arabic_forms(token: str) -> set[str]:
    forms = {token}
    for conjunction in ("", *_ARABIC_CONJUNCTIONS):
        if not token.startswith(conjunction):
            continue
        rest = token[len(conjunction) :]
        for preposition in ("", *_ARABIC_PREPOSITIONS):
            if not rest.startswith(preposition):
                continue
            word = rest[len(preposition) :]
            forms.add(word)
            if word.startswith("ال"):
                forms.add(word[2:])
            elif preposition == "ل" and word.startswith("ل"):
                forms.add(word[1:])  # li- + al- is written لل
    return {form for form in forms if len(form) >= _MIN_STEM}


def _hebrew_forms(token: str) -> set[str]:
    forms = {token}
    for cut in range(1, 4):
        if len(token) - cut < _MIN_STEM or token[cut - 1] not in _HEBREW_PREFIXES:
            break
        forms.add(token[cut:])
    return forms


class _CliticForms(dict[str, tuple[str, ...]]):
    """A token and the words it can be with its proclitics taken off, remembered."""

    def __missing__(self, token: str) -> tuple[str, ...]:
        if len(self) >= CLITIC_MEMO_SIZE:
            self.clear()
        first = _CLITIC_SCRIPTS.match(token)
        if first is None:
            forms: tuple[str, ...] = (token,)
        elif token[0] <= "\u05ff":
            forms = tuple(_hebrew_forms(token))
        else:
            forms = tuple(_arabic_forms(token))
        self[token] = forms
        return forms


_CLITIC_FORMS = _CliticForms()


def clitic_forms(token: str) -> tuple[str, ...]:
    """``token``, and for Arabic and Hebrew words also the word without its proclitics
    (``والقوات`` → ``قوات``, ``ולרוסיה`` → ``רוסיה``)."""
    return _CLITIC_FORMS[token]


def word_matches(word: Word, token: str) -> bool:
    """Whether a term word of a spaced script matches ``token`` (any clitic form)."""
    mode, text = word.mode, word.text
    if mode == "exact" and token == text:
        return True
    forms = clitic_forms(token) if word.clitic else (token,)
    for form in forms:
        if mode == "exact":
            if form == text:
                return True
        elif mode == "prefix":
            if form.startswith(text):
                return True
        elif mode == "suffix":
            if form.endswith(text):
                return True
        elif text in form:
            return True
    return False


class TermIndex:
    """Every pattern of a set of topics, keyed for a single pass over the tokens."""

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self.exact: dict[str, list[Pattern]] = {}
        self.heads: dict[str, list[Pattern]] = {}
        self.inner: list[Pattern] = []  # first word matched at a token's end or inside it
        lengths: set[int] = set()
        for pattern in {p.key: p for p in patterns}.values():
            first = pattern.words[0]
            if first.mode in ("suffix", "infix"):
                self.inner.append(pattern)
            elif first.mode == "prefix":
                head = first.text[:HEAD]
                lengths.add(len(head))
                self.heads.setdefault(head, []).append(pattern)
            else:
                self.exact.setdefault(
                    first.text[0] if first.mode == "chars" else first.text, []
                ).append(pattern)
        self.head_lengths = tuple(sorted(lengths))
        # One pass of a regular expression says whether any inner pattern may start here.
        pieces = sorted({re.escape(p.words[0].text) for p in self.inner}, key=len, reverse=True)
        self._inner_re = re.compile("|".join(pieces)) if pieces else None
        self._seen: set[str] = set()  # tokens already looked up
        self._starters: dict[str, _Starts] = {}  # those that start a pattern

    def scan(self, field: FieldText, field_id: int, found: dict[str, list[Occ]]) -> None:
        """Add every occurrence of every pattern in ``field`` to ``found``.

        Tokens recur from one document to the next, so which of them start a pattern
        is remembered: a document costs a few set operations plus a visit to each
        place where a pattern may start. The memo is replaced when full; a scan keeps
        the one it began with, so concurrent scans stay consistent.
        """
        seen, starters = self._seen, self._starters
        if len(seen) >= MEMO_SIZE:
            seen, starters = self._seen, self._starters = set(), {}
        distinct = set(field.tokens)
        for token in distinct - seen:
            self._learn(token, seen, starters)
        starting = starters.keys() & distinct  # iterates the smaller side
        if not starting:
            return
        tokens = field.tokens
        end = len(tokens) - 1
        for index in compress(range(len(tokens)), map(starting.__contains__, tokens)):
            starts = starters[tokens[index]]
            for pattern in starts.single:
                found.setdefault(pattern.key, []).append(Occ(field_id, index, index, pattern.key))
            if index == end:
                candidates = starts.unsure
            else:
                after = tokens[index + 1]
                candidates = starts.by_second.get(after, ())
                if starts.by_prefix:
                    candidates += tuple(
                        pattern
                        for head, patterns in starts.by_prefix
                        if after.startswith(head)
                        for pattern in patterns
                    )
                candidates += starts.unsure
            for pattern in candidates:
                last = match_at(pattern.words, field, index)
                if last is not None:
                    found.setdefault(pattern.key, []).append(
                        Occ(field_id, index, last, pattern.key)
                    )

    def _learn(self, token: str, seen: set[str], starters: dict[str, _Starts]) -> None:
        """Note the patterns whose first word matches ``token`` (runs of characters still
        to be checked in place)."""
        candidates: list[Pattern] = []
        for form in clitic_forms(token):
            candidates.extend(self.exact.get(form, ()))
            for length in self.head_lengths:
                if length > len(form):
                    break  # a longer slice is the same token again
                for pattern in self.heads.get(form[:length], ()):
                    if form.startswith(pattern.words[0].text):
                        candidates.append(pattern)
        if self._inner_re is not None and self._inner_re.search(token):
            candidates.extend(p for p in self.inner if word_matches(p.words[0], token))
        if candidates:
            starters[token] = _Starts.of(list(dict.fromkeys(candidates)))
        seen.add(token)


@dataclass(frozen=True, slots=True)
class _Starts:
    """The patterns one token starts, by what the next token must be.

    Most candidates fail on the second word ("in" that is not "in Kraft"), so those
    whose second word is exact are looked up by the next token instead of tried.
    """

    single: tuple[Pattern, ...]  # one token long: matched already
    by_second: dict[str, tuple[Pattern, ...]]  # the next token must equal the key
    by_prefix: tuple[tuple[str, tuple[Pattern, ...]], ...]  # ... or start with it
    unsure: tuple[Pattern, ...]  # checked in place whatever follows

    @classmethod
    def of(cls, patterns: list[Pattern]) -> _Starts:
        single: list[Pattern] = []
        exact: dict[str, list[Pattern]] = {}
        prefixed: dict[str, list[Pattern]] = {}
        unsure: list[Pattern] = []
        for pattern in patterns:
            if pattern.single:
                single.append(pattern)
            elif pattern.second is None:
                unsure.append(pattern)
            elif pattern.words[1].mode == "exact":
                exact.setdefault(pattern.second, []).append(pattern)
            else:
                prefixed.setdefault(pattern.second, []).append(pattern)
        return cls(
            tuple(single),
            {second: tuple(group) for second, group in exact.items()},
            tuple((head, tuple(group)) for head, group in prefixed.items()),
            tuple(unsure),
        )


def match_at(words: tuple[Word, ...], field: FieldText, index: int) -> int | None:
    """The last token of ``words`` matched from token ``index`` on, or None."""
    tokens = field.tokens
    for word in words:
        if index >= len(tokens):
            return None
        if word.mode == "chars":
            if not field.folded.text.startswith(word.text, field.start(index)):
                return None
        elif not word_matches(word, tokens[index]):
            return None
        index += word.width
    return index - 1
