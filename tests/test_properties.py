"""Properties that hold for any input a stranger can send: bytes, URLs, headers, text."""

from __future__ import annotations

import asyncio
import ipaddress
import math
import unicodedata
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import BlockedURLError, FeedParseError, FetchError
from monitor.models import ParsedFeed
from monitor.pipeline import egress
from monitor.pipeline.addresses import EgressPolicy
from monitor.pipeline.egress import check_url
from monitor.pipeline.fetch.client import MAX_RETRY_AFTER, parse_retry_after
from monitor.pipeline.parse import parse_feed
from monitor.text import clean_line, clean_link, clean_text

PROPERTY = settings(deadline=None, max_examples=200)
NOW = datetime(2025, 1, 1, tzinfo=UTC)

FEED_PIECES = [
    b"<?xml version='1.0'?>", b"<rss version='2.0'>", b"<channel>", b"</channel>", b"</rss>",
    b"<item>", b"</item>", b"<title>", b"</title>", b"<link>http://127.0.0.1/a</link>",
    b"<guid>g</guid>", b"<entry>", b"<feed xmlns='http://www.w3.org/2005/Atom'>", b"</feed>",
    b"<![CDATA[", b"]]>", b"&amp;", b"&lol;", b"<!DOCTYPE rss [<!ENTITY lol 'x'>]>", b"\x00",
    b"\xff\xfe", b"<author>", b"</author>", b"<description>", b"</description>", b"<",
]  # fmt: skip
FEEDS = st.one_of(
    st.binary(max_size=2000),
    st.lists(st.one_of(st.sampled_from(FEED_PIECES), st.binary(max_size=8)), max_size=40).map(
        b"".join
    ),
)

URL_PIECES = [
    "http://", "https://", "ftp://", "file:///", "//", "[", "]", "::ffff:", "127.0.0.1",
    "169.254.169.254", "0x7f.1", "localhost", ":", ":80", ":99999", "@", "%00", "/", "?", "#",
    "[::1]", "0177.0.0.1", "2130706433", "example.invalid", "\n", " ",
]  # fmt: skip
URLS = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(URL_PIECES), max_size=8).map("".join),
)


@PROPERTY
@given(FEEDS)
def test_parse_feed_gives_a_feed_or_a_feed_parse_error(body: bytes) -> None:
    try:
        parsed = parse_feed(body, "http://127.0.0.1/feed.xml", "application/rss+xml")
    except FeedParseError as exc:
        assert exc.reason
        return
    assert isinstance(parsed, ParsedFeed)
    for entry in parsed.entries:
        assert entry.key
        assert "\x00" not in entry.title + entry.summary


async def _no_dns(host: str, port: int, url: str) -> list[egress.IPAddress]:
    """Names resolve to nothing here (no network in tests); literals are parsed for real."""
    raise FetchError(url, f"cannot resolve {host}: no DNS in tests")


@PROPERTY
@given(URLS, st.booleans())
def test_check_url_allows_or_refuses_with_a_fetch_error(url: str, private: bool) -> None:
    original = egress._resolve

    async def resolve(host: str, port: int, where: str) -> list[egress.IPAddress]:
        try:
            return [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            return await _no_dns(host, port, where)

    egress._resolve = resolve  # the hypothesis loop cannot use a function-scoped monkeypatch
    try:
        asyncio.run(check_url(url, EgressPolicy(allow_private_networks=private)))
    except BlockedURLError as exc:
        assert exc.reason
    except FetchError as exc:
        assert "resolve" in exc.reason
    finally:
        egress._resolve = original


@PROPERTY
@given(st.one_of(st.text(max_size=60), st.integers(-(10**12), 10**12).map(str)))
def test_retry_after_is_none_or_a_bounded_delay(value: str) -> None:
    delay = parse_retry_after(value, NOW)
    assert delay is None or (math.isfinite(delay) and 0 <= delay <= MAX_RETRY_AFTER)


@PROPERTY
@given(st.datetimes(timezones=st.just(UTC)).map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")))
def test_retry_after_dates_are_bounded_too(value: str) -> None:
    delay = parse_retry_after(value, NOW)
    assert delay is None or 0 < delay <= MAX_RETRY_AFTER


def _is_control(char: str, allowed: str) -> bool:
    return unicodedata.category(char) == "Cc" and char not in allowed


@PROPERTY
@given(st.one_of(st.none(), st.text()), st.integers(1, 500))
def test_clean_line_never_lets_a_control_character_out(value: str | None, limit: int) -> None:
    cleaned = clean_line(value, limit)
    assert not any(_is_control(char, "") for char in cleaned)
    assert len(cleaned) <= limit


@PROPERTY
@given(st.one_of(st.none(), st.text()))
def test_clean_text_keeps_only_newlines_and_tabs_of_the_controls(value: str | None) -> None:
    cleaned = clean_text(value)
    assert not any(_is_control(char, "\n\t") for char in cleaned)


def _hides_or_breaks_xml(char: str) -> bool:
    """Reorders or hides text, or is a character XML 1.0 forbids."""
    code = ord(char)
    return (
        0x202A <= code <= 0x202E
        or 0x2066 <= code <= 0x2069
        or char in "\ufeff\u2060"
        or 0xD800 <= code <= 0xDFFF
        or 0xFDD0 <= code <= 0xFDEF
        or code & 0xFFFE == 0xFFFE
    )


@PROPERTY
@given(st.text(alphabet=st.characters(codec=None)))
def test_clean_line_and_text_drop_what_hides_text_or_breaks_xml(value: str) -> None:
    for cleaned in (clean_line(value), clean_text(value)):
        assert not any(_hides_or_breaks_xml(char) for char in cleaned)
    assert "\u200b" not in clean_line(value)


@PROPERTY
@given(st.text(), st.text())
def test_a_cleaned_link_prints_as_it_is_read(path: str, query: str) -> None:
    link = clean_link(f"http://news.example/{path}?{query}")
    assert link is not None and link.startswith("http://news.example/")
    assert all(char.isprintable() and not char.isspace() for char in link), link


def test_a_link_keeps_its_letters_and_escapes_what_a_terminal_would_obey() -> None:
    raw = "http://news.example/\u009b31m\u202eexe.txt/ünïcode/a b"
    assert clean_link(raw) == "http://news.example/%C2%9B31m%E2%80%AEexe.txt/ünïcode/a%20b"
    assert clean_link(" javascript:alert(1)") is None
    assert clean_link("\thttp://news.example/a\r\nb ") == "http://news.example/ab"
