"""Scores: title over body, lead over the rest, repeated and nearby evidence over one mention."""

from __future__ import annotations

import pytest

from monitor.models import Document, TopicDefinition
from monitor.pipeline.match import build_matcher, compile_topic
from monitor.pipeline.match.matcher import Matcher

FILLER = " ".join(["Officials gave no further detail."] * 25)  # past SHORT_TEXT_WORDS


def score(query: str, title: str, text: str, seeds: tuple[str, ...] = ()) -> float:
    topic = TopicDefinition("t", query, min_score=0, seeds=seeds)
    return (
        build_matcher([topic], {"nk": ["North Korea*"], "war": ["troops"]})
        .match(Document(title, text))[0]
        .score
    )


def test_title_outweighs_body() -> None:
    in_title = score("kursk", "Fighting in Kursk", FILLER)
    in_body = score("kursk", "Fighting", FILLER + " Fighting in Kursk.")
    assert in_title > in_body > 0


def test_lead_outweighs_the_rest_of_the_body() -> None:
    in_lead = score("kursk", "News", "Fighting in Kursk.\n\n" + FILLER)
    further = score("kursk", "News", FILLER + "\n\nFighting in Kursk.")
    assert in_lead > further


def test_repeated_evidence_outweighs_one_mention_with_diminishing_returns() -> None:
    once = score("kursk", "News", f"{FILLER} Kursk.")
    twice = score("kursk", "News", f"{FILLER} Kursk. {FILLER} Kursk.")
    five = score("kursk", "News", " ".join([f"{FILLER} Kursk."] * 5))
    assert once < twice < five
    assert five - twice < twice  # each further mention adds less


def test_nearby_mentions_count_as_one_place() -> None:
    apart = score("kursk OR belgorod", "News", f"{FILLER} Kursk. {FILLER} Belgorod.")
    together = score("kursk OR belgorod", "News", f"{FILLER} Kursk and Belgorod.")
    assert apart > together


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{FILLER} North Korean troops.", 1.0),
        (f"{FILLER} North Korean troops. {FILLER} North Korean troops.", 1.5),
    ],
)
def test_near_counts_the_places_where_its_sides_meet(text: str, expected: float) -> None:
    stray = f" {FILLER} North Korea. {FILLER} troops. {FILLER} North Korea."
    assert score("@nk NEAR/3 @war", "News", text + stray) == expected


def test_and_is_as_strong_as_its_weakest_clause() -> None:
    text = f"Kursk and Kursk. {FILLER} Kursk. {FILLER} Belgorod."
    assert score("kursk AND belgorod", "News", text) == score("belgorod", "News", text)


def test_boost_multiplies_evidence() -> None:
    plain = score("kursk", "News", f"{FILLER} Kursk.")
    assert score("kursk^2", "News", f"{FILLER} Kursk.") == pytest.approx(2 * plain)


def test_seed_similarity_adds_a_bonus_only_to_a_match() -> None:
    seed = "North Korean troops fought alongside Russian forces in the Kursk region."
    text = "North Korean troops fought in the Kursk region alongside Russian forces."
    with_seed = score("kursk", "News", text, seeds=(seed,))
    without = score("kursk", "News", text)
    assert with_seed > without
    assert score("belgorod", "News", text, seeds=(seed,)) == 0.0


def test_min_score_decides_and_the_reason_says_by_how_much() -> None:
    topic = TopicDefinition("t", "kursk", min_score=2)
    matcher = Matcher([compile_topic(topic, {})])
    (weak,) = matcher.match(Document("News", f"{FILLER} Kursk."))
    (strong,) = matcher.match(Document("Battle for Kursk", "Kursk."))
    assert not weak.matched
    assert weak.reason == "score 1 below min_score 2"
    assert strong.matched and strong.reason is None
