"""Feed documents into entries, with feedparser on the bytes we fetched.

feedparser is never handed a URL or a path: it would fetch or open it itself.
A document that is not a feed is an error, not "zero entries"; a malformed feed
that still yields entries is accepted and marked degraded.

feedparser's cost is not linear in everything: a person field (author, creator…)
goes through a backtracking e-mail regex, quadratic in its length (40 kB: 6 s,
10 MB: hours), and every item becomes a dict. So before feedparser sees a body,
`bound_document` cuts person fields to `MAX_PERSON_BYTES` and the document after
`MAX_ITEMS` items, in linear passes over the bytes (ASCII-compatible encodings;
the body itself is already capped by the fetcher). Entity expansion and external
entities are left to feedparser's expat and sgmllib parsers, which expand neither.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from datetime import UTC, datetime
from typing import Any

import feedparser
import lxml.html
from lxml.etree import ParserError

from monitor.errors import FeedParseError
from monitor.models import Entry, ParsedFeed
from monitor.text import clean_line, clean_text

MAX_TITLE = 1000
MAX_SUMMARY = 20_000
MAX_URL = 2048
MAX_ITEMS = 10_000  # the highest polling.max_entries_per_pass
MAX_PERSON_BYTES = 1000
_PERSON_TAG = re.compile(
    rb"<((?:[A-Za-z_][\w.-]*:)?(?:author|creator|contributor|managingEditor|webMaster"
    rb"|publisher|owner|name|email))(?:\s[^<>]*)?>",
    re.IGNORECASE,
)
_ITEM_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]")
_ROOT_TAG = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_ENTITY_TAIL = re.compile(rb"&[^;&<]{0,32}$")
# Flags about HTTP headers or a declared charset that feedparser recovered from by itself.
BENIGN_PROBLEMS = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse a fetched feed; raise `FeedParseError` when it is not a usable feed."""
    if not body.strip():
        raise FeedParseError(url, "the response body is empty")
    body, cut_reason = bound_document(body)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True)
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


def bound_document(body: bytes) -> tuple[bytes, str | None]:
    """The body with person fields and the item count capped; why it was cut, if it was."""
    body = _cap_person_fields(body)
    starts = [m.start() for m in _ITEM_TAG.finditer(body)]
    if len(starts) <= MAX_ITEMS:
        return body, None
    cut = body[: starts[MAX_ITEMS]] + _closing_tags(body)
    return cut, f"the feed has {len(starts)} items; only the first {MAX_ITEMS} are read"


def _cap_person_fields(body: bytes) -> bytes:
    pieces: list[bytes] = []
    position = 0
    for match in _PERSON_TAG.finditer(body):
        start = match.end()
        if start < position:
            continue
        span = _overlong_text(body, start)
        if span is None:
            continue
        end, replacement = span
        pieces += [body[position:start], replacement]
        position = end
    if not pieces:
        return body
    pieces.append(body[position:])
    return b"".join(pieces)


def _overlong_text(body: bytes, start: int) -> tuple[int, bytes] | None:
    """Where the text (or CDATA) at ``start`` ends and its capped form, if it is too long."""
    if body.startswith(b"<![CDATA[", start):
        inner = start + len(b"<![CDATA[")
        close = body.find(b"]]>", inner)
        if close == -1 or close - inner <= MAX_PERSON_BYTES:
            return None
        return close + 3, b"<![CDATA[" + body[inner : inner + MAX_PERSON_BYTES] + b"]]>"
    end = body.find(b"<", start)
    end = len(body) if end == -1 else end
    if end - start <= MAX_PERSON_BYTES:
        return None
    return end, _ENTITY_TAIL.sub(b"", body[start : start + MAX_PERSON_BYTES])


def _closing_tags(body: bytes) -> bytes:
    """Best guess at what closes a feed cut after an item; feedparser copes if it is wrong."""
    for match in _ROOT_TAG.finditer(body[:4096]):
        root = match.group(1)
        if root.lower() == b"rss":
            return b"</channel></rss>"
        return b"</" + root + b">"
    return b""


def entry_key(guid: str | None, link: str | None, title: str, summary: str) -> str:
    """Identity of an entry within its feed: GUID, else link, else a hash of its content."""
    if guid:
        return f"guid:{guid[:MAX_URL]}"
    if link:
        return f"link:{link[:MAX_URL]}"
    digest = hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()
    return f"hash:{digest}"


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment (feed summaries are HTML more often than not)."""
    if "<" not in fragment and "&" not in fragment:
        return fragment
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (ParserError, ValueError):
        return fragment
    for block in root.iter("p", "br", "div", "li", "h1", "h2", "h3", "h4"):
        block.tail = "\n\n" + (block.tail or "")
    return str(root.text_content())


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
    if not isinstance(value, str):
        return None
    link = value.strip()
    if len(link) > MAX_URL or not link.lower().startswith(("http://", "https://")):
        return None
    return link


def _date(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
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
