"""What both parsing paths share: the field limits, an entry's identity within its
feed, and the visible text of an HTML fragment."""

from __future__ import annotations

import hashlib

import lxml.html
from lxml.etree import ParserError

MAX_TITLE = 1000
MAX_SUMMARY = 20_000
MAX_URL = 2048


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
