"""Boolean operators, proximity, field scoping and exclusions, on small documents."""

from __future__ import annotations

import pytest

from monitor.models import Document, TopicDefinition
from monitor.pipeline.match import build_matcher

LISTS = {
    "nk": ["North Korea*", "Pyongyang", "북한", "北朝鮮"],
    "troops": ["troops", "soldier*", "병사", "派兵", "兵士"],
    "russia": ["Russia*", "Kursk"],
}


def matched(query: str, text: str = "", title: str = "", exclude: str | None = None) -> bool:
    topic = TopicDefinition("t", query, exclude=exclude, min_score=0)
    return build_matcher([topic], LISTS).match(Document(title, text))[0].matched


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("troops AND kursk", "troops in kursk", True),
        ("troops AND kursk", "troops in russia", False),
        ("troops OR kursk", "only kursk", True),
        ("troops OR kursk", "nothing here", False),
        ("troops NOT kursk", "troops in russia", True),
        ("troops NOT kursk", "troops in kursk", False),
        ("NOT kursk", "anything else", True),
        ("NOT kursk", "kursk", False),
        ("(troops OR soldiers) AND NOT (drill OR parade)", "soldiers at a parade", False),
        ("(troops OR soldiers) AND NOT (drill OR parade)", "soldiers at the front", True),
        ("@nk AND @russia", "Pyongyang and Moscow", False),
        ("@nk AND @russia", "Pyongyang and Russian officials", True),
        ('"north korea"', "north of Korea", False),
        ('"north korea"', "North Korea", True),
        ("troops^2 AND kursk", "troops in kursk", True),
    ],
)
def test_boolean_operators(query: str, text: str, expected: bool) -> None:
    assert matched(query, text) is expected


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("troops NEAR/3 kursk", "troops were in kursk", True),
        ("troops NEAR/3 kursk", "troops were moved to kursk", False),
        ("troops NEAR/3 kursk", "kursk saw troops", True),  # either order
        ("@nk NEAR/2 @troops", "North Korean troops", True),
        ("@nk NEAR/2 @troops", "troops of Pyongyang", True),
        ("@nk NEAR/2 @troops", "troops sent by distant Pyongyang", False),
        ("(@nk OR seoul) NEAR/1 @troops", "Seoul troops", True),
        ("(@nk NEAR/2 @troops) NEAR/3 kursk", "North Korean troops reached kursk", True),
        (
            "(@nk NEAR/2 @troops) NEAR/3 kursk",
            "North Korean troops went far far away to kursk",
            False,
        ),
        ('"troops kursk"~5', "troops were sent to kursk", True),
        ('"troops kursk"~5', "troops were sent by rail to kursk", False),
        ('"troops sent kursk"~6', "kursk: troops were sent", True),
        ('"troops sent kursk"~6', "troops were sent to the border of kursk", False),
        # one character of Japanese counts as half a word
        ("@nk NEAR/2 @troops", "北朝鮮が派兵", True),
        ("@nk NEAR/2 @troops", "北朝鮮が十日から十一日にかけて派兵", False),
        ("@nk NEAR/3 @troops", "북한 병사들이", True),
    ],
)
def test_proximity(query: str, text: str, expected: bool) -> None:
    assert matched(query, text) is expected


def test_near_does_not_join_title_and_body() -> None:
    assert not matched("troops NEAR/5 kursk", title="Troops", text="kursk")
    assert matched("troops AND kursk", title="Troops", text="kursk")


@pytest.mark.parametrize(
    ("query", "title", "text", "expected"),
    [
        ("title:kursk", "Battle for Kursk", "", True),
        ("title:kursk", "Battle", "in kursk", False),
        ("body:kursk", "Battle for Kursk", "", False),
        ("body:kursk", "Battle", "in kursk", True),
        ("kursk", "Battle", "in kursk", True),
        ("title:@nk AND body:@troops", "Pyongyang", "troops", True),
        ("title:@nk AND body:@troops", "troops", "Pyongyang", False),
        ('title:"north korea"', "North Korea acts", "", True),
        ("title:(troops NEAR/2 kursk)", "Troops reach Kursk", "", True),
        ("title:(troops NEAR/2 kursk)", "Troops", "reach kursk", False),
    ],
)
def test_field_scoping(query: str, title: str, text: str, expected: bool) -> None:
    assert matched(query, text, title) is expected


def test_exclusion_vetoes_a_match() -> None:
    query = "@nk AND @troops"
    assert matched(query, "North Korean troops", exclude="defect*")
    assert not matched(query, "North Korean troops defected", exclude="defect*")
    assert not matched(query, "North Korean troops", title="Defector", exclude="title:defect*")
