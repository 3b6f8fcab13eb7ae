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
import xml.parsers.expat
from datetime import UTC, datetime
from typing import Any

import fastfeedparser  # type: ignore[import-untyped]
import feedparser
import lxml.html
from lxml.etree import ParserError

from monitor.errors import FeedParseError
from monitor.models import Entry, ParsedFeed
from monitor.text import clean_date, clean_line, clean_link, clean_text

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
    fast = _parse_fast(body, url, content_type)
    if fast is not None:
        return ParsedFeed(title=fast[0], entries=fast[1], degraded_reason=cut_reason)
    return _parse_with_feedparser(body, url, content_type, cut_reason)


def _parse_with_feedparser(
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


# --- the fast path -------------------------------------------------------------
#
# fastfeedparser reads the same fields ~60x faster but differs from feedparser at the
# edges: it synthesises ids from links and links from GUIDs, leaves relative links
# unresolved, does not sanitize HTML, parses more date formats, and recovers from
# malformed XML without saying so. It is used only for documents where none of that
# can matter, checked on the bytes; anything else goes to feedparser
# (tests/test_parse_fast.py holds the two paths to the same output).

_FAST_FORBIDDEN = re.compile(rb"<!DOCTYPE|<!ENTITY|<\?xml-stylesheet|xml:base", re.IGNORECASE)
_XML_DECLARED_ENCODING = re.compile(rb"<\?xml[^>]*encoding=[\"']([^\"']*)[\"']")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\s;\"']+)", re.IGNORECASE)
_ROOTS = {b"rss": "rss", b"rdf:RDF": "rdf", b"feed": "atom"}
_GUID_TAG = re.compile(rb"<guid[\s>]")
_ATOM_ID_TAG = re.compile(rb"<id>")
_EMPTY_RSS_LINK = re.compile(rb"<link(?:\s[^<>]*)?(?:/>|>\s*</link>)")
_EMPTY_ID = re.compile(rb"<(guid|id)(?:\s[^<>]*)?(?:/>|>\s*</\1>)")
_LINK_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?link[\s>/]")
_DATE_ELEMENT = re.compile(
    rb"<((?:dc:)?(?:pubDate|date|published|updated|issued|modified|created))(?:\s[^<>]*)?>"
    rb"([^<]*)</"
)
_RFC822_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct"
    r"|Nov|Dec) \d{4} (?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d (?:GMT|UTC|[+-]\d{4})"
)
_ISO_DATE = re.compile(
    r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)"
)
_UNSAFE_HTML = re.compile(r"<\s*/?\s*(?:script|style|applet|svg|math)|<!|<\?", re.IGNORECASE)


def _parse_fast(
    body: bytes, url: str, content_type: str | None
) -> tuple[str, tuple[Entry, ...]] | None:
    """Title and entries by fastfeedparser, or None where feedparser must decide."""
    kind = _fast_kind(body, content_type)
    if kind is None:
        return None
    items = len(_ITEM_TAG.findall(body))
    if items == 0 or not _fast_counts_fit(body, kind, items):
        return None
    try:
        parsed = fastfeedparser.parse(body, include_tags=False, include_media=False)
    except (MemoryError, RecursionError):  # limits: the sandbox names them
        raise
    except Exception:  # any failure: feedparser decides
        return None
    raw_entries = parsed.get("entries") or []
    if len(raw_entries) != items:
        return None
    entries: list[Entry] = []
    try:
        for raw in raw_entries:
            entry = _fast_entry(raw)
            if entry is not None:
                entries.append(entry)
    except _NotFast:
        return None
    feed_title = (parsed.get("feed") or {}).get("title") or ""
    if not isinstance(feed_title, str) or _UNSAFE_HTML.search(feed_title) or "<" in feed_title:
        return None
    return clean_line(feed_title, MAX_TITLE), tuple(entries)


def _fast_kind(body: bytes, content_type: str | None) -> str | None:
    """The feed kind when the document is plain, well-formed UTF-8 XML; else None."""
    if content_type:
        charset = _CHARSET.search(content_type)
        if charset is not None and charset.group(1).lower() not in ("utf-8", "utf8"):
            return None
        if charset is None and content_type.split(";")[0].strip().lower().startswith("text/"):
            return None  # RFC 3023: feedparser reads text/* without a charset as us-ascii
    if _FAST_FORBIDDEN.search(body):
        return None
    declared = _XML_DECLARED_ENCODING.search(body[:200])
    if declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return None
    if body.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not _well_formed(body):
        return None
    root = _ROOT_TAG.search(body)
    return _ROOTS.get(root.group(1)) if root is not None else None


def _well_formed(body: bytes) -> bool:
    parser = xml.parsers.expat.ParserCreate()
    try:
        parser.Parse(body, True)
    except xml.parsers.expat.ExpatError:
        return False
    return True


def _fast_counts_fit(body: bytes, kind: str, items: int) -> bool:
    """Every item has exactly one identity, one link and one date in a known layout."""
    first = _ITEM_TAG.search(body)
    assert first is not None
    inside = body[first.start() :]
    if kind == "rss" and len(_GUID_TAG.findall(inside)) != items:
        return False
    if _EMPTY_ID.search(inside):
        return False  # fastfeedparser would use the link as the id
    if kind != "atom" and _EMPTY_RSS_LINK.search(inside):
        return False  # fastfeedparser would use a URL GUID as the link
    if kind == "rss" and _ATOM_ID_TAG.search(inside):
        return False
    if kind == "atom" and len(_ATOM_ID_TAG.findall(inside)) != items:
        return False
    if len(_LINK_TAG.findall(inside)) != items:
        return False
    dates = _DATE_ELEMENT.findall(inside)
    names = {name for name, _ in dates}
    if kind == "atom":
        if names - {b"published", b"updated"} or len(dates) > 2 * items:
            return False
    elif len(dates) != items or len(names) != 1:
        return False
    for _, value in dates:
        text = value.decode("utf-8").strip()
        if not (_RFC822_DATE.fullmatch(text) or _ISO_DATE.fullmatch(text)):
            return False
    return True


class _NotFast(Exception):
    """This entry needs feedparser's reading."""


def _fast_entry(raw: Any) -> Entry | None:
    """An entry as `_entry` makes it from feedparser's (None: skipped, as there)."""
    values = [raw.get("title") or "", raw.get("description") or ""]
    values += [part.get("value") or "" for part in raw.get("content") or []]
    if any(_UNSAFE_HTML.search(value) for value in values):
        raise _NotFast  # feedparser's sanitizer drops what lxml would keep
    link_value = raw.get("link")
    link = _http_link(link_value)
    if link_value and link is None:
        raise _NotFast  # relative or odd: feedparser resolves or drops it
    guid = clean_line(raw.get("id"), MAX_URL) or None
    if guid is None or raw.get("published") is None:
        raise _NotFast
    title = clean_line(html_to_text(raw.get("title") or ""), MAX_TITLE)
    summary = _fast_summary(raw)
    if not (link or title or summary):
        return None
    author = raw.get("author")
    if isinstance(author, str) and ("@" in author or "<" in author):
        raise _NotFast  # feedparser splits names from e-mail addresses
    return Entry(
        key=entry_key(guid, link, title, summary),
        link=link,
        title=title,
        summary=summary,
        published=_fast_date(raw.get("published")),
        author=clean_line(author, 300) or None,
        guid=guid,
    )


def _fast_summary(raw: Any) -> str:
    html = raw.get("description") or ""
    content = raw.get("content") or []
    if content and len(content[0].get("value") or "") > len(html):
        html = content[0].get("value") or ""
    return clean_text(html_to_text(html[: MAX_SUMMARY * 4]), MAX_SUMMARY)


def _fast_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    cleaned = clean_date(parsed)
    return cleaned.replace(microsecond=0) if cleaned else None


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
