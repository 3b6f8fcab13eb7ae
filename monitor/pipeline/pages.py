"""An article's page: fetched through the egress-guarded client, then extracted in the
sandbox, with what went wrong named and whether asking again later may help."""

from __future__ import annotations

from dataclasses import dataclass

from monitor import metrics
from monitor.errors import ExtractError, FetchError
from monitor.log import get_logger
from monitor.models import ExtractedPage
from monitor.pipeline.fetch import Fetcher, is_transient
from monitor.pipeline.sandbox import Sandbox

log = get_logger("monitor.pipeline")

PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


@dataclass(frozen=True, slots=True)
class PageFetch:
    """A page fetched and extracted, or why not; ``transient``: worth asking again later."""

    page: ExtractedPage | None
    final_url: str
    error: str | None
    transient: bool = False


async def fetch_page(
    fetcher: Fetcher, sandbox: Sandbox, url: str, min_text_chars: int
) -> PageFetch:
    """The page at ``url`` and its text, or why not (never raises for the page's faults).
    A page whose text is shorter than ``min_text_chars`` is kept but marked failed, so
    the feed's summary stands for it."""
    try:
        with metrics.timed("fetch_page"):
            result = await fetcher.get(url, accept=PAGE_ACCEPT)
    except FetchError as exc:
        log.info("page.fetch_failed", url=url, status=exc.status, error=exc.reason)
        return PageFetch(None, url, str(exc), transient=is_transient(exc))
    try:
        with metrics.timed("extract"):
            page = await sandbox.extract(result.body, result.final_url)
    except ExtractError as exc:
        log.info("page.extract_failed", url=url, error=exc.reason)
        return PageFetch(None, result.final_url, str(exc), transient=exc.transient)
    if len(page.text) < min_text_chars:
        reason = f"extracted text too short ({len(page.text)} characters)"
        return PageFetch(page, result.final_url, reason)
    return PageFetch(page, result.final_url, None)
