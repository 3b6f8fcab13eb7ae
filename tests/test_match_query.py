"""The topic query language: what parses to what, and where a bad query is wrong."""

from __future__ import annotations

import pytest

from monitor.errors import TopicQueryError
from monitor.pipeline.match.compile import compile_expression
from monitor.pipeline.match.query import (
    And,
    Boost,
    ListRef,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Scoped,
    Term,
    parse_query,
)


def shape(node: Node) -> str:
    """A compact rendering of an AST, positions left out."""
    if isinstance(node, Term):
        return node.text
    if isinstance(node, Phrase):
        return f'"{node.text}"' + (f"~{node.slop}" if node.slop is not None else "")
    if isinstance(node, ListRef):
        return f"@{node.name}"
    if isinstance(node, Not):
        return f"NOT({shape(node.child)})"
    if isinstance(node, Scoped):
        return f"{node.field}:{shape(node.child)}"
    if isinstance(node, Boost):
        return f"{shape(node.child)}^{node.factor:g}"
    if isinstance(node, Near):
        return f"NEAR{node.distance}({shape(node.left)}, {shape(node.right)})"
    name = "AND" if isinstance(node, And) else "OR"
    return f"{name}({', '.join(shape(c) for c in node.children)})"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("troops", "troops"),
        ("a AND b", "AND(a, b)"),
        ("a && b", "AND(a, b)"),
        ("a OR b", "OR(a, b)"),
        ("a || b", "OR(a, b)"),
        ("a OR b AND c", "OR(a, AND(b, c))"),
        ("(a OR b) AND c", "AND(OR(a, b), c)"),
        ("a NOT b", "AND(a, NOT(b))"),
        ("a AND NOT b", "AND(a, NOT(b))"),
        ("NOT a", "NOT(a)"),
        ("NOT NOT a", "NOT(NOT(a))"),
        ('"north korea"', '"north korea"'),
        ('"troops kursk"~10', '"troops kursk"~10'),
        ("deploy*", "deploy*"),
        ("a NEAR/5 b", "NEAR5(a, b)"),
        ("a NEAR/5 b NEAR/2 c", "NEAR2(NEAR5(a, b), c)"),
        ("a NEAR/3 b AND c", "AND(NEAR3(a, b), c)"),
        (
            "@north_korea NEAR/10 (@troops OR soldiers)",
            "NEAR10(@north_korea, OR(@troops, soldiers))",
        ),
        ("title:a", "title:a"),
        ("Title:a", "title:a"),
        ("body:(a OR b)", "body:OR(a, b)"),
        ('title:"x y"', 'title:"x y"'),
        ("title:@nk", "title:@nk"),
        ("a^2", "a^2"),
        ("@nk^1.5 OR b", "OR(@nk^1.5, b)"),
        ("(a OR b)^3", "OR(a, b)^3"),
        ("북한군 OR КНДР AND 北朝鮮兵", "OR(북한군, AND(КНДР, 北朝鮮兵))"),
        ("Corée AND Pjöngjang", "AND(Corée, Pjöngjang)"),
        ("Kim-Jong-un", "Kim-Jong-un"),
        ("10:30", "10:30"),
        ("a and b", None),  # lower-case operators are words: an error, see below
    ],
)
def test_parses(query: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(TopicQueryError):
            parse_query(query, "t")
        return
    assert shape(parse_query(query, "t")) == expected


def test_spans_point_into_the_query() -> None:
    query = 'x AND (title:"north korea" OR @nk)'
    node = parse_query(query, "t")
    assert isinstance(node, And)
    group = node.children[1]
    assert query[group.start : group.end] == '(title:"north korea" OR @nk)'
    assert isinstance(group, Or)
    assert query[group.children[1].start : group.children[1].end] == "@nk"


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ("", None, "the query is empty"),
        ("   ", None, "the query is empty"),
        ("a AND", 5, "expected a term"),
        ("a OR OR b", 5, "expected a term"),
        ("(a OR b", 7, "expected ')' to close the '(' at position 0"),
        ("a b", 2, "between two operands"),
        ("a and b", 2, "written in capitals"),
        (")", 0, "expected a term"),
        ("a)", 1, "between two operands"),
        ('"unterminated', 0, "unterminated phrase"),
        ("a NEAR b", 2, "NEAR/n"),
        ("a NEAR/0 b", 7, "between 1 and"),
        ("a NEAR/x b", 2, "NEAR/n"),
        ("foo:bar", 0, "unknown field 'foo'"),
        ("@", 1, "term list name"),
        ("a @ b", 3, "term list name"),
        ("a~3", 1, "only after a quoted phrase"),
        ('"a b"~', 6, "distance in words"),
        ("a?", 1, "'?' wildcards"),
        ("-a", 0, "AND and NOT"),
        ("a ^", 3, "weight after '^'"),
        ("a^0", 2, "above 0"),
        ("title:", 6, "expected a term"),
        ("NOT", 3, "expected a term"),
    ],
)
def test_errors_say_what_was_expected_and_where(
    query: str, position: int | None, message: str
) -> None:
    with pytest.raises(TopicQueryError) as caught:
        parse_query(query, "topic-x")
    assert caught.value.position == position
    assert message in caught.value.message
    assert caught.value.topic_id == "topic-x"
    assert "topic 'topic-x'" in str(caught.value)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    query = "(" * 500 + "a" + ")" * 500
    with pytest.raises(TopicQueryError, match="nests deeper"):
        parse_query(query, "t")


@pytest.mark.parametrize(
    ("query", "lists", "position", "message"),
    [
        ("a AND @missing", {"nk": ["x"]}, 6, "unknown term list @missing (defined: @nk)"),
        ("@missing", {}, 0, "(defined: none)"),
        ("de*ploy", {}, 2, "'*' must start or end a word"),
        ("*sol", {}, 0, "at least 4 letters after it"),
        ("*北朝鮮", {}, 0, "a leading '*' is for words of spaced scripts"),
        ("@nk", {"nk": ["@country:XQ"]}, 0, "CLDR has no region 'XQ'"),
        ("@nk", {"nk": ["@country:Korea"]}, 0, "two-letter CLDR region code"),
        ("x*", {}, 1, "at least 2 letters"),
        ("*", {}, 0, "'*' must follow the start of a word"),
        ('"north ko*rea"', {}, 9, "'*' must start or end a word"),
        ("@bad", {"bad": ["ok", "fo*o"]}, 0, "term list @bad, entry 'fo*o'"),
        ("@bad", {"bad": ["—"]}, 0, "at least one letter or digit"),
        ('"@nk troops"', {"nk": ["x"]}, 1, "cannot be quoted"),
        ("NOT a NEAR/3 b", {}, 0, "NOT cannot be inside a NEAR operand"),
        ("a NEAR/3 (b AND NOT c)", {}, 16, "NOT cannot be inside a NEAR operand"),
        ("title:(body:a)", {}, 7, "can never match"),
    ],
)
def test_compile_errors(
    query: str, lists: dict[str, list[str]], position: int, message: str
) -> None:
    with pytest.raises(TopicQueryError) as caught:
        compile_expression(query, "t", lists)
    assert caught.value.position == position
    assert message in caught.value.message


def test_short_prefixes_are_allowed_in_scripts_with_short_words() -> None:
    expression = compile_expression("북* OR 朝*", "t", {})
    assert expression.keys == {"북*", "朝"}


def _grouped_chains(levels: int, links: int) -> str:
    """``((w NEAR/3 a …) NEAR/3 a …)``: each group within the parenthesis limit, the whole
    deeper than the operator limit."""
    query = "w"
    for _ in range(levels):
        query = f"({query})" + " NEAR/3 a" * links
    return query


@pytest.mark.parametrize(
    "query",
    [
        " NEAR/3 ".join(f"w{i}" for i in range(1500)),
        "a" + "^2" * 1500,
        _grouped_chains(levels=40, links=3),
    ],
    ids=["near-chain", "boost-chain", "chain-in-groups"],
)
def test_a_long_chain_is_an_error_not_a_crash(query: str) -> None:
    with pytest.raises(TopicQueryError, match="more than 100 operators deep"):
        parse_query(query, "t")


def test_a_chain_within_the_limit_still_parses() -> None:
    query = " NEAR/5 ".join(f"w{i}" for i in range(100))
    node = parse_query(query, "t")
    assert isinstance(node, Near)
    assert node.end == len(query)
