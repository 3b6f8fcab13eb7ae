"""The reference path: feedparser on the bounded body (any feed, however broken).

feedparser is never handed a URL or a path: it would fetch or open it itself. Entity
expansion and external entities are left to feedparser's expat and sgmllib parsers,
which expand neither.
"""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.errors import FeedParseError
from monitor.models import Entry, ParsedFeed
from monitor.pipeline.parse.fields import MAX_SUMMARY, MAX_TITLE, MAX_URL, entry_key, html_to_text
from monitor.text import clean_date, clean_line, clean_link, clean_text

BENIGN_PROBLEMS = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)


def parse_with_feedparser(
    body: bytes, url: str, content_type: str | None, cut_reason: str | None
) -> ParsedFeed:
    """The reference path: feedparser on the bounded body (any feed, however broken)."""
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True)
    except (MemoryError, RecursionError):  # limits: the sandbox names them
        raise
    except Exception as exc:  # feedparser is meant never to raise; guard all the same
        raise FeedParseError(url, f"the parser failed: {exc}") from exc
    entries = tuple(
        entry for entry in (_entry(raw, url) for raw in parsed.entries) if entry is not None
    )
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if isinstance(problem, BENIGN_PROBLEMS):
        problem = None
    if not parsed.get("version") and not entries:
        raise FeedParseError(url, _not_a_feed_reason(body, problem))
    title = clean_line(parsed.feed.get("title"), MAX_TITLE)
    degraded = f"malformed feed: {_short(problem)}" if problem is not None else None
    if cut_reason:
        degraded = cut_reason
    return ParsedFeed(title=title, entries=entries, degraded_reason=degraded)


def _entry(raw: Any, feed_url: str) -> Entry | None:
    link = _http_link(raw.get("link"))
    guid = clean_line(raw.get("id"), MAX_URL) or None
    title = clean_line(html_to_text(raw.get("title", "")), MAX_TITLE)
    summary = _summary(raw)
    if not (link or title or summary):
        return None
    return Entry(
        key=entry_key(guid, link, title, summary),
        link=link,
        title=title,
        summary=summary,
        # dict.get: FeedParserDict.get would map a missing published to updated, with a warning
        published=_date(dict.get(raw, "published_parsed") or dict.get(raw, "updated_parsed")),
        author=clean_line(raw.get("author"), 300) or None,
        guid=guid,
    )


def _summary(raw: Any) -> str:
    html = raw.get("summary", "")
    content = raw.get("content") or []
    if content and len(content[0].get("value", "")) > len(html):
        html = content[0].get("value", "")
    return clean_text(html_to_text(html[: MAX_SUMMARY * 4]), MAX_SUMMARY)


def _http_link(value: Any) -> str | None:
    return clean_link(value, MAX_URL)


def _date(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return clean_date(datetime.fromtimestamp(calendar.timegm(value), UTC))
    except (OverflowError, ValueError, OSError):
        return None


def _not_a_feed_reason(body: bytes, problem: object) -> str:
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "the document is an HTML page, not a feed (use `monitor feeds discover` on it)"
    if problem is not None:
        return f"not RSS or Atom: {_short(problem)}"
    return "not RSS or Atom, and no entries found"


def _short(problem: object) -> str:
    return clean_line(str(problem), 200)
