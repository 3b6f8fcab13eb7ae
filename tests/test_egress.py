"""The egress guard holds at connect time, not only in the early check.

DNS rebinding: a hostile name server answers a public address when the fetcher
checks the URL, then 127.0.0.1 when the HTTP client resolves the name again to
connect. The tests replace the one resolution function the guard uses
(`egress._resolve`) with a scripted resolver, so both answers come from the
"attacker" while every socket still goes to the real local server. The public
address is only ever checked, never connected to: the guard connects to the
address it checked in the same call, which here is always loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator

import pytest

from monitor.errors import BlockedURLError, FetchError
from monitor.pipeline import egress
from monitor.pipeline.fetch import Fetcher
from monitor.settings import HttpSettings
from tests.support.webserver import LocalWeb

PUBLIC = ipaddress.ip_address("93.184.215.14")
LOOPBACK = ipaddress.ip_address("127.0.0.1")
HOST = "rebind.example"


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Answers PUBLIC to the first lookup of HOST and LOOPBACK to every later one."""
    asked: list[str] = []

    async def resolve(host: str, port: int, url: str) -> list[egress.IPAddress]:
        if host != HOST:
            raise AssertionError(f"unexpected lookup of {host}")
        asked.append(host)
        return [PUBLIC] if len(asked) == 1 else [LOOPBACK]

    monkeypatch.setattr(egress, "_resolve", resolve)
    yield asked


def fetch(url: str, **settings: object) -> None:
    async def go() -> None:
        async with Fetcher(HttpSettings.model_validate(settings)) as fetcher:
            await fetcher.get(url)

    asyncio.run(go())


def test_rebinding_to_loopback_after_the_check_never_connects(
    web: LocalWeb, lookups: list[str]
) -> None:
    web.route("/feed.xml", "<rss version='2.0'><channel></channel></rss>")
    with pytest.raises(BlockedURLError, match=r"refused when connecting.*127\.0\.0\.1"):
        fetch(f"http://{HOST}:{web.port}/feed.xml")
    assert lookups == [HOST, HOST]  # checked once (public), then re-resolved to connect
    assert web.requests == []


def test_guard_connects_to_the_checked_address_and_keeps_the_host_header(
    web: LocalWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def resolve(host: str, port: int, url: str) -> list[egress.IPAddress]:
        return [LOOPBACK]

    monkeypatch.setattr(egress, "_resolve", resolve)
    web.route("/page.html", "<p>hello</p>")
    fetch(f"http://{HOST}:{web.port}/page.html", allowed_hosts=[HOST])
    (request,) = web.requests
    assert request.headers["host"] == f"{HOST}:{web.port}"
    assert request.status == 200


def test_a_name_with_one_private_address_among_public_ones_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def resolve(host: str, port: int, url: str) -> list[egress.IPAddress]:
        return [PUBLIC, LOOPBACK]

    monkeypatch.setattr(egress, "_resolve", resolve)
    resolver = egress.GuardedResolver(egress.EgressPolicy())
    with pytest.raises(BlockedURLError, match="not a public address"):
        asyncio.run(resolver.resolve(HOST, 80))


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:127.0.0.1]:9/",
        "http://[::1]:9/",
        "http://0.0.0.0:9/",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
    ],
)
def test_early_check_refuses_private_metadata_and_non_http(url: str) -> None:
    with pytest.raises(BlockedURLError):
        asyncio.run(egress.check_url(url, egress.EgressPolicy()))


def test_metadata_is_refused_even_with_private_networks_allowed() -> None:
    policy = egress.EgressPolicy(allow_private_networks=True)
    with pytest.raises(BlockedURLError, match="metadata"):
        asyncio.run(egress.check_url("http://169.254.169.254/", policy))


def test_an_unresolvable_name_is_a_fetch_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(host: str, port: int, url: str) -> list[egress.IPAddress]:
        return []

    monkeypatch.setattr(egress, "_resolve", resolve)
    with pytest.raises(FetchError, match="no address"):
        asyncio.run(egress.check_url(f"http://{HOST}/", egress.EgressPolicy()))


def test_an_ip_literal_is_checked_at_connect_time_too(
    web: LocalWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the early check (as if another URL parser had seen another host), the
    connection to a literal private address is still refused when connecting."""
    from monitor.pipeline import fetch as fetch_module

    async def no_early_check(url: str, policy: egress.EgressPolicy) -> None:
        return None

    monkeypatch.setattr(fetch_module, "check_url", no_early_check)
    web.route("/feed.xml", "<rss/>")
    for url in (web.url("/feed.xml"), f"http://[::ffff:127.0.0.1]:{web.port}/feed.xml"):
        with pytest.raises(BlockedURLError, match=r"refused when connecting.*127\.0\.0\.1"):
            fetch(url)
    assert web.requests == []


def test_the_connection_goes_to_the_address_checked_for_each_new_connection(
    web: LocalWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every new connection resolves and checks again; an idle kept-alive one is reused."""
    answers: list[str] = []

    async def resolve(host: str, port: int, url: str) -> list[egress.IPAddress]:
        answers.append(host)
        return [LOOPBACK]

    monkeypatch.setattr(egress, "_resolve", resolve)
    web.route("/a", "a")
    web.route("/b", "b")

    async def go() -> list[bytes]:
        settings = HttpSettings(allowed_hosts=(HOST,))
        async with Fetcher(settings) as fetcher:
            first = await fetcher.get(f"http://{HOST}:{web.port}/a")
            second = await fetcher.get(f"http://{HOST}:{web.port}/b")
            return [first.body, second.body]

    assert asyncio.run(go()) == [b"a", b"b"]
    # early check + connect for the first request; early check only for the second,
    # which reuses the connection
    assert answers == [HOST, HOST, HOST]
    assert [r.headers["host"] for r in web.requests] == [f"{HOST}:{web.port}"] * 2
