"""All HTTP: one shared client, limits, redirects, caps and conditional GET.

`Fetcher.get` returns a `FetchResult` for 2xx and 304 (304 is its own outcome,
not an error) and raises `FetchError` for everything else, carrying the status
and, for 429/503, the server's Retry-After in seconds.

The client is one `aiohttp.ClientSession` whose connector is the egress guard
(`GuardedConnector`); it costs a fraction of httpx's per-request CPU (see
bench/bench_http.py). What httpx did for the fetcher and aiohttp does differently
is done here the httpx way, so behaviour did not change with the library: the URL
is normalised and percent-encoded by `httpx.URL` and sent as is (`monitor.pipeline.wire`
reads it once, and the egress guard checks that same reading); response headers
are read through `httpx.Headers` (repeated fields joined, the same decoding);
bodies are decoded here (aiohttp's own decompression is off) with httpx's rules
for ``Content-Encoding``; timeouts are not rounded; errors name the httpx
exception that would have been raised (``ReadError``, ``ConnectTimeout``...).
Cookies are kept in one jar that refuses cookies scoped to a public suffix
(`monitor.pipeline.cookies`).
"""

from __future__ import annotations

import asyncio
import builtins
import email.utils
import re
import ssl
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import aiohttp
import httpx
from yarl import URL

from monitor.errors import BlockedURLError, DecodingError, FetchError, ResponseTooLargeError
from monitor.pipeline.addresses import EgressPolicy
from monitor.pipeline.cookies import SiteCookieJar
from monitor.pipeline.egress import GuardedConnector, check_url
from monitor.settings import HttpSettings

if TYPE_CHECKING:
    pass

from monitor.pipeline.fetch.decoding import DecodedTooLarge, content_decoder
from monitor.pipeline.fetch.headers import ResponseHeaders, response_headers_of

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


KEEPALIVE_SECONDS = 5.0  # httpx's keepalive_expiry: an idle connection is closed after this
MAX_HEADER_LINE = 64 * 1024  # one header field or the status line (aiohttp's default: 8190)
MAX_HEADERS = 256
NO_ROUNDING = 1e9  # aiohttp rounds timeouts over this many seconds up to whole seconds


def client_ssl_context() -> ssl.SSLContext:
    """httpx's TLS context (certifi's CAs, verification on), offering HTTP/1.1 by ALPN."""
    context = httpx.create_ssl_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


class Fetcher:
    """One HTTP client session for the whole process, with per-host concurrency limits.

    The session is made on first use (aiohttp needs a running event loop), so a
    `Fetcher` may be built anywhere; use it as an async context manager or call
    `aclose`.
    """

    def __init__(self, settings: HttpSettings):
        self.settings = settings
        self.policy = EgressPolicy.of(settings)
        self._session: aiohttp.ClientSession | None = None
        self._per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.max_per_host)
        )

    def _open(self) -> aiohttp.ClientSession:
        settings = self.settings
        connector = GuardedConnector(
            self.policy,
            ssl=client_ssl_context(),
            limit=settings.max_connections,
            limit_per_host=0,  # the per-host semaphores below limit requests per host name
            keepalive_timeout=KEEPALIVE_SECONDS,
            timeout_ceil_threshold=NO_ROUNDING,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={
                "User-Agent": settings.user_agent,
                "Accept-Encoding": "gzip, deflate",
                "Connection": "keep-alive",
            },
            timeout=aiohttp.ClientTimeout(
                total=None,  # the deadline is `get`'s own
                connect=None,  # waiting for a pooled connection: bounded by the deadline
                sock_connect=settings.connect_timeout,
                sock_read=settings.read_timeout,
                ceil_threshold=NO_ROUNDING,
            ),
            cookie_jar=SiteCookieJar(unsafe=True),  # httpx kept cookies of IP hosts too
            trust_env=False,  # a proxy would resolve the target out of the guard's reach
            auto_decompress=False,  # decoded here, with the cap applied as it decodes
            max_line_size=MAX_HEADER_LINE,
            max_field_size=MAX_HEADER_LINE,
            max_headers=MAX_HEADERS,
            raise_for_status=False,
        )
        return self._session

    async def __aenter__(self) -> Fetcher:
        if self._session is None:
            self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "*/*",
    ) -> FetchResult:
        """GET ``url`` following redirects, within the deadline and the body cap.

        The deadline counts the time this request spends on the network, not the time it
        waits for a free per-host slot (`_slot`): a queue of pages for one slow host must
        not fail pages that were never requested.
        """
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.deadline) as deadline:
                return await self._follow(url, etag, last_modified, accept, started, deadline)
        except TimeoutError as exc:
            raise FetchError(
                url, f"no complete response within {self.settings.deadline:g} s", transient=True
            ) from exc

    async def _follow(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        accept: str,
        started: float,
        deadline: asyncio.Timeout,
    ) -> FetchResult:
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current, permanent, hops = url, None, 0
        while True:
            target = await check_url(current, self.policy)
            async with self._slot(target.raw_host or "", deadline):
                status, response_headers, body = await self._request(current, target, headers)
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

    @asynccontextmanager
    async def _slot(self, host: str, deadline: asyncio.Timeout) -> AsyncIterator[None]:
        """One of ``host``'s slots, with ``deadline`` paused while waiting for it."""
        loop = asyncio.get_running_loop()
        when = deadline.when()
        left = None if when is None else when - loop.time()
        deadline.reschedule(None)
        async with self._per_host[host]:
            deadline.reschedule(None if left is None else loop.time() + left)
            yield

    async def _request(
        self, url: str, target: URL, headers: dict[str, str]
    ) -> tuple[int, ResponseHeaders, bytes]:
        """GET ``target``, the checked reading of ``url``; aiohttp sends it without requoting."""
        session = self._session or self._open()
        try:
            async with session.get(target, headers=headers, allow_redirects=False) as response:
                status = response.status
                response_headers = response_headers_of(response)
                if status in REDIRECT_STATUSES or status == 304:
                    return status, response_headers, b""
                declared = response_headers.get("content-length", "")
                limit = self.settings.max_body_bytes
                too_long = declared.isascii() and declared.isdigit() and int(declared) > limit
                if too_long and 200 <= status < 300:
                    raise ResponseTooLargeError(url, f"Content-Length {declared} over {limit}")
                body = await self._read_capped(response, response_headers, url)
                return status, response_headers, body
        except aiohttp.ClientError as exc:
            raise FetchError(url, _describe(exc), transient=True) from exc
        except BlockedURLError as exc:  # the connect-time guard names only host:port
            raise BlockedURLError(url, f"refused when connecting: {exc.reason}") from exc
        except FetchError as exc:
            if exc.url == url:
                raise
            raise FetchError(
                url, exc.reason, exc.status, exc.retry_after, transient=exc.transient
            ) from exc

    async def _read_capped(
        self, response: aiohttp.ClientResponse, headers: ResponseHeaders, url: str
    ) -> bytes:
        limit = self.settings.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        try:
            decoder = content_decoder(headers, limit)
            async for raw in response.content.iter_any():
                chunk = decoder.decode(raw, limit - size + 1)
                size += len(chunk)
                if size > limit:
                    raise ResponseTooLargeError(url, f"decoded body over {limit} bytes")
                if chunk:
                    chunks.append(chunk)
            chunk = decoder.flush(limit - size + 1)
        except DecodedTooLarge as exc:
            raise ResponseTooLargeError(url, str(exc)) from exc
        except DecodingError as exc:
            raise FetchError(url, f"DecodingError: {exc}") from exc
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
        headers: ResponseHeaders,
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


# --- errors -----------------------------------------------------------------------------------

TRANSIENT_STATUSES = frozenset({408, 425, 429})
"""Besides every 5xx: statuses that say "not now" rather than "no"."""


def is_transient(exc: FetchError) -> bool:
    """Whether asking again later may succeed: a timeout, a connection error, 5xx, 408
    or 429. Not a refusal of the egress policy, a body over the cap, a redirect loop or
    any other 4xx: those answer the same every time."""
    if isinstance(exc, BlockedURLError | ResponseTooLargeError):
        return False
    if exc.status is not None:
        return exc.status >= 500 or exc.status in TRANSIENT_STATUSES
    return exc.transient


def _status_reason(status: int) -> str:
    try:
        from http import HTTPStatus

        return HTTPStatus(status).phrase
    except ValueError:
        return f"unexpected status {status}"


def _describe(exc: aiohttp.ClientError) -> str:
    """``Kind: detail``, the kind being the httpx exception the same failure raised."""
    kind = _httpx_kind(exc)
    detail = str(exc) or kind
    return detail if detail.startswith(kind) else f"{kind}: {detail}"


def _httpx_kind(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "ConnectTimeout"
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return "ReadTimeout"
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, unreachable, TLS failures
        return "ConnectError"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "RemoteProtocolError"
    if isinstance(exc, aiohttp.ClientPayloadError):
        # the body stopped short: a reset is httpx's ReadError, a clean close its
        # RemoteProtocolError ("peer closed connection without sending complete body")
        return "ReadError" if _caused_by_os_error(exc) else "RemoteProtocolError"
    if isinstance(exc, aiohttp.ClientOSError):
        return "ReadError"
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed response
        return "RemoteProtocolError"
    return "TransportError"


def _caused_by_os_error(exc: aiohttp.ClientPayloadError) -> bool:
    """Whether the connection was lost to an OS error (a reset) rather than closed.

    aiohttp chains the parser's complaint (too few bytes) as the cause and records
    the connection's own error only in the message: "... . ConnectionResetError(104, ...)".
    """
    found = _LOST_TO.search(str(exc))
    error = getattr(builtins, found.group(1), None) if found else None
    return isinstance(error, type) and issubclass(error, OSError)


_LOST_TO = re.compile(r"\. (\w+)\(.*\)$", re.DOTALL)
