"""All HTTP: one shared client, limits, redirects, caps and conditional GET.

`Fetcher.get` returns a `FetchResult` for 2xx and 304 (304 is its own outcome,
not an error) and raises `FetchError` for everything else, carrying the status
and, for 429/503, the server's Retry-After in seconds.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from monitor.errors import BlockedURLError, FetchError, ResponseTooLargeError
from monitor.pipeline.egress import EgressPolicy, GuardedBackend, check_url
from monitor.settings import HttpSettings

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
MAX_RETRY_AFTER = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str
    final_url: str
    status: int
    body: bytes
    content_type: str | None
    etag: str | None
    last_modified: str | None
    seconds: float
    permanent_redirect: str | None = None  # where a 301/308 chain first pointed

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), within a day.

    Garbage, negative values and dates in the past give None (the caller's own
    backoff applies); very long waits are capped.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() also accepts "²" and "٣"
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delay = (when - (now or datetime.now(UTC))).total_seconds()
    return min(delay, MAX_RETRY_AFTER) if delay > 0 else None


def guarded_transport(policy: EgressPolicy, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's own transport, with a connection pool whose every connection is checked.

    ``trust_env=False``: a proxy would resolve the target itself, out of the guard's
    reach, so proxy settings in the environment are not picked up by this transport.
    """
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(policy),
    )
    return transport


class Fetcher:
    """One `httpx.AsyncClient` for the whole process, with per-host concurrency limits."""

    def __init__(
        self, settings: HttpSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ):
        self.settings = settings
        self.policy = EgressPolicy(
            settings.allow_private_networks, frozenset(h.lower() for h in settings.allowed_hosts)
        )
        limits = httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_connections,
        )
        self._client = httpx.AsyncClient(
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.read_timeout,
                pool=settings.deadline,
            ),
            limits=limits,
            follow_redirects=False,
            transport=transport or guarded_transport(self.policy, limits),
            trust_env=False,
        )
        self._per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.max_per_host)
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "*/*",
    ) -> FetchResult:
        """GET ``url`` following redirects, within the deadline and the body cap."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.deadline):
                return await self._follow(url, etag, last_modified, accept, started)
        except TimeoutError as exc:
            raise FetchError(
                url, f"no complete response within {self.settings.deadline:g} s"
            ) from exc

    async def _follow(
        self, url: str, etag: str | None, last_modified: str | None, accept: str, started: float
    ) -> FetchResult:
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current, permanent, hops = url, None, 0
        while True:
            await check_url(current, self.policy)
            host = urlsplit(current).hostname or ""
            async with self._per_host[host]:
                status, response_headers, body = await self._request(current, headers)
            if status in REDIRECT_STATUSES:
                location = response_headers.get("location")
                if not location:
                    raise FetchError(current, "redirect without a Location header", status)
                hops += 1
                if hops > self.settings.max_redirects:
                    raise FetchError(url, f"more than {self.settings.max_redirects} redirects")
                try:
                    target = urljoin(current, location.strip())
                except ValueError as exc:
                    raise FetchError(current, f"invalid redirect Location: {exc}", status) from exc
                if status in PERMANENT_REDIRECTS and hops == 1:
                    permanent = target
                current = target
                continue
            return self._result(url, current, status, response_headers, body, started, permanent)

    async def _request(self, url: str, headers: dict[str, str]) -> tuple[int, httpx.Headers, bytes]:
        try:
            async with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code in REDIRECT_STATUSES or response.status_code == 304:
                    return response.status_code, response.headers, b""
                declared = response.headers.get("content-length", "")
                limit = self.settings.max_body_bytes
                too_long = declared.isascii() and declared.isdigit() and int(declared) > limit
                if too_long and response.is_success:
                    raise ResponseTooLargeError(url, f"Content-Length {declared} over {limit}")
                body = await self._read_capped(response, url)
                return response.status_code, response.headers, body
        except httpx.HTTPError as exc:
            raise FetchError(url, _describe(exc)) from exc
        except BlockedURLError as exc:  # the connect-time guard names only host:port
            raise BlockedURLError(url, f"refused when connecting: {exc.reason}") from exc
        except FetchError as exc:
            if exc.url == url:
                raise
            raise FetchError(url, exc.reason, exc.status, exc.retry_after) from exc

    async def _read_capped(self, response: httpx.Response, url: str) -> bytes:
        limit = self.settings.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ResponseTooLargeError(url, f"decoded body over {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _result(
        self,
        url: str,
        final_url: str,
        status: int,
        headers: httpx.Headers,
        body: bytes,
        started: float,
        permanent: str | None,
    ) -> FetchResult:
        if status == 304 or 200 <= status < 300:
            return FetchResult(
                url=url,
                final_url=final_url,
                status=status,
                body=body,
                content_type=headers.get("content-type"),
                etag=headers.get("etag"),
                last_modified=headers.get("last-modified"),
                seconds=time.monotonic() - started,
                permanent_redirect=permanent,
            )
        retry_after = (
            parse_retry_after(headers.get("retry-after")) if status in (429, 503) else None
        )
        raise FetchError(final_url, _status_reason(status), status, retry_after)


def _status_reason(status: int) -> str:
    try:
        from http import HTTPStatus

        return HTTPStatus(status).phrase
    except ValueError:
        return f"unexpected status {status}"


def _describe(exc: httpx.HTTPError) -> str:
    kind = type(exc).__name__
    detail = str(exc) or kind
    return detail if detail.startswith(kind) else f"{kind}: {detail}"
