"""Drafting a topic from a seed story."""

from __future__ import annotations

import yaml

from monitor.pipeline.match.suggest import suggest_topic
from monitor.settings import TopicFile

STORY = """Seoul says Pyongyang sent 12,000 soldiers to Russia
South Korea's National Intelligence Service (NIS) said on Tuesday that North Korea had sent
12,000 soldiers to Russia. The NIS said the North Korean soldiers were training near
Vladivostok. Ukrainian President Volodymyr Zelenskyy said the soldiers would fight in Kursk.
Zelenskyy asked allies to respond. Kim Jong Un has not commented. In Kursk, fighting
continued on Tuesday, and the North Korean soldiers moved closer to the front line.
"""


def test_names_numbers_and_phrases() -> None:
    suggestion = suggest_topic(STORY, {}, "nk-test")
    assert "Kim Jong Un" in suggestion.people
    assert "Ukrainian President Volodymyr Zelenskyy" in suggestion.people
    assert "Kursk" in suggestion.places
    assert "Tuesday" not in suggestion.places
    assert {"NIS", "National Intelligence Service"} <= set(suggestion.organisations)
    assert "12,000 soldiers" in suggestion.numbers
    assert "korean soldiers" in suggestion.phrases


def test_known_lists_that_match_come_first_in_the_query() -> None:
    lists = {"nk": ["North Korea*", "Pyongyang"], "troops": ["soldier*"], "iran": ["Iran"]}
    suggestion = suggest_topic(STORY, lists, "nk-test")
    assert list(suggestion.known_lists) == ["troops", "nk"]
    assert suggestion.known_lists["nk"] == ["Pyongyang", "North Korea*"]
    assert suggestion.query() == "(@troops NEAR/15 @nk) AND @country_kp"


def test_the_draft_is_a_valid_topic_file() -> None:
    draft = suggest_topic(STORY, {"nk": ["Pyongyang"]}, "nk-test").to_yaml("../seeds/story.txt")
    assert draft.startswith("# Draft topic suggested from ../seeds/story.txt")
    parsed = TopicFile.model_validate(yaml.safe_load(draft))
    (topic,) = parsed.topics
    assert topic.id == "nk-test"
    assert topic.seeds == ["../seeds/story.txt"]
    assert "people" in parsed.term_lists


def test_countries_named_become_cldr_lists_in_the_draft_and_query() -> None:
    suggestion = suggest_topic(STORY, {}, "nk-test")
    assert list(suggestion.countries)[:2] == ["KP", "RU"]
    assert suggestion.countries["KP"] == "North Korea"
    draft = yaml.safe_load(suggestion.to_yaml("../seeds/story.txt"))
    assert draft["term_lists"]["country_kp"] == ["@country:KP"]
    assert "@country_kp" in draft["topics"][0]["query"]
