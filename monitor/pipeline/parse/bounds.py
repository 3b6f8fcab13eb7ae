"""Bounding a feed document before any parser sees it, in linear passes over the bytes.

feedparser's cost is not linear in everything: a person field (author, creator…) goes
through a backtracking e-mail regex, quadratic in its length (40 kB: 6 s, 10 MB: hours),
and every item becomes a dict. So `bound_document` cuts person fields to
`MAX_PERSON_BYTES` and the document after `MAX_ITEMS` items (ASCII-compatible encodings;
the body itself is already capped by the fetcher).
"""

from __future__ import annotations

import re

MAX_ITEMS = 10_000  # the highest polling.max_entries_per_pass
MAX_PERSON_BYTES = 1000
_PERSON_TAG = re.compile(
    rb"<((?:[A-Za-z_][\w.-]*:)?(?:author|creator|contributor|managingEditor|webMaster"
    rb"|publisher|owner|name|email))(?:\s[^<>]*)?>",
    re.IGNORECASE,
)
ITEM_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]")
ROOT_TAG = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_ENTITY_TAIL = re.compile(rb"&[^;&<]{0,32}$")


def bound_document(body: bytes) -> tuple[bytes, str | None]:
    """The body with person fields and the item count capped; why it was cut, if it was."""
    body = _cap_person_fields(body)
    starts = [m.start() for m in ITEM_TAG.finditer(body)]
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
    for match in ROOT_TAG.finditer(body[:4096]):
        root = match.group(1)
        if root.lower() == b"rss":
            return b"</channel></rss>"
        return b"</" + root + b">"
    return b""
