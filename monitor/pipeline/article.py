"""An entry and its page made into the article that is matched and stored: a pure function.

Which text, title, language, date and outlet an article gets when the page is there,
failed, or was never fetched is decided here, and only here, for a first fetch and a
retried page alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from monitor.models import Article, Document, Entry, ExtractedPage, FeedSpec
from monitor.pipeline.match import Matcher
from monitor.text import clean_date

CanonicalURL = Callable[..., str]
"""`Folding.canonical_url`: (url, *, page_canonical, final_url) -> the identity URL."""


def assemble_article(
    spec: FeedSpec,
    entry: Entry,
    page: ExtractedPage | None,
    error: str | None,
    final_url: str,
    *,
    canonical_url: CanonicalURL,
    matcher: Matcher,
    now: datetime,
) -> Article:
    """The article of ``entry``: the page's text unless the page failed (``error``), else
    the feed's summary; the feed's title and date before the page's. ``now`` is the fetch
    time, near enough: a date far after it is unknown."""
    use_page = page is not None and error is None
    text = page.text if use_page and page else entry.summary
    title = entry.title or (page.title if page and page.title else "") or final_url
    language = (page.language if page else None) or spec.language
    url = entry.link or final_url
    canonical = (
        canonical_url(url, page_canonical=page.canonical_url if page else None, final_url=final_url)
        if entry.link
        else final_url
    )
    published = clean_date(entry.published, now) or clean_date(
        page.published if page else None, now
    )
    matches = matcher.match(Document(title=title, text=text, language=language))
    return Article(
        url=url,
        feed_url=spec.url,
        entry_key=entry.key,
        title=title,
        text=text,
        outlet=spec.name or (page.site_name if page else None) or _host(url),
        published=published,
        language=language,
        author=entry.author or (page.author if page else None),
        canonical_url=canonical,
        extract_error=error,
        matches=matches,
    )


def _host(url: str) -> str:
    return urlsplit(url).hostname or url
