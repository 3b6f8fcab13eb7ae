"""Feed parsing: RSS 2.0, RSS 1.0, Atom; entry identity; not-a-feed is an error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import feedparser
import pytest

from monitor.errors import FeedParseError
from monitor.pipeline.parse import entry_key, html_to_text, parse_feed
from monitor.text import clean_date

FEEDS = Path(__file__).parent / "data" / "feeds"

RSS2 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire &amp; Co</title>
<item><title>Troops &lt;b&gt;arrive&lt;/b&gt;</title><link>https://news.example/a?x=1</link>
<guid isPermaLink="false">urn:wire:1</guid><pubDate>Thu, 02 Jan 2025 10:00:00 GMT</pubDate>
<description><![CDATA[<p>First <b>para</b>.</p><p>Second&nbsp;para.</p>]]></description>
<author>desk@news.example (Desk)</author></item>
<item><title>No guid</title><link>https://news.example/b</link></item>
<item><title>Neither</title><description>Only text</description></item>
<item><title>Script link</title><link>javascript:alert(1)</link><description>x</description></item>
</channel></rss>"""

RSS1 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://rdf.example/"><title>RDF</title><link>https://rdf.example/</link>
<description>d</description></channel>
<item rdf:about="https://rdf.example/1"><title>One</title><link>https://rdf.example/1</link>
<dc:date>2025-02-03T04:05:06Z</dc:date></item></rdf:RDF>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://atom.example/news/">
<title>Atom</title><id>urn:feed</id><updated>2025-01-01T00:00:00Z</updated>
<entry><title>Relative</title><id>urn:e:1</id><link href="story-1.html"/>
<updated>2025-01-05T06:07:08Z</updated><summary>Short.</summary>
<content type="html">&lt;p&gt;A much longer content body than the summary.&lt;/p&gt;</content>
</entry>
</feed>"""


def test_rss2_entries_identity_and_text() -> None:
    feed = parse_feed(RSS2, "https://news.example/rss")
    assert feed.title == "Wire & Co"
    first, second, third, fourth = feed.entries
    assert first.key == "guid:urn:wire:1"
    assert first.title == "Troops arrive"
    assert first.summary == "First para.\n\nSecond para."
    assert first.published == datetime(2025, 1, 2, 10, tzinfo=UTC)
    assert second.key == "link:https://news.example/b"
    assert third.key.startswith("hash:") and third.link is None
    assert fourth.link is None  # only http(s) links are followed
    assert feed.degraded_reason is None


def test_rss1_rdf() -> None:
    (entry,) = parse_feed(RSS1, "https://rdf.example/rss").entries
    assert entry.link == "https://rdf.example/1"
    assert entry.published == datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_atom_relative_links_and_longer_content() -> None:
    (entry,) = parse_feed(ATOM, "https://atom.example/feed.xml").entries
    assert entry.link == "https://atom.example/news/story-1.html"
    assert entry.summary == "A much longer content body than the summary."
    assert entry.key == "guid:urn:e:1"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<!DOCTYPE html><html><body><p>Hello</p></body></html>", "HTML page"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not RSS or Atom"),
        (b'{"json": true}', "not RSS or Atom"),
    ],
)
def test_not_a_feed_is_an_error(body: bytes, reason: str) -> None:
    with pytest.raises(FeedParseError) as caught:
        parse_feed(body, "https://x.example/feed")
    assert reason in str(caught.value)
    assert "https://x.example/feed" in str(caught.value)


def test_broken_feed_with_entries_is_degraded() -> None:
    broken = RSS2.replace(b"</channel></rss>", b"<item><title>cut off")
    feed = parse_feed(broken, "https://news.example/rss")
    assert feed.entries
    assert feed.degraded_reason is not None and "malformed" in feed.degraded_reason


def test_control_characters_never_survive() -> None:
    dirty = RSS2.replace(b"First <b>para</b>", b"Fi\x1brst\x00 <b>para</b>").replace(
        b"Troops &lt;b&gt;", b"Troops\x07 &lt;b&gt;"
    )
    entry = parse_feed(dirty, "https://news.example/rss").entries[0]
    assert "\x1b" not in entry.summary and "\x00" not in entry.summary
    assert "\x07" not in entry.title


def test_entry_key_prefers_guid_then_link_then_content() -> None:
    assert entry_key("g", "https://l", "t", "s") == "guid:g"
    assert entry_key(None, "https://l", "t", "s") == "link:https://l"
    assert entry_key(None, None, "t", "s") == entry_key(None, None, "t", "s")
    assert entry_key(None, None, "t", "s") != entry_key(None, None, "t", "s2")


def test_html_to_text_keeps_paragraphs() -> None:
    assert html_to_text("<p>a</p><p>b<br>c</p>").split() == ["a", "b", "c"]
    assert html_to_text("plain") == "plain"


EXPECTED = json.loads((FEEDS / "expected.json").read_text(encoding="utf-8"))
NOT_SAMPLES = {"README.md", "expected.json"}


def test_every_sample_feed_is_described_and_present() -> None:
    """A moved or missing data folder fails here (reading ``EXPECTED`` above fails first),
    as does a sample without its expected values."""
    samples = {path.name for path in FEEDS.iterdir()} - NOT_SAMPLES
    assert samples == set(EXPECTED)
    assert len(samples) >= 9


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_feedparser_still_reads_each_sample_as_recorded(name: str) -> None:
    """What `expected.json` documents: feedparser's own reading, called as the README
    there says. A feedparser upgrade that changes it fails here first."""
    want = EXPECTED[name]
    got = feedparser.parse(
        (FEEDS / name).read_bytes(),
        response_headers={"content-location": want["feed_url"], "content-type": "application/xml"},
    )
    exception = got.get("bozo_exception")
    assert (got.get("version") or None, bool(got.bozo)) == (want["version"], want["bozo"])
    assert (type(exception).__name__ if exception else None) == want["bozo_exception"]
    assert got.get("encoding") == want["encoding"]
    assert got.feed.get("title") == want["title"]
    assert got.feed.get("language") == want["language"]
    entries = [
        {
            "id": e.get("id"),
            "link": e.get("link"),
            "title": e.get("title"),
            "published": _utc(dict.get(e, "published_parsed") or dict.get(e, "updated_parsed")),
            "author": e.get("author"),
        }
        for e in got.entries
    ]
    assert entries == want["entries"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_gives_the_recorded_entries_or_a_clean_error(name: str) -> None:
    """The pipeline's parser on each sample: no feed where feedparser found no version;
    otherwise one entry per recorded entry (one with neither link nor title is kept by
    its text), with its absolute link, its GUID and its date."""
    want = EXPECTED[name]
    data = (FEEDS / name).read_bytes()
    if not want["version"]:
        with pytest.raises(FeedParseError):
            parse_feed(data, want["feed_url"])
        return
    feed = parse_feed(data, want["feed_url"])
    assert len(feed.entries) == len(want["entries"])
    for entry, expected in zip(feed.entries, want["entries"], strict=True):
        assert entry.key
        assert entry.link == expected["link"]
        assert entry.guid in (expected["id"], None)
        published = entry.published.isoformat() if entry.published else None
        assert published == expected["published"]


def _utc(parsed: Any) -> str | None:
    if not parsed:
        return None
    return datetime(*parsed[:6], tzinfo=UTC).isoformat()


def _rss_dated(date: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>x</title>'
        f"<link>https://news.example/x</link><guid>urn:x</guid><pubDate>{date}</pubDate>"
        "</item></channel></rss>"
    ).encode()


def _atom_dated(date: str) -> bytes:
    return (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        '<id>urn:f</id><entry><title>x</title><link href="https://news.example/x"/><id>urn:x</id>'
        f"<published>{date}</published><updated>{date}</updated></entry></feed>"
    ).encode()


@pytest.mark.parametrize("layout", [_rss_dated, _atom_dated])
@pytest.mark.parametrize(
    "date",
    [
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "1066-10-14T09:00:00Z",
    ],
)
def test_impossible_dates_are_unknown(layout: Any, date: str) -> None:
    [entry] = parse_feed(layout(date), "https://news.example/feed").entries
    assert entry.published is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), None),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), None),  # before year 1 in UTC
        (datetime(9999, 12, 31, 23, 59, tzinfo=UTC), None),
        (datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))), None),
        (datetime(1850, 6, 1, tzinfo=UTC), datetime(1850, 6, 1, tzinfo=UTC)),  # an archive
        (datetime(2025, 1, 2, 3, 4), datetime(2025, 1, 2, 3, 4, tzinfo=UTC)),  # naive: UTC
        (
            datetime(2025, 1, 2, 12, tzinfo=timezone(timedelta(hours=9))),
            datetime(2025, 1, 2, 3, tzinfo=UTC),
        ),
    ],
)
def test_clean_date_drops_what_cannot_be_a_publication_date(
    value: datetime, expected: datetime | None
) -> None:
    assert clean_date(value) == expected


def test_a_date_well_after_the_fetch_is_unknown() -> None:
    fetched = datetime(2025, 3, 1, 12, tzinfo=UTC)
    assert clean_date(fetched + timedelta(hours=20), fetched) == fetched + timedelta(hours=20)
    assert clean_date(fetched + timedelta(days=2), fetched) is None
    assert clean_date(datetime(2031, 1, 1, tzinfo=UTC), fetched) is None
