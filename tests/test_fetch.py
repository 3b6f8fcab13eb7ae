"""The HTTP module against a real server on loopback: conditional GET, limits, errors."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from monitor.errors import BlockedURLError, FetchError, ResponseTooLargeError
from monitor.pipeline import egress
from monitor.pipeline.addresses import EgressPolicy, IPAddress
from monitor.pipeline.egress import check_url
from monitor.pipeline.fetch import Fetcher, FetchResult
from monitor.pipeline.fetch.decoding import BrotliDecoder
from monitor.settings import HttpSettings
from testkit.webserver import LocalWeb

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


# --- behaviour the HTTP transport must not change ------------------------------------
# Written against the httpx-based fetcher and kept when the transport changed to aiohttp:
# each pins down something a different client library could do differently.


def test_validators_content_type_and_request_headers(web: LocalWeb) -> None:
    web.route("/a.xml", "<rss/>", content_type="application/rss+xml; charset=utf-8")
    settings = LOOPBACK.model_copy(update={"user_agent": "probe/1.0"})
    result = get(web.url("/a.xml"), settings, accept="application/rss+xml")
    assert (result.status, result.body, result.url, result.final_url) == (
        200,
        b"<rss/>",
        web.url("/a.xml"),
        web.url("/a.xml"),
    )
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.etag and result.etag.startswith('"')
    assert result.last_modified == "Mon, 04 Nov 2024 08:00:00 GMT"
    assert result.permanent_redirect is None and result.seconds >= 0
    (request,) = web.requests
    assert request.headers["user-agent"] == "probe/1.0"
    assert request.headers["accept"] == "application/rss+xml"
    assert request.headers["accept-encoding"] == "gzip, deflate"
    assert request.headers["host"] == f"127.0.0.1:{web.port}"
    assert "if-none-match" not in request.headers and "if-modified-since" not in request.headers
    get(web.url("/a.xml"), etag='"x"', last_modified="Sun, 03 Nov 2024 08:00:00 GMT")
    conditional = web.requests[-1].headers
    assert conditional["if-none-match"] == '"x"'
    assert conditional["if-modified-since"] == "Sun, 03 Nov 2024 08:00:00 GMT"


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


def _zlib(data: bytes) -> bytes:
    import zlib

    return zlib.compress(data)


def _raw_deflate(data: bytes) -> bytes:
    import zlib

    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def _brotli(data: bytes) -> bytes:
    brotli = pytest.importorskip("brotli")
    return bytes(brotli.compress(data))


TEXT = b"<rss><channel><title>decoded</title></channel></rss>" * 50


@pytest.mark.parametrize(
    ("encoding", "encode", "expected"),
    [
        ("gzip", _gzip, TEXT),
        ("GZIP", _gzip, TEXT),  # content codings are case-insensitive
        ("deflate", _zlib, TEXT),  # zlib-wrapped, as the RFC says
        ("deflate", _raw_deflate, TEXT),  # raw deflate, as some servers send
        ("gzip, gzip", lambda data: _gzip(_gzip(data)), TEXT),  # applied in order
        ("identity", lambda data: data, TEXT),
        ("x-unknown", lambda data: data, TEXT),  # unknown codings are passed through
        ("br", _brotli, TEXT),  # decoded when brotli is installed, though not asked for
    ],
)
def test_content_encodings_are_decoded(
    web: LocalWeb, encoding: str, encode: object, expected: bytes
) -> None:
    body = encode(TEXT)  # type: ignore[operator]
    web.route("/enc", body, headers={"Content-Encoding": encoding})
    assert get(web.url("/enc")).body == expected


def _empty_blocks_gzip(size: int) -> bytes:
    """A gzip member of ``size`` bytes that inflates to nothing: empty stored blocks."""
    blocks = b"\x00\x00\x00\xff\xff" * (size // 5)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + blocks + b"\x03\x00" + bytes(8)


def test_an_inner_coding_counts_against_the_cap(web: LocalWeb) -> None:
    """`gzip, gzip` whose inner layer is 100 caps of nothing: the last layer's output stays
    empty, so only counting every layer stops it (before, it inflated the whole inner layer)."""
    inner = _empty_blocks_gzip(100 * LOOPBACK.max_body_bytes)
    assert gzip.decompress(inner) == b""
    web.route("/stacked", _gzip(inner), headers={"Content-Encoding": "gzip, gzip"})
    with pytest.raises(ResponseTooLargeError, match="decoded body over"):
        get(web.url("/stacked"))


def test_more_than_two_codings_are_refused(web: LocalWeb) -> None:
    web.route(
        "/triple", _gzip(_gzip(_gzip(TEXT))), headers={"Content-Encoding": "gzip, gzip, gzip"}
    )
    with pytest.raises(FetchError, match="3 content codings stacked"):
        get(web.url("/triple"))


def test_a_brotli_layer_never_inflates_past_its_budget() -> None:
    """A chunk of a brotli bomb yields at most about the budget, not the whole bomb."""
    bomb = _brotli(b"\0" * (64 * 1024 * 1024))
    decoder = BrotliDecoder()
    out = decoder.decode(bomb, 100_000)
    assert 100_000 <= len(out) < 1_000_000


def test_a_corrupt_gzip_body_is_a_decoding_error(web: LocalWeb) -> None:
    web.route("/bad", b"\x1f\x8b\x08\x00garbage-not-deflate", headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="DecodingError"):
        get(web.url("/bad"))


def test_decoded_body_cap_is_on_decoded_bytes(web: LocalWeb) -> None:
    """A small compressed body over the cap once decoded is refused; at the cap it passes."""
    limit = LOOPBACK.max_body_bytes
    web.route("/at-cap", _gzip(b"a" * limit), headers={"Content-Encoding": "gzip"})
    web.route("/over-cap", _gzip(b"a" * (limit + 1)), headers={"Content-Encoding": "gzip"})
    assert len(get(web.url("/at-cap")).body) == limit
    with pytest.raises(ResponseTooLargeError, match="decoded body over"):
        get(web.url("/over-cap"))


def test_declared_length_over_the_cap_is_refused_before_reading(web: LocalWeb) -> None:
    web.fault("/big", "reset", size=10 * 1024 * 1024, after=0)
    with pytest.raises(ResponseTooLargeError, match="Content-Length 10485760 over 65536"):
        get(web.url("/big"))


def test_redirect_chain_reports_only_a_first_permanent_hop(web: LocalWeb) -> None:
    web.route("/end", "<rss/>")
    web.fault("/c", "redirect", to="/end", status=307)
    web.fault("/b", "redirect", to="/c", status=308)
    web.fault("/a", "redirect", to="/b", status=302)
    result = get(web.url("/a"))
    assert result.final_url == web.url("/end") and result.body == b"<rss/>"
    assert result.permanent_redirect is None  # the 308 was not the first hop
    assert [r.path for r in web.requests] == ["/a", "/b", "/c", "/end"]
    moved = get(web.url("/b"))
    assert moved.permanent_redirect == web.url("/c") and moved.final_url == web.url("/end")


def test_redirect_keeps_the_conditional_headers_and_resolves_relative_locations(
    web: LocalWeb,
) -> None:
    web.route("/dir/feed.xml", "<rss/>")
    web.fault("/old", "redirect", to="dir/feed.xml", status=301)
    first = get(web.url("/old"))
    again = get(web.url("/old"), etag=first.etag)
    assert again.not_modified and again.final_url == web.url("/dir/feed.xml")
    assert web.requests[-1].headers["if-none-match"] == first.etag


def test_redirect_without_location_is_an_error(web: LocalWeb) -> None:
    web.fault("/nowhere", "status", status=302)
    with pytest.raises(FetchError, match="without a Location") as caught:
        get(web.url("/nowhere"))
    assert caught.value.status == 302


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), ("99999999", 24 * 3600.0), ("-5", None), ("soon", None), ("²", None)],
)
def test_retry_after_from_a_503(web: LocalWeb, value: str, expected: float | None) -> None:
    web.fault("/busy", "status", status=503, headers={"Retry-After": value})
    with pytest.raises(FetchError) as caught:
        get(web.url("/busy"))
    assert (caught.value.status, caught.value.retry_after) == (503, expected)


def test_reset_mid_body_and_truncated_body_are_read_errors(web: LocalWeb) -> None:
    web.fault("/rst", "reset", size=50_000, after=2000)
    web.fault("/fin", "reset", size=50_000, after=2000, rst=False)
    with pytest.raises(FetchError, match="ReadError"):
        get(web.url("/rst"))
    with pytest.raises(FetchError, match="RemoteProtocolError"):
        get(web.url("/fin"))


def test_connection_refused_is_a_connect_error() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(FetchError, match="ConnectError"):
        get(f"http://127.0.0.1:{port}/feed.xml")


def test_read_timeout_between_bytes(web: LocalWeb) -> None:
    web.fault("/late", "slow", delay=3, size=10)
    settings = LOOPBACK.model_copy(update={"read_timeout": 0.5, "deadline": 10})
    with pytest.raises(FetchError, match="ReadTimeout"):
        get(web.url("/late"), settings)


def test_environment_proxies_are_ignored(web: LocalWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/")  # nothing listens: a proxy would fail
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    web.route("/direct", "ok")
    assert get(web.url("/direct")).body == b"ok"
    assert web.count("/direct") == 1


def test_cookies_set_on_a_redirect_are_sent_on_the_next_hop(web: LocalWeb) -> None:
    web.route("/landing", "ok")
    web.fault(
        "/consent",
        "status",
        status=302,
        headers={"Location": "/landing", "Set-Cookie": "consent=yes; Path=/"},
    )
    assert get(web.url("/consent")).final_url == web.url("/landing")
    assert web.requests_to("/landing")[0].headers.get("cookie") == "consent=yes"


@pytest.fixture
def named_loopback(web: LocalWeb, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], str]:
    """``url(host, path)``: a URL on the local server under any host name (every name
    resolves to 127.0.0.1, as in tests/test_egress.py), so cookies see real site names."""

    async def resolve(host: str, port: int, url: str) -> list[IPAddress]:
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(egress, "_resolve", resolve)
    return lambda host, path: f"http://{host}:{web.port}{path}"


def get_in_turn(urls: list[str]) -> None:
    """GET each URL in order through one `Fetcher`, so they share its cookie jar."""

    async def go() -> None:
        async with Fetcher(LOOPBACK) as fetcher:
            for url in urls:
                await fetcher.get(url)

    asyncio.run(go())


@pytest.mark.parametrize(
    ("setter", "domain", "other"),
    [
        ("attacker.com", "com", "victim.com"),
        ("shop.example.co.uk", "co.uk", "bank.co.uk"),
        ("alice.github.io", "github.io", "bob.github.io"),
        ("alice.blogspot.com", ".blogspot.com", "bob.blogspot.com"),
    ],
)
def test_a_cookie_scoped_to_a_public_suffix_is_not_sent_to_another_site(
    web: LocalWeb, named_loopback: Callable[[str, str], str], setter: str, domain: str, other: str
) -> None:
    web.route("/set", "ok", headers={"Set-Cookie": f"sid=planted; Domain={domain}; Path=/"})
    web.route("/read", "ok")
    get_in_turn([named_loopback(setter, "/set"), named_loopback(other, "/read")])
    assert web.requests_to("/read")[0].headers.get("cookie") is None


def test_a_cookie_scoped_to_a_site_is_still_shared_across_its_hosts(
    web: LocalWeb, named_loopback: Callable[[str, str], str]
) -> None:
    web.route("/set", "ok", headers={"Set-Cookie": "consent=yes; Domain=example.co.uk; Path=/"})
    web.route("/read", "ok")
    get_in_turn(
        [named_loopback("www.example.co.uk", "/set"), named_loopback("news.example.co.uk", "/read")]
    )
    assert web.requests_to("/read")[0].headers.get("cookie") == "consent=yes"


def test_a_public_suffix_that_is_the_host_keeps_its_cookie_to_itself(
    web: LocalWeb, named_loopback: Callable[[str, str], str]
) -> None:
    """RFC 6265 §5.3 step 5: ``Domain=github.io`` from github.io itself is host-only."""
    web.route("/set", "ok", headers={"Set-Cookie": "sid=own; Domain=github.io; Path=/"})
    web.route("/read", "ok")
    reads = ["github.io", "alice.github.io"]
    get_in_turn([named_loopback("github.io", "/set")] + [named_loopback(h, "/read") for h in reads])
    own, other = web.requests_to("/read")
    assert own.headers.get("cookie") == "sid=own"
    assert other.headers.get("cookie") is None


def test_https_verifies_certificates(tmp_path: object) -> None:
    """A self-signed certificate on loopback is refused (TLS verification is on)."""
    import ssl
    import subprocess
    import threading
    from pathlib import Path

    base = Path(str(tmp_path))
    done = subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-keyout", str(base / "k.pem"), "-out", str(base / "c.pem"),
        ],
        capture_output=True,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip("openssl is not available")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(base / "c.pem", base / "k.pem")
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    served: list[bool] = []

    def accept() -> None:
        connection, _ = listener.accept()
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                served.append(bool(tls.recv(1)))
        except (ssl.SSLError, OSError):
            served.append(False)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        with pytest.raises(FetchError, match=r"ConnectError.*CERTIFICATE_VERIFY_FAILED"):
            get(f"https://127.0.0.1:{port}/feed.xml")
        thread.join(5)
    finally:
        listener.close()
    assert served == [False]  # the handshake failed: no request was sent


def test_connections_are_reused_within_the_per_host_limit() -> None:
    """16 requests to one host, 2 at a time (``max_per_host``): at most 2 connections."""
    settings = LOOPBACK.model_copy(update={"max_per_host": 2})
    stats = {"connections": 0, "active": 0, "peak": 0, "requests": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats["connections"] += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                stats["requests"] += 1
                stats["active"] += 1
                stats["peak"] = max(stats["peak"], stats["active"])
                await asyncio.sleep(0.02)
                stats["active"] -= 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def go() -> list[FetchResult]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, Fetcher(settings) as fetcher:
            return await asyncio.gather(
                *(fetcher.get(f"http://127.0.0.1:{port}/{i}") for i in range(16))
            )

    results = asyncio.run(go())
    assert [r.body for r in results] == [b"ok"] * 16
    assert stats["requests"] == 16 and stats["peak"] <= 2
    assert stats["connections"] <= 2


def test_waiting_for_a_host_slot_does_not_count_against_the_deadline() -> None:
    """12 pages from a slow host, one at a time: 0.3 s each is well inside a 1 s deadline,
    though the last waits over 3 s for its turn. None may fail unrequested."""
    settings = LOOPBACK.model_copy(update={"max_per_host": 1, "deadline": 1.0})
    requested: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readuntil(b"\r\n\r\n"):
                requested.append(line.split(b" ")[1])
                await asyncio.sleep(0.3)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def go() -> list[FetchResult | BaseException]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, Fetcher(settings) as fetcher:
            pages = (fetcher.get(f"http://127.0.0.1:{port}/{i}") for i in range(12))
            return await asyncio.gather(*pages, return_exceptions=True)

    results = asyncio.run(go())
    assert [getattr(r, "body", r) for r in results] == [b"ok"] * 12
    assert len(requested) == 12


def test_the_deadline_still_ends_a_request_that_holds_its_slot() -> None:
    settings = LOOPBACK.model_copy(update={"max_per_host": 1, "deadline": 0.5})

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    async def go() -> list[FetchResult | BaseException]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, Fetcher(settings) as fetcher:
            pages = (fetcher.get(f"http://127.0.0.1:{port}/{i}") for i in range(2))
            return await asyncio.gather(*pages, return_exceptions=True)

    results = asyncio.run(go())
    assert all(isinstance(r, FetchError) for r in results), results
    assert all("no complete response within 0.5 s" in str(r) for r in results)


# --- the httpx ways kept with aiohttp underneath ---------------------------------------------

URL_PARTS = st.sampled_from(
    [
        "http://", "https://", "HTTP://", "http://user@", "example.org", "Example.ORG",
        "127.0.0.1", "127.1", "1.2.3.04", "256.1.1.1", "1a2b3c4", "[::1]", "bücher.de",
        ":80", ":443", ":8080", ":08080", ":0", "/", "/a", "/./", "/../", "/.x", "/a b",
        "%", "%4", "%41", "%zz", "%e2%82%ac", "?", "?q=1&r=2", "#frag", "é", "€", "'", "(",
        "~", "!", "*", "@", ":", ";", "=", "+", "$", ",", "[", "]", "{", "|", "`", '"', "<",
        "\\", "^", "\t", "a", "Z", "0", "-", ".", "_",
    ]
)  # fmt: skip


@given(st.lists(URL_PARTS, min_size=1, max_size=12))
@hypothesis_settings(max_examples=3000, deadline=None)
def test_wire_url_is_exactly_what_httpx_sends(parts: list[str]) -> None:
    import httpx

    from monitor.pipeline.wire import wire_url

    url = "".join(parts)
    try:
        expected = str(httpx.URL(url))
    except httpx.InvalidURL:
        with pytest.raises(httpx.InvalidURL):
            wire_url(url)
        return
    assert wire_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/news/2024/11/04/story.html?utm_source=rss&utm_medium=feed",
        "https://www.example.co.uk:8443/a/b;c=d/%E2%82%AC/~x/",
        "http://127.0.0.16:31337/p1/feeds/00001.xml",
    ],
)
def test_wire_url_fast_path_takes_ordinary_urls_as_they_are(url: str) -> None:
    from monitor.pipeline import wire

    assert wire._PLAIN_URL.fullmatch(url) is not None
    assert wire.wire_url(url) == url


def test_repeated_and_non_ascii_headers_read_as_httpx_reads_them(web: LocalWeb) -> None:
    """A repeated field joins with ", "; non-ASCII bytes decode as httpx decodes them."""
    import http.client
    import http.server
    import threading

    sent = [
        ("ETag", '"a"'),
        ("ETag", '"b"'),
        ("Content-Type", "text/plain"),
        ("Last-Modified", "Mon, 04 Nov 2024 08:00:00 GMT"),
        ("X-Latin", "caf\u00e9"),
    ]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            latin = self.path == "/latin"
            self.send_response(200)
            for name, value in sent:
                if name == "X-Latin" and not latin:
                    continue
                self.send_header(name, value)  # http.server encodes as Latin-1
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        for path in ("/ascii", "/latin"):
            result = get(base + path)
            assert result.etag == '"a", "b"'
            assert result.content_type == "text/plain"
            assert result.last_modified == "Mon, 04 Nov 2024 08:00:00 GMT"
    finally:
        server.shutdown()
        server.server_close()
