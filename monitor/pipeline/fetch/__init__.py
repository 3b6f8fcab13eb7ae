"""All HTTP: one shared client (`client`), response headers read the httpx way
(`headers`) and bodies decoded the httpx way (`decoding`). The package's names are
its client's."""

from monitor.pipeline.fetch.client import (
    PERMANENT_REDIRECTS,
    REDIRECT_STATUSES,
    Fetcher,
    FetchResult,
    is_transient,
    parse_retry_after,
)

__all__ = [
    "PERMANENT_REDIRECTS",
    "REDIRECT_STATUSES",
    "FetchResult",
    "Fetcher",
    "is_transient",
    "parse_retry_after",
]
