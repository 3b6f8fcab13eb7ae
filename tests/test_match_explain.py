"""Why a topic did not match, in words, and queries with their term lists spelled out."""

from __future__ import annotations

import pytest

from monitor.errors import TopicQueryError
from monitor.models import Document, TopicDefinition
from monitor.pipeline.match import build_matcher, expand_query

LISTS = {
    "nk": ["North Korea*", "Pyongyang"],
    "troops": ["troops", "soldier*"],
    "russia": ["Russia*", "Kursk"],
}


def reason(query: str, text: str, title: str = "", exclude: str | None = None) -> str | None:
    topic = TopicDefinition("t", query, exclude=exclude, min_score=0)
    return build_matcher([topic], LISTS).match(Document(title, text))[0].reason


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("@nk AND @troops", "Russian troops", "no term of @nk"),
        ("@nk AND kursk", "Pyongyang", "no match for kursk"),
        ("@nk AND (kursk OR sudzha)", "Pyongyang", "none of kursk, sudzha"),
        (
            "@russia NEAR/3 @troops",
            "Russia said on Monday that its troops",
            "no term of @russia within 3 words of @troops",
        ),
        (
            "(@nk NEAR/1 @troops) NEAR/2 kursk",
            "North Korean troops fought far from kursk",
            "no match of (@nk NEAR/1 @troops) within 2 words of kursk",
        ),
        ("title:@nk", "Pyongyang", "no term of @nk in the title"),
        ("body:kursk", "", "no match for kursk in the body"),
        (
            "@nk NOT kursk",
            "Pyongyang in Kursk",
            "excluded by NOT kursk: 'kursk' in the body: «Pyongyang in Kursk»",
        ),
        (
            '"troops kursk"~2',
            "troops went by rail to kursk",
            'the words of "troops kursk"~2 are not within 2 words of each other',
        ),
    ],
)
def test_the_first_failing_clause_in_words(query: str, text: str, expected: str) -> None:
    assert reason(query, text) == expected


def test_exclusion_reason_names_the_query_and_the_hit() -> None:
    assert (
        reason("@nk", "Pyongyang soldier defects", exclude="defect*")
        == "excluded by: defect* ('defect*' in the body: «Pyongyang soldier defects»)"
    )


def test_a_match_has_no_reason() -> None:
    assert reason("@nk", "Pyongyang") is None


def test_expand_query_spells_out_lists_and_keeps_the_rest() -> None:
    topic = TopicDefinition("t", "title:@nk NEAR/5 (@troops OR kursk)")
    assert expand_query(topic, LISTS) == (
        'title:("North Korea*" OR Pyongyang) NEAR/5 ((troops OR soldier*) OR kursk)'
    )


def test_expand_query_refuses_an_unknown_list() -> None:
    with pytest.raises(TopicQueryError, match="unknown term list @nope"):
        expand_query(TopicDefinition("t", "@nope"), LISTS)
