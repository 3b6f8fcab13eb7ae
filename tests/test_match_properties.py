"""Properties that hold for any input: the parser never fails other than with TopicQueryError."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import TopicQueryError
from monitor.models import Document, TopicDefinition
from monitor.pipeline.match import build_matcher
from monitor.pipeline.match.compile import compile_expression
from monitor.pipeline.match.normalize import fold
from monitor.pipeline.match.query import parse_query

LISTS = {"nk": ["North Korea*", "북한", "北朝鮮"], "troops": ["troops", "soldier*"]}
PIECES = [
    "AND", "OR", "NOT", "NEAR/3", "NEAR", "NEAR/0", "(", ")", '"', '"a b"~2', "~", "^2", "^",
    "*", "title:", "body:", "foo:", "@nk", "@troops", "@", "@missing", "&&", "||", "-", "?",
    "kursk", "deploy*", "북한군", "КНДР", "北朝鮮兵", "Corée", "\u00ad", "ﬁ", "'", ":", "/",
]  # fmt: skip
QUERIES = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=14).map(" ".join),
    st.lists(st.sampled_from(PIECES), max_size=14).map("".join),
)
BOUNDED = settings(max_examples=400, deadline=timedelta(milliseconds=500))


@BOUNDED
@given(QUERIES)
def test_parser_returns_a_tree_or_a_topic_query_error(query: str) -> None:
    try:
        node = parse_query(query, "t")
    except TopicQueryError as exc:
        assert exc.position is None or 0 <= exc.position <= len(query)
        return
    assert 0 <= node.start <= node.end <= len(query)


@BOUNDED
@given(QUERIES)
def test_compiled_queries_match_without_failing(query: str) -> None:
    try:
        expression = compile_expression(query, "t", LISTS)
    except TopicQueryError:
        return
    matcher = build_matcher([TopicDefinition("t", query, min_score=0)], LISTS)
    (result,) = matcher.match(Document("North Korean troops", "북한군은 Kursk 北朝鮮兵が"))
    assert isinstance(result.matched, bool)
    assert expression.keys >= expression.positive_keys


@settings(max_examples=300, deadline=timedelta(milliseconds=500))
@given(st.text(max_size=80))
def test_folded_offsets_always_land_inside_the_original(text: str) -> None:
    folded = fold(text)
    for offset in range(len(folded.text) + 1):
        assert 0 <= folded.to_original(offset) <= len(text)


WORDS = [
    "Kursk",
    "KURSK",
    "ｋｕｒｓｋ",
    "Straße",
    "Nord\u00adkorea",
    "ﬁne",
    "e\u0301te\u0301",
    "북한군은",
    "北朝鮮",
]
SEPARATORS = [" ", ", ", "\n\n", "—", " (", ") ", "\u3000"]


@settings(max_examples=300, deadline=timedelta(milliseconds=500))
@given(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=20))
def test_every_hit_covers_the_matched_word_in_the_original(pieces: list[tuple[str, str]]) -> None:
    text = "".join(word + separator for word, separator in pieces)
    matcher = build_matcher([TopicDefinition("t", "kursk OR 北朝鮮", min_score=0)], {})
    (result,) = matcher.match(Document("", text))
    expected = sum(word in {"Kursk", "KURSK", "ｋｕｒｓｋ", "北朝鮮"} for word, _ in pieces)
    assert len(result.hits) == min(expected, 30)
    for hit in result.hits:
        assert fold(text[hit.start : hit.end]).text in {"kursk", fold("北朝鮮").text}


SPACED_TEXT = st.text(
    alphabet=st.sampled_from(
        [*"ab Zé1_ \n\t'’-—.,«»…€%$@#", "ß", "й", "ї", "\u0301", "\u093f", "क"]
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=timedelta(milliseconds=500))
@given(SPACED_TEXT)
def test_the_two_ways_of_splitting_spaced_text_agree(text: str) -> None:
    from itertools import chain

    from monitor.pipeline.match.tokens import _CHUNK_TOKENS, _split_spaced

    folded = fold(text).text
    by_chunks = list(chain.from_iterable(map(_CHUNK_TOKENS.__getitem__, folded.split())))
    assert _split_spaced(folded, hangul=False) == by_chunks
