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
from collections.abc import Callable, Iterator

import pytest
from yarl import URL

from monitor.errors import BlockedURLError, FetchError
from monitor.pipeline import addresses, egress
from monitor.pipeline.fetch import Fetcher
from monitor.pipeline.wire import parse_url
from monitor.settings import HttpSettings
from testkit.webserver import LocalWeb

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
    """Without the early check (the URL parsed but its addresses left unchecked), the
    connection to a literal private address is still refused when connecting."""
    from monitor.pipeline.fetch import client as fetch_module

    async def no_early_check(url: str, policy: egress.EgressPolicy) -> URL:
        return parse_url(url)

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


# --- which addresses are public -----------------------------------------------------------
# One address in every range of IANA's IPv4 and IPv6 Special-Purpose Address Registries
# (and multicast, site-local, IPv6 outside 2000::/3), each chosen outside any narrower
# range, with the range and RFC the refusal must name. Written from the registries, not
# from the code's table; `test_the_table_is_the_registries` keeps the two in step.
SPECIAL_ADDRESSES = [
    ("0.1.2.3", "0.0.0.0/8, RFC 791"),
    ("0.0.0.0", "0.0.0.0/32, RFC 1122"),
    ("10.1.2.3", "10.0.0.0/8, RFC 1918"),
    ("100.64.0.1", "100.64.0.0/10, RFC 6598"),
    ("127.0.0.1", "127.0.0.0/8, RFC 1122"),
    ("169.254.1.1", "169.254.0.0/16, RFC 3927"),
    ("172.16.5.4", "172.16.0.0/12, RFC 1918"),
    ("192.0.0.100", "192.0.0.0/24, RFC 6890"),
    ("192.0.0.1", "192.0.0.0/29, RFC 7335"),
    ("192.0.0.8", "192.0.0.8/32, RFC 7600"),
    ("192.0.0.9", "192.0.0.9/32, RFC 7723"),
    ("192.0.0.10", "192.0.0.10/32, RFC 8155"),
    ("192.0.0.170", "192.0.0.170/32, RFC 8880"),
    ("192.0.0.171", "192.0.0.171/32, RFC 8880"),
    ("192.0.2.1", "192.0.2.0/24, RFC 5737"),
    ("192.31.196.1", "192.31.196.0/24, RFC 7535"),
    ("192.52.193.1", "192.52.193.0/24, RFC 7450"),
    ("192.88.99.1", "192.88.99.0/24, RFC 7526"),
    ("192.88.99.2", "192.88.99.2/32, RFC 6751"),
    ("192.168.1.1", "192.168.0.0/16, RFC 1918"),
    ("192.175.48.1", "192.175.48.0/24, RFC 7534"),
    ("198.19.255.1", "198.18.0.0/15, RFC 2544"),
    ("198.51.100.7", "198.51.100.0/24, RFC 5737"),
    ("203.0.113.9", "203.0.113.0/24, RFC 5737"),
    ("239.255.255.250", "224.0.0.0/4, RFC 5771"),
    ("240.0.0.1", "240.0.0.0/4, RFC 1112"),
    ("255.255.255.255", "255.255.255.255/32, RFC 8190"),
    ("::1", "::1/128, RFC 4291"),
    ("::", "::/128, RFC 4291"),
    ("64:ff9b:1::a00:1", "64:ff9b:1::/48, RFC 8215"),
    ("100::1", "100::/64, RFC 6666"),
    ("100:0:0:1::1", "100:0:0:1::/64, RFC 9780"),
    ("2001:100::1", "2001::/23, RFC 2928"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32, RFC 4380"),
    ("2001:1::1", "2001:1::1/128, RFC 7723"),
    ("2001:1::2", "2001:1::2/128, RFC 8155"),
    ("2001:1::3", "2001:1::3/128, RFC 9665"),
    ("2001:2::1", "2001:2::/48, RFC 5180"),
    ("2001:3::1", "2001:3::/32, RFC 7450"),
    ("2001:4:112::1", "2001:4:112::/48, RFC 7535"),
    ("2001:10::1", "2001:10::/28, RFC 4843"),
    ("2001:20::1", "2001:20::/28, RFC 7343"),
    ("2001:30::1", "2001:30::/28, RFC 9374"),
    ("2001:db8::1", "2001:db8::/32, RFC 3849"),
    ("2620:4f:8000::1", "2620:4f:8000::/48, RFC 7534"),
    ("3fff::1", "3fff::/20, RFC 9637"),
    ("5f00::1", "5f00::/16, RFC 9602"),
    ("fd12:3456::1", "fc00::/7, RFC 4193"),
    ("fe80::1", "fe80::/10, RFC 4291"),
    ("fec0::1", "fec0::/10, RFC 3879"),
    ("ff02::1", "ff00::/8, RFC 4291"),
    ("1000::1", "::/3, RFC 4291"),
    ("4000::1", "4000::/2, RFC 4291"),
    ("a000::1", "8000::/1, RFC 4291"),
]
# The registry's IPv6 forms of an IPv4 address are judged by the address inside.
EMBEDDED_ADDRESSES = [
    ("::ffff:10.0.0.1", "10.0.0.0/8, RFC 1918"),  # IPv4-mapped, RFC 4291
    ("64:ff9b::c0a8:101", "192.168.0.0/16, RFC 1918"),  # NAT64 well-known prefix, RFC 6052
    ("2002:7f00:1::1", "127.0.0.0/8, RFC 1122"),  # 6to4, RFC 3056
    ("::c0a8:101", "192.168.0.0/16, RFC 1918"),  # deprecated IPv4-compatible
]
PUBLIC_ADDRESSES = [
    "93.184.215.14",
    "8.8.8.8",
    "192.0.3.1",  # next to TEST-NET-1
    "100.128.0.1",  # past the shared address space
    "172.32.0.1",  # past 172.16.0.0/12
    "223.255.255.254",  # the last unicast address before multicast
    "2606:4700:4700::1111",
    "2a00:1450:4001:81b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # a public IPv4 host through NAT64
    "2002:808:808::1",
]


@pytest.mark.parametrize(("address", "range_and_rfc"), SPECIAL_ADDRESSES + EMBEDDED_ADDRESSES)
def test_every_special_purpose_address_is_refused_naming_its_range(
    address: str, range_and_rfc: str
) -> None:
    reason = egress.address_refusal(ipaddress.ip_address(address), egress.EgressPolicy(), HOST)
    assert reason is not None and "is not a public address" in reason
    assert range_and_rfc in reason


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_are_allowed(address: str) -> None:
    assert (
        egress.address_refusal(ipaddress.ip_address(address), egress.EgressPolicy(), HOST) is None
    )


@pytest.mark.parametrize(("address", "range_and_rfc"), SPECIAL_ADDRESSES + EMBEDDED_ADDRESSES)
def test_the_settings_still_let_through_any_address_that_is_not_public(
    address: str, range_and_rfc: str
) -> None:
    """As before the table: `allow_private_networks` allows every range, `allowed_hosts`
    every range for the hosts it names (in any case), and no other host."""
    ip = ipaddress.ip_address(address)
    open_policy = egress.EgressPolicy(allow_private_networks=True)
    assert egress.address_refusal(ip, open_policy, HOST) is None
    allowlist = egress.EgressPolicy(allowed_hosts=frozenset({"intranet.example"}))
    assert egress.address_refusal(ip, allowlist, "Intranet.Example") is None
    assert egress.address_refusal(ip, allowlist, HOST) is not None


def test_metadata_is_refused_even_for_an_allowed_host() -> None:
    allowlist = egress.EgressPolicy(allowed_hosts=frozenset({HOST}))
    for address in addresses.METADATA_ADDRESSES:
        assert "metadata" in (egress.address_refusal(address, allowlist, HOST) or "")


def test_the_table_is_the_registries() -> None:
    """Each range in the code is the narrowest one for some address above, and the other way
    round: a range added to or dropped from the code without this test's table fails here."""
    found = {addresses.special_range(ipaddress.ip_address(a)) for a, _ in SPECIAL_ADDRESSES}
    assert found == set(addresses.IPV4_SPECIAL + addresses.IPV6_SPECIAL)


@pytest.fixture
def resolves_to(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[str]]:
    """``resolves_to(address)``: every name resolves to that address; the names asked for."""
    asked: list[str] = []

    def install(address: str) -> list[str]:
        async def resolve(host: str, port: int, url: str) -> list[egress.IPAddress]:
            asked.append(host)
            return [ipaddress.ip_address(address)]

        monkeypatch.setattr(egress, "_resolve", resolve)
        return asked

    return install


def test_site_local_ipv6_is_refused_as_a_literal_and_behind_a_name(
    resolves_to: Callable[[str], list[str]],
) -> None:
    """Before the table, ``fec0::/10`` counted as global and the fetcher connected to it.
    Checked here without a socket: the early check, then the resolver aiohttp connects by."""
    site_local = r"fec0::1 is not a public address: Site-Local .*RFC 3879"
    with pytest.raises(BlockedURLError, match=site_local):
        asyncio.run(egress.check_url("http://[fec0::1]:8080/feed.xml", egress.EgressPolicy()))
    resolves_to("fec0::1")
    with pytest.raises(BlockedURLError, match=site_local):
        asyncio.run(egress.check_url("http://news.example.com/feed.xml", egress.EgressPolicy()))
    with pytest.raises(BlockedURLError, match=site_local):
        asyncio.run(egress.GuardedResolver(egress.EgressPolicy()).resolve("news.example.com", 80))


# --- one reading of the URL -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://evil.example\\@127.0.0.1/", "backslash"),
        ("http://127.0.0.1\\@evil.example/", "backslash"),
        ("http://evil.example\\.good.example/", "backslash"),
        ("http://evil.example:80\\@good.example/", "backslash"),
        ("http:\\\\evil.example/", r"'\\\\\\\\' after http:"),
        ("http:/\\evil.example/", "after http:"),
        ("https:///evil.example/", "after https:"),
        ("http:evil.example/", "'' after http:"),
        (" http://evil.example/", "at its ends"),
        ("http://evil.example/\x00", "at its ends"),
        ("http://%65vil.example/", "percent escape in the host"),
    ],
)
def test_urls_that_browsers_read_with_another_host_are_refused(
    url: str, reason: str, resolves_to: Callable[[str], list[str]]
) -> None:
    """To the client each names a public host; before, the backslash, space and percent ones
    passed the guard, and the slash ones were refused only as naming no host."""
    resolves_to(str(PUBLIC))
    with pytest.raises(BlockedURLError, match=f"ambiguous URL: .*{reason}"):
        asyncio.run(egress.check_url(url, egress.EgressPolicy()))


@pytest.mark.parametrize(
    "url",
    [
        "http://user%5C@news.example/",  # an escaped backslash is no separator to anyone
        "http://news.example/a\\b",  # in the path a backslash moves no host
        "http://news.example/?q=\\@x",
        "HTTP://News.Example/",
    ],
)
def test_unambiguous_urls_pass(url: str, resolves_to: Callable[[str], list[str]]) -> None:
    asked = resolves_to(str(PUBLIC))
    asyncio.run(egress.check_url(url, egress.EgressPolicy()))
    assert asked == ["news.example"]


def test_the_guard_checks_the_host_the_client_connects_to(
    web: LocalWeb, resolves_to: Callable[[str], list[str]]
) -> None:
    """The early check read the URL with urllib (``bücher.example``) and the client with
    yarl (``xn--bcher-kva.example``); now both look up the one name the client sends."""
    asked = resolves_to(str(LOOPBACK))
    web.route("/feed.xml", "<rss/>")
    fetch(f"http://bücher.example:{web.port}/feed.xml", allow_private_networks=True)
    assert asked == ["xn--bcher-kva.example"] * 2
    assert web.requests[0].headers["host"] == f"xn--bcher-kva.example:{web.port}"
