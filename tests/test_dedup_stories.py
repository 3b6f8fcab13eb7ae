"""Story grouping: one event joins, different events on the same topic and day stay apart."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.pipeline.dedup import StoryIndex, story_features
from monitor.pipeline.dedup.features import capitalised, numbers_in
from monitor.settings import DedupSettings

DATA = Path(__file__).parent / "data"
STORY_PAIRS = [
    json.loads(line) for line in (DATA / "dedup-story-pairs.jsonl").read_text("utf-8").splitlines()
]
ARTICLES: dict[str, dict[str, Any]] = {
    side["id"]: side for pair in STORY_PAIRS for side in (pair["a"], pair["b"])
}


def features(article_id: str, *, published: datetime | None = None) -> Any:
    art = ARTICLES[article_id]
    when = published or datetime.fromisoformat(art["published"])
    return story_features(art["title"], art["text"], when, tuple(art["topics"]))


@pytest.fixture
def index() -> StoryIndex:
    """An index that has seen every evaluation article, as a running one sees recent news."""
    built = StoryIndex()
    built.observe(features(a) for a in ARTICLES)
    return built


def add(index: StoryIndex, number: int, article_id: str) -> None:
    art = ARTICLES[article_id]
    index.add(number, features(article_id), title=art["title"], outlet=art["outlet"])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("dev-046", "dev-061"),  # 1 Nov 2024: ICBM test / Choe in Moscow — both North Korea
        ("alt-005", "dev-061"),  # 1 Nov 2024: 8,000 troops in Kursk / Choe in Moscow
        ("dev-002", "dev-055"),  # 5 Dec 2024: treaty in force / Kursk governor replaced
        ("dev-026", "dev-030"),  # 12-13 Jan 2025: soldiers captured / 300 killed, Seoul says
        ("alt-021", "alt-022"),  # Federation Council vote / Putin signs the law, 3 days apart
        ("dev-083", "dev-106"),  # 7 Jan 2025, Spanish: missile test / Blinken on casualties
    ],
)
def test_same_topic_same_days_different_events_stay_apart(
    index: StoryIndex, first: str, second: str
) -> None:
    add(index, 1, first)
    decision = index.decide(features(second))
    assert decision.kind == "new", decision.reason


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("dev-054", "alt-013"),  # 6,000 sappers to Kursk
        ("dev-030", "alt-010"),  # 300 killed, Seoul estimates
        ("dev-078", "alt-007"),  # first clash in Kursk
        ("dev-041", "alt-018"),  # Yoon impeached
        ("dev-102", "alt-014"),  # Spanish: sappers
    ],
)
def test_reports_of_one_event_join_one_story(index: StoryIndex, first: str, second: str) -> None:
    add(index, 1, first)
    decision = index.decide(features(second))
    assert (decision.kind, decision.story_id) == ("join", 1)
    assert decision.reason.startswith("same event as #1 ")


def test_story_keeps_first_title_time_and_outlets(index: StoryIndex) -> None:
    add(index, 10, "dev-054")
    decision = index.decide(features("alt-013"))
    story = index.add(
        11,
        features("alt-013"),
        title=ARTICLES["alt-013"]["title"],
        outlet="Atlantic Evening Post",
        story_id=decision.story_id,
    )
    assert story.story_id == 10 and story.size == 2
    assert story.title == ARTICLES["dev-054"]["title"]
    assert story.outlets == ("Northeast Asia Monitor", "Atlantic Evening Post")
    assert story.first_seen == datetime(2025, 6, 17)


def test_outside_the_window_a_new_story_starts(index: StoryIndex) -> None:
    add(index, 1, "dev-054")
    late = features("alt-013", published=datetime(2025, 6, 17) + timedelta(days=5))
    assert index.decide(late).kind == "new"
    wide = StoryIndex(DedupSettings(story_window_days=7))
    wide.observe(features(a) for a in ARTICLES)
    add(wide, 1, "dev-054")
    assert wide.decide(late).kind == "join"


def test_disjoint_topics_never_join(index: StoryIndex) -> None:
    add(index, 1, "dev-054")
    art = ARTICLES["alt-013"]
    other_topic = story_features(
        art["title"], art["text"], datetime(2025, 6, 17), ("some-other-topic",)
    )
    assert index.decide(other_topic).kind == "new"


def test_prune_forgets_old_articles(index: StoryIndex) -> None:
    add(index, 1, "dev-054")
    index.prune(datetime(2025, 7, 1))
    assert len(index) == 0 and index.stories == {}
    assert index.decide(features("alt-013")).kind == "new"


def test_empty_index_starts_a_story() -> None:
    decision = StoryIndex().decide(features("dev-054"))
    assert decision.kind == "new" and decision.story_id is None


def test_names_skip_sentence_openers() -> None:
    text = "Officials said Kim Jong Un met Putin. The talks ended. Kim left."
    assert capitalised(text) == {"kim", "jong", "un", "putin"}


def test_numbers_ignore_thousands_separators() -> None:
    assert numbers_in("12,000 soldiers; 12 000; 12.000 and 6,000 and 3 more") == {"12000", "6000"}
