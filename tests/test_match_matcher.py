"""The public API: building a matcher from many topics, its errors, hits and threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from monitor.errors import ConfigError
from monitor.models import Document, TopicDefinition
from monitor.pipeline.match import CompiledTopic, Matcher, build_matcher, compile_topic

LISTS = {"nk": ["North Korea*", "Pyongyang", "북한"], "troops": ["troops", "soldier*", "병사"]}


def test_every_bad_query_is_reported_at_once_with_its_key() -> None:
    topics = [
        TopicDefinition("good", "@nk"),
        TopicDefinition("bad-query", "@nk AND"),
        TopicDefinition("bad-exclude", "@nk", exclude="@missing"),
        TopicDefinition("both-bad", "(a", exclude="b c"),
    ]
    with pytest.raises(ConfigError) as caught:
        build_matcher(topics, LISTS, source="config/topics.yaml")
    problems = caught.value.problems
    assert [p.key for p in problems] == [
        "topics[1].query",
        "topics[2].exclude",
        "topics[3].query",
        "topics[3].exclude",
    ]
    assert all(p.where == "config/topics.yaml" for p in problems)
    assert "unknown term list @missing" in problems[1].message
    assert "at position 7: «@nk AND ⟨here⟩ »" in problems[0].message


def test_matches_come_one_per_topic_in_topic_order() -> None:
    topics = [
        TopicDefinition(f"t{i}", q, min_score=0) for i, q in enumerate(["@nk", "kursk", "@troops"])
    ]
    matcher = build_matcher(topics, LISTS)
    results = matcher.match(Document("Pyongyang", "troops"))
    assert [r.topic_id for r in results] == ["t0", "t1", "t2"]
    assert [r.matched for r in results] == [True, False, True]
    assert [t.id for t in matcher.topics] == ["t0", "t1", "t2"]
    assert all(isinstance(t, CompiledTopic) for t in matcher.topics)


def test_a_compiled_topic_works_alone() -> None:
    compiled = compile_topic(TopicDefinition("t", "@nk NEAR/3 @troops", min_score=0), LISTS)
    (result,) = Matcher([compiled]).match(Document("", "북한 병사들이"))
    assert result.matched
    assert [hit.term for hit in result.hits] == ["북한", "병사"]


def test_hits_for_a_match_are_every_place_for_a_miss_only_when_explaining() -> None:
    matcher = build_matcher([TopicDefinition("t", "@nk AND kursk", min_score=0)], LISTS)
    doc = Document("Pyongyang", "Pyongyang sent troops. Pyongyang denied it.")
    (quiet,) = matcher.match(doc)
    (explained,) = matcher.match(doc, explain=True)
    assert quiet.hits == ()
    assert [(h.field, h.start) for h in explained.hits] == [("title", 0), ("body", 0)]
    assert quiet.reason == explained.reason == "no match for kursk"

    (hit_all,) = matcher.match(Document("Pyongyang", "Pyongyang, Kursk. Pyongyang again."))
    assert [(h.field, h.start) for h in hit_all.hits] == [
        ("title", 0),
        ("body", 0),
        ("body", 11),
        ("body", 18),
    ]


def test_hits_only_show_terms_that_count_for_the_topic() -> None:
    topic = TopicDefinition("t", "@nk NOT kursk", exclude="belgorod", min_score=0)
    (result,) = build_matcher([topic], LISTS).match(
        Document("", "Pyongyang near Kursk"), explain=True
    )
    assert [hit.term for hit in result.hits] == ["Pyongyang"]


def test_matching_is_thread_safe_and_repeatable() -> None:
    topics = [
        TopicDefinition("a", "@nk NEAR/5 @troops", min_score=1),
        TopicDefinition("b", "@troops AND NOT kursk", min_score=0),
    ]
    matcher = build_matcher(topics, LISTS)
    docs = [
        Document(f"Title {i}", f"North Korean troops number {i} " + "Kursk " * (i % 3))
        for i in range(200)
    ]
    expected = [matcher.match(doc, explain=True) for doc in docs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda d: matcher.match(d, explain=True), docs * 3))
    assert got == expected * 3


def test_a_topic_true_on_an_empty_document_still_matches_one_without_its_terms() -> None:
    topic = TopicDefinition("t", "NOT kursk", min_score=0)
    matcher = build_matcher([topic], LISTS)
    assert matcher.match(Document("Weather", "Sunny"))[0].matched
    assert not matcher.match(Document("Weather", "Sunny in Kursk"))[0].matched
