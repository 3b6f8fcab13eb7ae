"""Feed documents into entries.

A document that is not a feed is an error, not "zero entries"; a malformed feed that
still yields entries is accepted and marked degraded. Every body is bounded first
(`bounds`), then read by the fast path where it reads what feedparser would (`fast`),
else by feedparser (`reference`).
"""

from __future__ import annotations

from monitor.errors import FeedParseError
from monitor.models import ParsedFeed
from monitor.pipeline.parse.bounds import bound_document
from monitor.pipeline.parse.fast import parse_fast
from monitor.pipeline.parse.fields import entry_key, html_to_text
from monitor.pipeline.parse.reference import parse_with_feedparser

__all__ = ["bound_document", "entry_key", "html_to_text", "parse_feed"]


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse a fetched feed; raise `FeedParseError` when it is not a usable feed."""
    if not body.strip():
        raise FeedParseError(url, "the response body is empty")
    body, cut_reason = bound_document(body)
    fast = parse_fast(body, url, content_type)
    if fast is not None:
        return ParsedFeed(title=fast[0], entries=fast[1], degraded_reason=cut_reason)
    return parse_with_feedparser(body, url, content_type, cut_reason)
