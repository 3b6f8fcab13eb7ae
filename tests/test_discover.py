"""Feed discovery on real-shaped pages, and on pages built to waste its time."""

from __future__ import annotations

import httpx
import pytest

from monitor.pipeline.discover import MAX_TAGS, DiscoveredFeed, discover_feeds
from testkit.articles import synthetic_articles
from testkit.sites import build_site
from testkit.webserver import LocalWeb

WORDPRESS_HEAD = """<!DOCTYPE html>
<html lang="en-US">
<head>
<meta charset="UTF-8">
<title>Peninsula Watch &#8211; News and analysis</title>
<link rel='dns-prefetch' href='//fonts.googleapis.com' />
<link rel="alternate" type="application/rss+xml" title="Peninsula Watch &raquo; Feed"
      href="https://peninsula.example/feed/" />
<link rel="alternate" type="application/rss+xml" title="Peninsula Watch &raquo; Comments Feed"
      href="https://peninsula.example/comments/feed/" />
<link rel="https://api.w.org/" href="https://peninsula.example/wp-json/" />
<link rel="alternate" type="application/json"
      href="https://peninsula.example/wp-json/wp/v2/pages/7" />
<link rel="alternate" type="application/json+oembed"
      href="https://peninsula.example/wp-json/oembed/1.0/embed?url=x" />
<link rel="alternate" hreflang="ko" href="https://peninsula.example/ko/" />
<link rel="stylesheet" href="/wp-content/themes/news/style.css" />
</head>
<body><a href="/feed/">RSS</a><a href="/rss-archive.xml">old feed</a></body>
</html>"""


def test_wordpress_head_declares_two_rss_feeds() -> None:
    found = discover_feeds(WORDPRESS_HEAD, "https://peninsula.example/")
    assert found == [
        DiscoveredFeed("https://peninsula.example/feed/", "Peninsula Watch » Feed", "rss"),
        DiscoveredFeed(
            "https://peninsula.example/comments/feed/", "Peninsula Watch » Comments Feed", "rss"
        ),
    ]


def test_relative_atom_and_json_feed_links_are_resolved() -> None:
    page = """<html><head>
    <link rel="alternate" type="application/atom+xml; charset=utf-8" title=" Blog
        Atom " href="atom.xml">
    <link rel="ALTERNATE feed" type="Application/Feed+JSON" href="../feed.json">
    <link rel="alternate" type="application/rdf+xml" href="//cdn.example/index.rdf">
    </head></html>"""
    assert discover_feeds(page, "https://blog.example/posts/2025/") == [
        DiscoveredFeed("https://blog.example/posts/2025/atom.xml", "Blog Atom", "atom"),
        DiscoveredFeed("https://blog.example/posts/feed.json", "", "json"),
        DiscoveredFeed("https://cdn.example/index.rdf", "", "rss"),
    ]


def test_base_href_changes_resolution() -> None:
    page = """<html><head><base href="/edition/en/">
    <link rel="alternate" type="application/rss+xml" href="rss.xml"></head></html>"""
    assert [f.url for f in discover_feeds(page, "https://news.example/a/b.html")] == [
        "https://news.example/edition/en/rss.xml"
    ]


def test_declared_feeds_suppress_guesses() -> None:
    found = discover_feeds(WORDPRESS_HEAD, "https://peninsula.example/")
    assert all(feed.kind != "guess" for feed in found)


def test_feed_like_anchors_are_guesses_when_nothing_is_declared() -> None:
    page = """<html><body>
    <nav><a href="/world/">World</a><a href="/feedback">Feedback</a></nav>
    <footer>
      <a href="/rss" title="Subscribe">RSS <img src="rss.png" alt=""></a>
      <a href="/feeds/world.xml">World feed</a>
      <a href="/index.php?feed=rss2">Posts</a>
      <a href="/sitemap.xml">Sitemap</a><a href="/feeds/sitemap.xml">News sitemap</a>
      <a href="/atom/">Atom</a>
      <a href="/rss#top">RSS again</a>
      <a href="https://other.example/news.rss">Partner</a>
      <a href="/about.html">About</a>
    </footer></body></html>"""
    found = discover_feeds(page, "http://outlet.example/")
    assert found == [
        DiscoveredFeed("http://outlet.example/rss", "RSS", "guess"),
        DiscoveredFeed("http://outlet.example/feeds/world.xml", "World feed", "guess"),
        DiscoveredFeed("http://outlet.example/index.php?feed=rss2", "Posts", "guess"),
        DiscoveredFeed("http://outlet.example/atom/", "Atom", "guess"),
        DiscoveredFeed("https://other.example/news.rss", "Partner", "guess"),
    ]


def test_anchor_title_attribute_is_the_fallback_name() -> None:
    page = '<a href="/rss.xml" title="All stories"><img src="rss.svg"></a>'
    assert discover_feeds(page, "https://x.example/") == [
        DiscoveredFeed("https://x.example/rss.xml", "All stories", "guess")
    ]


@pytest.mark.parametrize(
    "href",
    ["javascript:alert(1)", "data:application/rss+xml,<rss/>", "ftp://x.example/feed.xml",
     "mailto:feed@x.example", "file:///etc/rss.xml", "http://[::1/feed.xml", "  "],
)  # fmt: skip
def test_only_http_urls_are_kept(href: str) -> None:
    page = (
        f'<link rel="alternate" type="application/rss+xml" href="{href}"><a href="{href}">rss</a>'
    )
    assert discover_feeds(page, "https://x.example/") == []


def test_feed_scheme_is_translated() -> None:
    page = """<link rel="alternate" type="application/rss+xml" href="feed://x.example/rss">
    <link rel="alternate" type="application/atom+xml" href="feed:https://x.example/atom">"""
    assert [f.url for f in discover_feeds(page, "https://x.example/")] == [
        "http://x.example/rss",
        "https://x.example/atom",
    ]


def test_a_declared_feed_is_not_demoted_by_an_earlier_anchor() -> None:
    page = '<a href="/rss">RSS</a><link rel="alternate" type="application/rss+xml" href="/rss">'
    assert discover_feeds(page, "https://x.example/") == [
        DiscoveredFeed("https://x.example/rss", "", "rss")
    ]


def test_the_same_feed_is_reported_once() -> None:
    page = """<link rel="alternate" type="application/rss+xml" href="/rss.xml">
    <link rel="alternate" type="application/rss+xml" href="https://x.example/rss.xml#latest">
    <link rel="alternate" type="application/atom+xml" href="/rss.xml">"""
    assert discover_feeds(page, "https://x.example/") == [
        DiscoveredFeed("https://x.example/rss.xml", "", "rss")
    ]


def test_bytes_are_decoded_by_their_meta_charset() -> None:
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
        '<link rel="alternate" type="application/rss+xml" title="Новости" href="/rss"></head>'
    ).encode("cp1251")
    assert discover_feeds(page, "https://ru.example/")[0].title == "Новости"


def test_xhtml_with_xml_declaration() -> None:
    page = (
        '<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        '<head><link rel="alternate" type="application/atom+xml" href="/atom"/></head></html>'
    )
    for document in (page, page.encode("utf-8")):
        assert [f.url for f in discover_feeds(document, "https://x.example/")] == [
            "https://x.example/atom"
        ]


@pytest.mark.parametrize("document", [b"", "", "   ", b"\x00\xff\xfe garbage", "<<<>>>", "<a"])
def test_empty_and_garbage_pages_yield_nothing(document: bytes | str) -> None:
    assert discover_feeds(document, "https://x.example/") == []


def test_badly_nested_page_is_read_past_depth_256() -> None:
    # Generated pages that never close their <div>s exist; libxml2 stops at 256 by default.
    page = "<div>" * 1000 + '<a href="/rss">RSS</a>'
    assert [f.url for f in discover_feeds(page, "https://x.example/")] == ["https://x.example/rss"]


def test_work_is_capped_on_a_page_of_endless_links() -> None:
    page = "".join(f'<a href="/feed{n}.xml">f</a>' for n in range(MAX_TAGS * 3))
    found = discover_feeds(page, "https://x.example/")
    assert len(found) == MAX_TAGS
    assert found[-1].url == f"https://x.example/feed{MAX_TAGS - 1}.xml"


@pytest.mark.parametrize(
    "page",
    [
        "<a href='/x'" * 150_000,  # unclosed tags: quadratic in html.parser
        "<!--" * 400_000,  # unclosed comments: the same
        "<?" * 800_000,
        "<div>" * 300_000 + '<link rel="alternate" type="application/rss+xml" href="/rss">',
    ],
    ids=["unclosed-tags", "unclosed-comments", "processing-instructions", "deep-nesting"],
)
def test_hostile_pages_finish_with_no_feeds(page: str) -> None:
    """With html.parser these took hours (quadratic); here they finish and find nothing."""
    assert discover_feeds(page, "https://x.example/") == []


def test_generated_site_declares_its_feeds(web: LocalWeb) -> None:
    site = build_site(web, synthetic_articles(4), feeds=3, prefix="outlet")
    for page in (site.home_url, site.url_of(site.feeds[0].article_ids[0])):
        found = discover_feeds(httpx.get(page, timeout=5).content, page)
        assert [f.url for f in found] == site.feed_urls
    assert [f.kind for f in found] == ["rss", "rss", "atom"]
