"""OPML feed lists in and out: what feed readers export and import.

`parse_opml` reads OPML 1.0/2.0 as exported by feed readers (nested folders of
``<outline xmlUrl=…>``) into `FeedSpec` values; `write_opml` writes OPML 2.0.

An imported file comes from elsewhere, so parsing is defensive: lxml runs with no
network, no DTD loading and no entity substitution, and a document that declares
entities is refused outright, because libxml2 still expands internal entities
inside attribute values (where OPML keeps everything).

A feed's name is its outline's ``title``, else its ``text`` (whitespace collapsed;
a name that is just the URL counts as none). Only ``http``/``https`` URLs are taken;
other outlines (folders, links, ``javascript:``) are skipped, and a URL seen twice
(scheme and host compared case-insensitively) is kept once, first wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

from lxml import etree

from monitor.errors import OPMLError
from monitor.models import FeedSpec
from monitor.text import clean_line

MONITOR_NS = "urn:monitor:opml"
"""Namespace of the one attribute OPML lacks: the polling interval, in seconds."""

_INTERVAL = f"{{{MONITOR_NS}}}interval"
_NOT_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_UNKNOWN_LANGUAGE = {"", "unknown", "und"}
_POSITION_SUFFIX = re.compile(r"(?:,? line \d+)?, line \d+, column \d+$")


def parse_opml(data: bytes, *, source: str = "OPML document") -> list[FeedSpec]:
    """The feeds listed in an OPML document, in document order.

    ``source`` names the document (a file name) in error messages.
    """
    root = _parse_xml(data, source)
    name = etree.QName(root).localname
    if name.lower() != "opml":
        raise OPMLError(source, f"not an OPML document: the root element is <{name}>")
    body = next((child for child in root if _local(child) == "body"), None)
    if body is None:
        raise OPMLError(source, "the OPML document has no <body>", root.sourceline)
    feeds: dict[str, FeedSpec] = {}
    for outline in _outlines(body):
        spec = _feed_of(outline, source)
        if spec is not None:
            feeds.setdefault(_identity(spec.url), spec)
    return list(feeds.values())


def write_opml(feeds: Sequence[FeedSpec], title: str) -> str:
    """An OPML 2.0 document listing ``feeds`` under a head titled ``title``."""
    root = etree.Element("opml", nsmap={"monitor": MONITOR_NS})
    root.set("version", "2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = _xml_safe(title)
    body = etree.SubElement(root, "body")
    for feed in feeds:
        outline = etree.SubElement(body, "outline")
        name = _xml_safe(feed.name)
        # OPML 2.0 requires `text`; a nameless feed shows its URL.
        outline.set("type", "rss")
        outline.set("text", name or _xml_safe(feed.url))
        if name:
            outline.set("title", name)
        outline.set("xmlUrl", _xml_safe(feed.url))
        if feed.language:
            outline.set("language", _xml_safe(feed.language))
        if feed.interval_seconds is not None:
            outline.set(_INTERVAL, str(feed.interval_seconds))
    document: bytes = etree.tostring(
        root, xml_declaration=True, encoding="UTF-8", pretty_print=True
    )
    return document.decode("utf-8")


def _parse_xml(data: bytes, source: str) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        line, column = error.position
        message = _POSITION_SUFFIX.sub("", error.msg)
        reason = f"not well-formed XML: {message}"
        raise OPMLError(source, reason, line or None, column or None) from error
    if root is None:
        raise OPMLError(source, "the document is empty")
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise OPMLError(source, "the document declares XML entities, which OPML never needs")
    return root


def _local(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname.lower() if isinstance(tag, str) else ""


def _outlines(parent: etree._Element) -> Iterator[etree._Element]:
    for element in parent.iter():
        if _local(element) == "outline":
            yield element


def _attribute(element: etree._Element, name: str) -> str:
    """An attribute by case-insensitive name (exporters write ``xmlUrl`` and ``xmlurl``)."""
    for key, value in element.attrib.items():
        if isinstance(key, str) and key.lower() == name:
            return clean_line(str(value), 2048)
    return ""


def _feed_of(outline: etree._Element, source: str) -> FeedSpec | None:
    url = _attribute(outline, "xmlurl")
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
    except ValueError:  # e.g. a broken IPv6 literal
        return None
    name = _attribute(outline, "title") or _attribute(outline, "text")
    language = _attribute(outline, "language")
    return FeedSpec(
        url=url,
        name="" if name == url else name,
        language=None if language.lower() in _UNKNOWN_LANGUAGE else language,
        interval_seconds=_interval(outline, source),
    )


def _interval(outline: etree._Element, source: str) -> int | None:
    value = outline.get(_INTERVAL)
    if value is None:
        return None
    try:
        seconds = int(value)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise OPMLError(
            source, f"monitor:interval must be a positive whole number of seconds, not {value!r}",
            outline.sourceline,
        )  # fmt: skip
    return seconds


def _identity(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()))


def _xml_safe(text: str) -> str:
    """``text`` without the control characters XML 1.0 cannot carry at all."""
    return _NOT_XML_CHARS.sub("", text)
