"""The fastfeedparser path gives exactly what the feedparser path gives, or steps aside."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import FeedParseError
from monitor.models import ParsedFeed
from monitor.pipeline import parse
from monitor.pipeline.parse import parse_feed
from monitor.pipeline.parse.fast import parse_fast
from monitor.pipeline.parse.reference import parse_with_feedparser
from testkit.articles import synthetic_articles
from testkit.sites import FORMATS, SiteArticle, build_site
from testkit.syndication import FeedDoc, render_feed
from testkit.webserver import LocalWeb
from tests.test_hostile import billion_laughs, huge_author, item, many_items, rss
from tests.test_parse import ATOM, FEEDS, RSS1, RSS2
from tests.test_properties import FEEDS as BYTE_FEEDS

URL = "http://127.0.0.1/feed.xml"


def reference(body: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    """What parse_feed gave before the fast path: feedparser on the bounded body."""
    if not body.strip():
        raise FeedParseError(url, "the response body is empty")
    bounded, cut_reason = parse.bound_document(body)
    return parse_with_feedparser(bounded, url, content_type, cut_reason)


def outcome(fn: object, body: bytes, url: str, content_type: str | None) -> object:
    try:
        return fn(body, url, content_type)  # type: ignore[operator]
    except FeedParseError as exc:
        return ("error", exc.reason)


def assert_same(body: bytes, url: str = URL, content_type: str | None = None) -> bool:
    """Both paths agree; returns whether the fast path took the document."""
    bounded, _ = parse.bound_document(body)
    took = bool(body.strip()) and parse_fast(bounded, url, content_type) is not None
    assert outcome(parse_feed, body, url, content_type) == outcome(
        reference, body, url, content_type
    )
    return took


def site_feeds(
    web: LocalWeb, articles: list[SiteArticle], tracking: bool
) -> list[tuple[str, bytes, str]]:
    site = build_site(web, articles, feeds=6, formats=FORMATS, tracking=tracking)
    found = []
    for url in site.feed_urls:
        _, route = web.lookup(url.removeprefix(web.base_url))
        found.append((url, route.body, route.content_type))  # type: ignore[union-attr]
    return found


@pytest.mark.parametrize("tracking", [False, True])
def test_site_feeds_in_every_format_parse_the_same(
    web: LocalWeb, devset_articles: list[SiteArticle], tracking: bool
) -> None:
    feeds = site_feeds(web, devset_articles, tracking)
    assert {url.rsplit(".", 1)[1] for url, _, _ in feeds} == {"xml", "rdf", "atom"}
    for url, body, content_type in feeds:
        assert assert_same(body, url, content_type), url  # the common case is fast
        assert assert_same(body, url), url


def test_synthetic_site_feeds_parse_the_same(web: LocalWeb) -> None:
    for url, body, content_type in site_feeds(web, synthetic_articles(60, seed=3), True):
        assert assert_same(body, url, content_type), url


@pytest.mark.parametrize("body", [RSS2, RSS1, ATOM], ids=["rss2", "rss1", "atom"])
def test_unit_feeds_parse_the_same(body: bytes) -> None:
    assert_same(body, "https://news.example/rss")
    broken = body[: len(body) - 20]
    assert_same(broken, "https://news.example/rss")


HOSTILE = {
    "laughs": billion_laughs(),
    "ascii-declared": rss([item("Ünïcödé ✓ façade", "cs-1")], declaration="us-ascii"),
    "nul": rss([item("nul\x00here", "nul-1")]),
    "truncated": rss([item("one", "t-1"), item("two", "t-2")])[:-40],
    "many": many_items(12_000),
    "author": huge_author(),
    "script": rss(
        [
            item(
                "s",
                "s-1",
                "http://a/1",
                "<content:encoded>&lt;script&gt;x()&lt;/script&gt;y</content:encoded>",
            )
        ]
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_feeds_parse_the_same(name: str) -> None:
    assert_same(HOSTILE[name].encode(), URL, "application/rss+xml; charset=utf-8")


@pytest.mark.skipif(not FEEDS.exists(), reason="sample feeds not present")
def test_sample_feeds_parse_the_same() -> None:
    for path in sorted(FEEDS.glob("*")):
        assert_same(path.read_bytes(), f"https://samples.example/{path.name}")


@settings(deadline=None, max_examples=200)
@given(BYTE_FEEDS)
def test_any_bytes_parse_the_same(body: bytes) -> None:
    assert_same(body, URL, "application/rss+xml")


# Well-formed feeds with awkward fields: markup, entities, odd dates, missing GUIDs.
TEXT = st.sampled_from(
    [
        "Plain title", "  spaced  out  ", "a &lt;b&gt;bold&lt;/b&gt; word", "x &amp;amp; y",
        "&lt;p&gt;para&lt;/p&gt;&lt;p&gt;two&amp;nbsp;x&lt;/p&gt;", "<![CDATA[<i>cd</i> & more]]>",
        "&lt;script&gt;bad()&lt;/script&gt;ok", "&lt;style&gt;p{}&lt;/style&gt;ok", "",
        "a &lt; b", "Ünïcödé ✓", "&lt;!-- c --&gt;text", "&#x1F600; emoji", "\u00a0nbsp",
    ]
)  # fmt: skip
DATE = st.sampled_from(
    [
        "Thu, 02 Jan 2025 10:00:00 GMT", "Thu, 02 Jan 2025 10:00:00 +0200",
        "2 Jan 2025 10:00:00 EST",
        "2025-01-02T10:00:00Z", "2025-01-02T10:00:00.123456+05:30", "2025-01-02", "yesterday",
        "2025-01-02 10:00:00", "Thu, 02 Jan 2025 24:00:00 GMT", "",
    ]
)  # fmt: skip
LINK = st.sampled_from(
    ["http://127.0.0.1/a", "https://x.example/b?c=1&amp;d=2", "/relative", "javascript:x", ""]
)
GUID = st.sampled_from(["urn:g:1", "http://127.0.0.1/a", "", None])
AUTHOR = st.sampled_from(["", "Mina Park", "desk@x.example (Desk)", "A &lt;b&gt;"])


@st.composite
def rss_item(draw: st.DrawFn) -> str:
    guid = draw(GUID)
    parts = [f"<title>{draw(TEXT)}</title>"]
    link = draw(LINK)
    if link or draw(st.booleans()):
        parts.append(f"<link>{link}</link>")
    if guid is not None:
        permalink = draw(st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"']))
        parts.append(f"<guid{permalink}>{guid}</guid>")
    date = draw(DATE)
    tag = draw(st.sampled_from(["pubDate", "dc:date"]))
    if date or draw(st.booleans()):
        parts.append(f"<{tag}>{date}</{tag}>")
    parts.append(f"<description>{draw(TEXT)}</description>")
    if draw(st.booleans()):
        parts.append(f"<content:encoded>{draw(TEXT)}</content:encoded>")
    author = draw(AUTHOR)
    if author:
        tag = draw(st.sampled_from(["author", "dc:creator"]))
        parts.append(f"<{tag}>{author}</{tag}>")
    return "<item>" + "".join(draw(st.permutations(parts))) + "</item>"


@settings(deadline=None, max_examples=300)
@given(st.lists(rss_item(), min_size=1, max_size=5), TEXT)
def test_generated_rss_parses_the_same(items: list[str], title: str) -> None:
    body = (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0' "
        "xmlns:dc='http://purl.org/dc/elements/1.1/' "
        "xmlns:content='http://purl.org/rss/1.0/modules/content/'>"
        f"<channel><title>{title}</title><link>http://127.0.0.1/</link>{''.join(items)}"
        "</channel></rss>"
    )
    assert_same(body.encode(), URL, "application/rss+xml; charset=utf-8")


@settings(deadline=None, max_examples=200)
@given(
    st.lists(st.tuples(TEXT, LINK, GUID, DATE, DATE, TEXT, TEXT, AUTHOR), min_size=1, max_size=4)
)
def test_generated_atom_parses_the_same(
    entries: list[tuple[str, str, str | None, str, str, str, str, str]],
) -> None:
    parts = []
    for title, link, guid, published, updated, summary, content, author in entries:
        parts.append(
            "<entry>"
            + f"<title type='html'>{title}</title>"
            + (f"<link href='{link}'/>" if link else "")
            + (f"<id>{guid}</id>" if guid else "")
            + (f"<published>{published}</published>" if published else "")
            + (f"<updated>{updated}</updated>" if updated else "")
            + f"<summary type='html'>{summary}</summary>"
            + (f"<content type='html'>{content}</content>" if content else "")
            + (f"<author><name>{author}</name></author>" if author else "")
            + "</entry>"
        )
    body = (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>A</title><id>urn:f</id>{''.join(parts)}</feed>"
    )
    assert_same(body.encode(), URL, "application/atom+xml")


def test_rss1_site_feed_dates_are_utc(web: LocalWeb, devset_articles: list[SiteArticle]) -> None:
    articles = devset_articles[:3]
    doc = FeedDoc(
        "rss1",
        URL,
        "T",
        "http://127.0.0.1/",
        [(a, a.id, f"http://127.0.0.1/{a.id}") for a in articles],
    )
    body, content_type = render_feed(doc)
    feed = parse_feed(body, URL, content_type)
    assert [e.published for e in feed.entries] == [a.published.astimezone(UTC) for a in articles]
    assert all(isinstance(e.published, datetime) for e in feed.entries)
