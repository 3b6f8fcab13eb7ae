"""The shipped starter feed list is valid configuration and covers the story's languages."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from monitor.settings import FeedFile

FEEDS_YAML = Path(__file__).resolve().parents[1] / "config" / "feeds.yaml"


def load() -> FeedFile:
    return FeedFile.model_validate(yaml.safe_load(FEEDS_YAML.read_text(encoding="utf-8")))


def test_feed_list_validates_with_25_to_40_feeds() -> None:
    assert 25 <= len(load().feeds) <= 40


def test_every_feed_is_http_with_a_name_and_language() -> None:
    for feed in load().feeds:
        parts = urlsplit(feed.url)
        assert parts.scheme in ("http", "https"), feed.url
        assert parts.hostname, feed.url
        assert feed.name.strip(), feed.url
        assert feed.language, feed.url


def test_no_feed_is_listed_twice() -> None:
    urls = [feed.url.lower().rstrip("/") for feed in load().feeds]
    assert len(urls) == len(set(urls))


def test_at_least_eight_languages_including_the_story_ones() -> None:
    languages = {feed.language for feed in load().feeds}
    assert len(languages) >= 8
    assert {"en", "ko", "ru", "uk", "de", "fr", "es", "ja"} <= languages


def test_every_entry_says_what_the_outlet_is() -> None:
    # Each `- url:` line carries a comment describing the outlet.
    lines = [line for line in FEEDS_YAML.read_text(encoding="utf-8").splitlines()]
    url_lines = [line for line in lines if line.strip().startswith("- url:")]
    assert len(url_lines) == len(load().feeds)
    assert all("  # " in line for line in url_lines)


def test_there_is_a_search_feed_for_the_story() -> None:
    assert any("news.google.com/rss/search" in feed.url for feed in load().feeds)
