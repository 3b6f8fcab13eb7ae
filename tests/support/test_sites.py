"""The generated sites are what the pipeline's tests assume: valid feeds, extractable pages."""

from __future__ import annotations

import re
from collections import Counter

import feedparser
import httpx
import pytest
import trafilatura

from testkit.articles import SiteArticle, synthetic_articles
from testkit.sites import Site, build_site
from testkit.webserver import LocalWeb

VERSIONS = {"rss2": "rss20", "rss1": "rss10", "atom": "atom10"}
BOILERPLATE = ("cookies", "All rights reserved", "Related", "Sign up", "Privacy policy")


@pytest.fixture
def devset_site(web: LocalWeb, devset_articles: list[SiteArticle]) -> Site:
    # Every fifth article: all eight languages, a mix of labels.
    return build_site(web, devset_articles[::5], feeds=3)


def parse(url: str) -> feedparser.FeedParserDict:
    return feedparser.parse(httpx.get(url, timeout=5).content)


def test_devset_loads_with_labels(devset_articles: list[SiteArticle]) -> None:
    assert len(devset_articles) == 120
    assert len({a.language for a in devset_articles}) == 8
    labels = Counter(topic for a in devset_articles for topic in a.topics)
    assert labels == {"nk-troops": 45, "nk-russia-pact": 30}
    assert all(a.published.tzinfo is not None for a in devset_articles)


def test_each_feed_is_valid_and_matches_the_record(devset_site: Site) -> None:
    placed: list[str] = []
    for feed in devset_site.feeds:
        parsed = parse(feed.url)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.version == VERSIONS[feed.format]
        links = {entry.link for entry in parsed.entries}
        assert links == {devset_site.entry_of(a).link for a in feed.article_ids}
        for entry in parsed.entries:
            article = devset_site.article_at(entry.link)
            assert entry.title == article.title
            assert entry.get("author") == article.author
            if feed.format != "rss1":  # RSS 1.0 has no GUID: rdf:about is the link
                assert entry.id == devset_site.entry_of(article.id).guid
        placed += feed.article_ids
    assert sorted(placed) == sorted(a.id for a in devset_site.articles)


def test_pages_declare_canonical_and_extract_cleanly(devset_site: Site) -> None:
    for article in devset_site.articles[::4]:
        article_id = article.id
        url = devset_site.url_of(article_id)
        html = httpx.get(url, timeout=5).text
        assert devset_site.article(article_id) == article
        assert f'<link rel="canonical" href="{url}">' in html
        assert f'property="og:url" content="{url}"' in html
        assert f'<html lang="{article.language}">' in html
        text = trafilatura.extract(html) or ""
        assert all(paragraph in text for paragraph in article.paragraphs), article_id
        assert not any(phrase in text for phrase in BOILERPLATE), article_id


def test_second_pass_adds_entries_and_keeps_old_pages(
    web: LocalWeb, devset_articles: list[SiteArticle]
) -> None:
    site = build_site(web, devset_articles[:6], feeds=2)
    old_page = site.url_of(devset_articles[0].id)
    etag = httpx.get(old_page, timeout=5).headers["etag"]
    site.add_articles(devset_articles[6:9], feed=1)
    assert set(site.feeds[1].article_ids) >= {a.id for a in devset_articles[6:9]}
    assert len(parse(site.feeds[1].url).entries) == len(site.feeds[1].entries)
    again = httpx.get(old_page, headers={"If-None-Match": etag}, timeout=5)
    assert again.status_code == 304
    with pytest.raises(ValueError, match="already"):
        site.add_articles(devset_articles[:1])


def test_changed_guid_keeps_link_and_page(web: LocalWeb) -> None:
    articles = synthetic_articles(3, seed=5)
    site = build_site(web, articles, feeds=1, formats=("atom",))
    before = site.entry_of(articles[1].id)
    new_guid = site.change_guid(articles[1].id)
    entries = {entry.link: entry.id for entry in parse(site.feeds[0].url).entries}
    assert new_guid != before.guid
    assert entries[before.link] == new_guid
    site.remove_entry(articles[2].id)
    assert len(parse(site.feeds[0].url).entries) == 2
    assert httpx.get(site.url_of(articles[2].id), timeout=5).status_code == 200


def test_tracking_links_reach_the_page(web: LocalWeb) -> None:
    articles = synthetic_articles(2, seed=6)
    site = build_site(web, articles, feeds=1, tracking=True, prefix="/outlet-b/")
    entry = site.entry_of(articles[0].id)
    assert entry.link == site.url_of(articles[0].id) + "?utm_source=rss&utm_medium=feed"
    assert "/outlet-b/news/" in entry.link
    assert httpx.get(entry.link, timeout=5).status_code == 200
    assert web.count(site.url_of(articles[0].id)) == 1


def test_synthetic_articles_are_deterministic_varied_and_off_topic() -> None:
    first, again, other = (
        synthetic_articles(200, 1),
        synthetic_articles(200, 1),
        synthetic_articles(5, 2),
    )
    assert first == again
    assert first[0].text != other[0].text
    assert len({a.title for a in first}) == len({a.id for a in first}) == 200
    assert all(2000 <= len(a.text.encode()) <= 5000 for a in first)
    assert all(len(a.paragraphs) >= 3 for a in first)
    story = re.compile(r"korea|russia|troop|treaty|pact|ukrain", re.IGNORECASE)
    assert not any(story.search(a.title + a.text) for a in first)

    # Distinct texts share few five-word runs, so dedup must keep them apart.
    def shingles(text: str) -> set[str]:
        words = text.split()
        return {" ".join(words[i : i + 5]) for i in range(len(words) - 4)}

    a, b = shingles(first[0].text), shingles(first[1].text)
    assert len(a & b) / len(a | b) < 0.05


def test_bad_arguments(web: LocalWeb) -> None:
    with pytest.raises(ValueError):
        build_site(web, [], feeds=0)
    with pytest.raises(ValueError):
        build_site(web, [], feeds=1, formats=("json",))
    empty = build_site(web, [], feeds=2)
    assert [len(parse(url).entries) for url in empty.feed_urls] == [0, 0]
