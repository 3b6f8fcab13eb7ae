"""The topic query language, second step: a recursive-descent parser to a tree.

Grammar, loosest binding first (operators are written in capitals)::

    query   := or EOF
    or      := and ( "OR" and )*
    and     := near ( ( "AND" | "NOT" ) near )*      a NOT b  means  a AND NOT b
    near    := unary ( "NEAR/" n unary )*
    unary   := "NOT" unary | primary
    primary := ( FIELD ":" primary | "(" or ")" | PHRASE [ "~" n ] | TERM | "@" NAME ) [ "^" w ]

``^w`` (Lucene's boost) makes a clause's evidence count ``w`` times in the score.

Two operands side by side with no operator between them are an error rather than
a silent AND or OR: a query is a contract, and guessing would break it.

luqum parses Lucene syntax but reads ``NEAR/10`` as a bare word and has no term
list references, and its errors do not say what was expected, so the parser is
ours. Every node keeps its ``start``/``end`` in the query for error messages and
explanations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from monitor.errors import TopicQueryError
from monitor.pipeline.match.lexer import Lexer, Token

MAX_DEPTH = 50
MAX_HEIGHT = 100
"""Operators from the root to the deepest term. Parentheses are held to `MAX_DEPTH`, but
a chain (``a NEAR/3 b NEAR/3 c …``, ``a^2^2…``) nests one operator per link, and every
stage after the parser walks the tree recursively."""
FieldName = Literal["title", "body"]


@dataclass(frozen=True, slots=True)
class Term:
    text: str  # as written; may hold several words and '*' at word ends
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str  # between the quotes
    slop: int | None  # "a b"~n: all words within n words
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ListRef:
    name: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Near:
    left: Node
    right: Node
    distance: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Boost:
    child: Node
    factor: float
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Scoped:
    field: FieldName
    child: Node
    start: int
    end: int


Node = Term | Phrase | ListRef | Not | And | Or | Near | Scoped | Boost


class _Parser:
    def __init__(self, query: str, topic_id: str) -> None:
        self.lexer = Lexer(query, topic_id)
        self.tokens = self.lexer.tokens()
        self.index = 0
        self.depth = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expected(self, what: str) -> TopicQueryError:
        token = self.peek
        return self.lexer.fail(f"expected {what}, found {token.describe()}", token.start)

    def missing_operator(self) -> TopicQueryError:
        """Two operands side by side; two bare words are most often a phrase unquoted."""
        before = self.tokens[self.index - 1] if self.index else None
        token = self.peek
        hint = ""
        if before is not None and before.kind == "TERM" and token.kind == "TERM":
            hint = f'; to match the words together, quote them: "{before.text} {token.text}"'
        return self.lexer.fail(f"expected {_BETWEEN}, found {token.describe()}{hint}", token.start)

    def parse(self) -> Node:
        if self.tokens[0].kind == "EOF":
            raise TopicQueryError(self.lexer.topic_id, "the query is empty", None)
        node = self.parse_or()
        if self.peek.kind != "EOF":
            raise self.missing_operator()
        too_deep = _first_below(node, MAX_HEIGHT)
        if too_deep is not None:
            raise self.lexer.fail(
                f"the query nests more than {MAX_HEIGHT} operators deep (each NEAR/n or ^ of "
                "a chain is one level); write shorter chains, or several topics",
                too_deep.start,
            )
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.peek.kind == "OR":
            self.take()
            children.append(self.parse_and())
        return (
            children[0]
            if len(children) == 1
            else Or(tuple(children), _start(children), _end(children))
        )

    def parse_and(self) -> Node:
        children = [self.parse_near()]
        while self.peek.kind in ("AND", "NOT"):
            operator = self.peek
            if operator.kind == "AND":
                self.take()
                children.append(self.parse_near())
            else:
                self.take()
                operand = self.parse_near()
                children.append(Not(operand, operator.start, operand.end))
        if self.peek.kind in _OPERAND_STARTS:
            raise self.missing_operator()
        return (
            children[0]
            if len(children) == 1
            else And(tuple(children), _start(children), _end(children))
        )

    def parse_near(self) -> Node:
        node = self.parse_unary()
        while self.peek.kind == "NEAR":
            distance = self.take().number
            assert distance is not None
            right = self.parse_unary()
            node = Near(node, right, int(distance), node.start, right.end)
        return node

    def parse_unary(self) -> Node:
        if self.peek.kind == "NOT":
            operator = self.take()
            child = self.nested(self.parse_unary)
            return Not(child, operator.start, child.end)
        node = self.parse_primary()
        while self.peek.kind == "BOOST":
            weight = self.take()
            assert weight.number is not None
            node = Boost(node, weight.number, node.start, weight.end)
        return node

    def nested(self, parse: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.lexer.fail(
                f"the query nests deeper than {MAX_DEPTH} levels", self.peek.start
            )
        try:
            return parse()
        finally:
            self.depth -= 1

    def parse_primary(self) -> Node:
        token = self.peek
        if token.kind == "(":
            self.take()
            inner = self.nested(self.parse_or)
            if self.peek.kind != ")":
                raise self.expected(f"')' to close the '(' at position {token.start}")
            close = self.take()
            return _regroup(inner, token.start, close.end)
        if token.kind == "FIELD":
            self.take()
            child = self.nested(self.parse_primary)
            return Scoped(
                "title" if token.text == "title" else "body", child, token.start, child.end
            )
        if token.kind in ("TERM", "PHRASE", "LIST"):
            self.take()
            if token.kind == "TERM":
                return Term(token.text, token.start, token.end)
            if token.kind == "LIST":
                return ListRef(token.text, token.start, token.end)
            slop = int(token.number) if token.number is not None else None
            return Phrase(token.text, slop, token.start, token.end)
        raise self.expected("a term, a \"phrase\", an @list, '(' or NOT")


_BETWEEN = "AND, OR, NOT, NEAR/n or ')' between two operands (operators are written in capitals)"
_OPERAND_STARTS = ("(", "TERM", "PHRASE", "LIST", "FIELD")


def _start(nodes: list[Node]) -> int:
    return nodes[0].start


def _end(nodes: list[Node]) -> int:
    return nodes[-1].end


def _regroup(node: Node, start: int, end: int) -> Node:
    """Widen a parenthesised group's span to its parentheses, so it reads as written."""
    return replace(node, start=start, end=end) if isinstance(node, And | Or | Near) else node


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, And | Or):
        return node.children
    if isinstance(node, Near):
        return (node.left, node.right)
    if isinstance(node, Not | Boost | Scoped):
        return (node.child,)
    return ()


def _first_below(root: Node, height: int) -> Node | None:
    """A node more than ``height`` operators below ``root``, found without recursion."""
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > height:
            return node
        stack.extend((child, depth + 1) for child in _children(node))
    return None


def parse_query(query: str, topic_id: str) -> Node:
    """Parse ``query``; raise `TopicQueryError` naming what was expected, and where."""
    return _Parser(query, topic_id).parse()
