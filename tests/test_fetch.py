"""The HTTP module against a real server on loopback: conditional GET, limits, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from monitor.errors import BlockedURLError, FetchError, ResponseTooLargeError
from monitor.pipeline.egress import EgressPolicy, check_url
from monitor.pipeline.fetch import Fetcher, FetchResult
from monitor.settings import HttpSettings
from tests.support.webserver import LocalWeb

T = TypeVar("T")

LOOPBACK = HttpSettings(
    allow_private_networks=True,
    deadline=3,
    read_timeout=2,
    connect_timeout=2,
    max_body_bytes=64 * 1024,
    max_redirects=3,
)


def run(awaitable: Awaitable[T]) -> T:
    async def wrapped() -> T:
        return await awaitable

    return asyncio.run(wrapped())


def get(url: str, settings: HttpSettings = LOOPBACK, **kwargs: str | None) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(settings) as fetcher:
            return await fetcher.get(url, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_conditional_get_gives_304(web: LocalWeb) -> None:
    web.route("/feed.xml", "<rss/>", content_type="application/rss+xml")
    first = get(web.url("/feed.xml"))
    assert first.status == 200 and first.body == b"<rss/>" and first.etag
    again = get(web.url("/feed.xml"), etag=first.etag)
    assert again.not_modified and again.body == b""
    by_date = get(web.url("/feed.xml"), last_modified=first.last_modified)
    assert by_date.not_modified
    assert [r.status for r in web.requests_to("/feed.xml")] == [200, 304, 304]


def test_redirects_are_followed_and_permanent_ones_reported(web: LocalWeb) -> None:
    web.route("/new.xml", "<rss/>")
    web.fault("/old.xml", "redirect", to="/new.xml", status=301)
    result = get(web.url("/old.xml"))
    assert result.final_url == web.url("/new.xml")
    assert result.permanent_redirect == web.url("/new.xml")


def test_redirect_loop_is_capped(web: LocalWeb) -> None:
    web.fault("/loop", "redirect_loop")
    with pytest.raises(FetchError, match="more than 3 redirects"):
        get(web.url("/loop"))
    assert len(web.requests) == 4  # the first request and three redirects, no more


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [(404, {}, None), (500, {}, None), (429, {"Retry-After": "120"}, 120.0), (503, {}, None)],
)
def test_error_statuses_raise_with_status(
    web: LocalWeb, status: int, headers: dict[str, str], retry_after: float | None
) -> None:
    web.route("/x", "nope", status=status, headers=headers)
    with pytest.raises(FetchError) as caught:
        get(web.url("/x"))
    assert caught.value.status == status
    assert caught.value.retry_after == retry_after
    assert web.url("/x") in str(caught.value)


def test_decoded_body_cap_holds_against_a_gzip_bomb(web: LocalWeb) -> None:
    web.fault("/bomb", "gzip_bomb")
    with pytest.raises(ResponseTooLargeError):
        get(web.url("/bomb"))


def test_endless_body_is_cut_at_the_cap(web: LocalWeb) -> None:
    web.fault("/endless", "endless")
    with pytest.raises(ResponseTooLargeError):
        get(web.url("/endless"))


@pytest.mark.parametrize(("kind", "params"), [("hang", {}), ("slow", {"rate": 20, "size": 1000})])
def test_deadline_bounds_a_stalling_server(
    web: LocalWeb, kind: str, params: dict[str, int]
) -> None:
    """A server that trickles bytes (each read well within read_timeout) still hits the deadline."""
    web.fault("/stall", kind, **params)
    with pytest.raises(FetchError) as caught:
        get(web.url("/stall"))
    assert "within 3 s" in str(caught.value) or "Timeout" in str(caught.value)


def test_connection_reset_is_a_fetch_error(web: LocalWeb) -> None:
    web.fault("/reset", "reset")
    with pytest.raises(FetchError):
        get(web.url("/reset"))


def test_loopback_is_refused_unless_allowed(web: LocalWeb) -> None:
    web.route("/feed.xml", "<rss/>")
    closed = HttpSettings()
    with pytest.raises(BlockedURLError, match="not a public address"):
        get(web.url("/feed.xml"), closed)
    assert web.requests == []
    allowlisted = HttpSettings(allowed_hosts=("127.0.0.1",))
    assert get(web.url("/feed.xml"), allowlisted).status == 200


def test_redirect_to_a_private_address_is_refused_on_that_hop(web: LocalWeb) -> None:
    web.fault("/hop", "redirect", to="http://169.254.169.254/latest/meta-data/", status=302)
    with pytest.raises(BlockedURLError, match="metadata"):
        get(web.url("/hop"))


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "file:///etc/passwd",
        "gopher://example.org/",
        "http:///nohost",
    ],
)
def test_egress_guard_refuses_non_public_targets(url: str) -> None:
    with pytest.raises(BlockedURLError):
        run(check_url(url, EgressPolicy()))


def test_metadata_is_refused_even_when_private_networks_are_allowed() -> None:
    with pytest.raises(BlockedURLError, match="metadata"):
        run(check_url("http://169.254.169.254/", EgressPolicy(allow_private_networks=True)))
