"""The topic query language, first step: the query as a list of tokens.

Operators are capitalised words (``AND``, ``OR``, ``NOT``, ``NEAR/n``); ``@name`` names
a term list; ``title:`` and ``body:`` scope what follows; ``"..."`` is a phrase,
optionally ``~n``; ``^w`` weighs what precedes it. Everything else up to a space, a
parenthesis or a quote is a term. Each token keeps its place in the query, so that
an error can say where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from monitor.errors import TopicQueryError

FIELDS = ("title", "body")
MAX_DISTANCE = 1000

TokenKind = Literal[
    "(", ")", "AND", "OR", "NOT", "NEAR", "TERM", "PHRASE", "LIST", "FIELD", "BOOST", "EOF"
]


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # the value: term text, phrase content, list or field name
    start: int
    end: int
    number: float | None = None  # NEAR distance, phrase slop or boost

    def describe(self) -> str:
        return "the end of the query" if self.kind == "EOF" else repr(self.text)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NEAR = re.compile(r"NEAR/(\d+)$")
_FIELD = re.compile(r"([A-Za-z]+):")
_SLOP = re.compile(r"~(\d*)")
_BARE_END = re.compile(r'[\s()"^]')
_BOOST = re.compile(r"\^(\d+(?:\.\d+)?)")
MAX_BOOST = 100.0
_OPERATORS: dict[str, TokenKind] = {"AND": "AND", "OR": "OR", "NOT": "NOT", "&&": "AND", "||": "OR"}


class Lexer:
    def __init__(self, query: str, topic_id: str) -> None:
        self.query = query
        self.topic_id = topic_id

    def fail(self, message: str, position: int) -> TopicQueryError:
        return TopicQueryError(self.topic_id, message, position)

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        at = 0
        while True:
            while at < len(self.query) and self.query[at].isspace():
                at += 1
            if at >= len(self.query):
                out.append(Token("EOF", "", at, at))
                return out
            token = self._next(at)
            out.append(token)
            at = token.end

    def _next(self, at: int) -> Token:
        char = self.query[at]
        if char in "()":
            return Token("(" if char == "(" else ")", char, at, at + 1)
        if char == '"':
            return self._phrase(at)
        if char == "^":
            return self._boost(at)
        if char == "@":
            list_name = _NAME.match(self.query, at + 1)
            if list_name is None:
                raise self.fail("expected a term list name after '@', e.g. @north_korea", at + 1)
            return Token("LIST", list_name.group(), at, list_name.end())
        field = _FIELD.match(self.query, at)
        if field is not None:
            name = field.group(1).lower()
            if name not in FIELDS:
                raise self.fail(f"unknown field {field.group(1)!r}; expected title: or body:", at)
            return Token("FIELD", name, at, field.end())
        return self._bare(at)

    def _boost(self, at: int) -> Token:
        number = _BOOST.match(self.query, at)
        if number is None:
            raise self.fail("expected a weight after '^', e.g. ^2", at + 1)
        factor = float(number.group(1))
        if not 0 < factor <= MAX_BOOST:
            raise self.fail(f"a weight must be above 0 and at most {MAX_BOOST:g}", at + 1)
        return Token("BOOST", number.group(), at, number.end(), factor)

    def _phrase(self, at: int) -> Token:
        close = self.query.find('"', at + 1)
        if close == -1:
            raise self.fail("unterminated phrase: expected a closing '\"'", at)
        end = close + 1
        slop = None
        tilde = _SLOP.match(self.query, end)
        if tilde is not None:
            if not tilde.group(1):
                raise self.fail("expected a distance in words after '~', e.g. \"a b\"~10", end + 1)
            slop = self._distance(tilde.group(1), end + 1)
            end = tilde.end()
        return Token("PHRASE", self.query[at + 1 : close], at, end, slop)

    def _bare(self, at: int) -> Token:
        stop = _BARE_END.search(self.query, at)
        end = stop.start() if stop is not None else len(self.query)
        text = self.query[at:end]
        if text in _OPERATORS:
            return Token(_OPERATORS[text], text, at, end)
        if text == "NEAR" or text.startswith("NEAR/"):
            near = _NEAR.match(text)
            if near is None:
                raise self.fail("expected NEAR/n with a distance in words, e.g. NEAR/10", at)
            return Token("NEAR", text, at, end, self._distance(near.group(1), at + 5))
        self._check_bare(text, at)
        return Token("TERM", text, at, end)

    def _check_bare(self, text: str, at: int) -> None:
        if text[0] in "+-":
            raise self.fail("'+' and '-' are not operators here; use AND and NOT", at)
        for symbol, message in (
            ("~", "'~n' is allowed only after a quoted phrase, e.g. \"troops kursk\"~10"),
            ("?", "'?' wildcards are not supported; put '*' at the end of a word"),
        ):
            if symbol in text:
                raise self.fail(message, at + text.index(symbol))

    def _distance(self, digits: str, position: int) -> int:
        value = int(digits)
        if not 1 <= value <= MAX_DISTANCE:
            raise self.fail(f"a distance must be between 1 and {MAX_DISTANCE} words", position)
        return value
