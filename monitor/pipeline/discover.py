"""Find the feeds a web page advertises, so a user can add a site by its home page.

Declared feeds come first: ``<link rel="alternate">`` with an RSS, Atom or JSON Feed
type. Only when a page declares none are its links searched for addresses that
look like feeds (``/feed``, ``/rss``, ``*.xml`` …), reported as kind ``"guess"``.

The page is untrusted: it is parsed by libxml2's HTML parser, which is linear
on inputs that make the standard library's ``html.parser`` quadratic (thousands
of unclosed tags or comments); only its first `MAX_CHARS` characters and first
`MAX_TAGS` ``<link>``/``<a>`` tags are looked at; only ``http(s)`` results are
kept, and each URL is reported once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice
from typing import Literal
from urllib.parse import urldefrag, urljoin, urlsplit

from lxml import etree

FeedKind = Literal["rss", "atom", "json", "guess"]

MAX_CHARS = 2_000_000
MAX_TAGS = 2_000
MAX_TITLE = 300

_FEED_TYPES: dict[str, FeedKind] = {
    "application/rss+xml": "rss",
    "application/rdf+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "json",
}
_FEEDISH_PATH = re.compile(
    r"(?:^|/)(?:feeds?|rss|atom|rss2)(?:/|\.xml|\.rss|\.atom|$)"
    r"|\.(?:rss|atom|rdf)$|(?:^|/)[^/]*(?:rss|feed|atom)[^/]*\.xml$",
    re.IGNORECASE,
)
_FEEDISH_QUERY = re.compile(r"(?:^|&)(?:feed|format)=(?:rss2?|atom)(?:&|$)", re.IGNORECASE)
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DiscoveredFeed:
    url: str
    title: str
    kind: FeedKind


def discover_feeds(html: bytes | str, base_url: str) -> list[DiscoveredFeed]:
    """The feeds ``html`` (the page at ``base_url``) declares, else the ones it links to."""
    root = _parse(html)
    if root is None:
        return []
    base = _base_of(root, base_url)
    declared: dict[str, DiscoveredFeed] = {}
    guessed: dict[str, DiscoveredFeed] = {}
    for element in islice(root.iter("link", "a"), MAX_TAGS):
        href = element.get("href")
        url = _resolve(base, href) if href else None
        if url is None:
            continue
        if element.tag == "link":
            kind = _declared_kind(element)
            if kind is not None and url not in declared:
                declared[url] = DiscoveredFeed(url, _clean(element.get("title", "")), kind)
        elif not declared and url not in guessed and _looks_like_feed(url):
            guessed[url] = DiscoveredFeed(url, _anchor_title(element), "guess")
    return list((declared or guessed).values())


def _parse(html: bytes | str) -> etree._Element | None:
    # Decoded here and handed over as UTF-8, so that a page's wrong or missing
    # charset and an XHTML <?xml encoding?> line cannot trip the parser. huge_tree
    # lifts libxml2's nesting limit of 256, which sloppy real pages exceed; the
    # input is already capped in size.
    text = _decode(html)[:MAX_CHARS]
    parser = etree.HTMLParser(
        encoding="utf-8", no_network=True, remove_comments=True, huge_tree=True
    )
    try:
        return etree.fromstring(text.encode("utf-8", errors="replace"), parser)
    except (etree.ParserError, etree.XMLSyntaxError):  # empty or hopeless input
        return None


def _base_of(root: etree._Element, page_url: str) -> str:
    """The page URL, or the first ``<base href>`` resolved against it, as browsers do."""
    for base in islice(root.iter("base"), 1):
        resolved = _resolve(page_url, base.get("href", ""))
        if resolved:
            return resolved
    return page_url


def _declared_kind(link: etree._Element) -> FeedKind | None:
    rels = link.get("rel", "").lower().split()
    media_type = link.get("type", "").split(";")[0].strip().lower()
    return _FEED_TYPES.get(media_type) if "alternate" in rels else None


def _anchor_title(anchor: etree._Element) -> str:
    text = _clean("".join(islice(anchor.itertext(), 50))[: MAX_TITLE * 4])
    return text or _clean(anchor.get("title", ""))


def _resolve(base: str, href: str) -> str | None:
    href = href.strip()
    if not href:
        return None  # would resolve to the page itself
    if href.lower().startswith("feed:"):
        # feed://host/x and feed:https://host/x are the old "subscribe" scheme.
        rest = href[5:]
        href = rest if rest.lower().startswith(("http:", "https:")) else "http:" + rest
    try:
        url, _ = urldefrag(urljoin(base, href))
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
    except ValueError:  # an invalid IPv6 literal or port
        return None
    return url


def _looks_like_feed(url: str) -> bool:
    parts = urlsplit(url)
    if "sitemap" in parts.path.lower():
        return False
    return bool(_FEEDISH_PATH.search(parts.path) or _FEEDISH_QUERY.search(parts.query))


def _clean(text: str) -> str:
    return " ".join(text.split())[:MAX_TITLE]


def _decode(html: bytes | str) -> str:
    if isinstance(html, str):
        return html
    head = html[:4096]
    if head.startswith(b"\xef\xbb\xbf"):
        return html[3:].decode("utf-8", errors="replace")
    match = _CHARSET.search(head)
    if match:
        try:
            return html.decode(match.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    return html.decode("utf-8", errors="replace")
