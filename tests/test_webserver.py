"""The local web server the pipeline's tests stand on, checked with httpx over loopback."""

from __future__ import annotations

import asyncio
import gzip
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from testkit.faults import MIB
from testkit.webserver import FIXED_DATE, LocalWeb

FEED = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


# --- plain routes --------------------------------------------------------------------


def test_route_serves_body_with_validators(web: LocalWeb, client: httpx.Client) -> None:
    web.route("/feed.xml", FEED, content_type="application/rss+xml", headers={"X-Test": "1"})
    response = client.get(web.url("/feed.xml"))
    assert response.status_code == 200
    assert response.content == FEED
    assert response.headers["content-type"] == "application/rss+xml"
    assert response.headers["x-test"] == "1"
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"] == http_date(FIXED_DATE)
    assert web.url("/feed.xml").startswith("http://127.0.0.1:")


def test_unknown_path_is_404_and_head_has_no_body(web: LocalWeb, client: httpx.Client) -> None:
    web.route("/page.html", "<p>hello</p>")
    assert client.get(web.url("/missing")).status_code == 404
    head = client.head(web.url("/page.html"))
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(b"<p>hello</p>"))


def test_query_string_falls_back_to_path(web: LocalWeb, client: httpx.Client) -> None:
    web.route("/news/a.html", "plain")
    web.route("/news/a.html?print=1", "printable")
    assert client.get(web.url("/news/a.html?utm_source=rss")).text == "plain"
    assert client.get(web.url("/news/a.html?print=1")).text == "printable"
    assert web.count("/news/a.html") == 2
    assert web.count("/news/a.html?print=1") == 1


def test_route_without_validators(web: LocalWeb, client: httpx.Client) -> None:
    web.route("/bare", "x", etag=False, last_modified=None)
    headers = client.get(web.url("/bare")).headers
    assert "etag" not in headers
    assert "last-modified" not in headers
    web.route("/tagged", "x", etag="v1")
    assert client.get(web.url("/tagged")).headers["etag"] == '"v1"'


def test_status_route_keeps_body(web: LocalWeb, client: httpx.Client) -> None:
    web.route("/gone", "gone for good", status=410)
    response = client.get(web.url("/gone"))
    assert (response.status_code, response.text) == (410, "gone for good")


# --- conditional GET -----------------------------------------------------------------


def test_if_none_match_gives_304(web: LocalWeb, client: httpx.Client) -> None:
    web.route("/feed.xml", FEED)
    etag = client.get(web.url("/feed.xml")).headers["etag"]
    again = client.get(web.url("/feed.xml"), headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = client.get(web.url("/feed.xml"), headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    other = client.get(web.url("/feed.xml"), headers={"If-None-Match": '"other"'})
    assert other.status_code == 200
    assert [r.status for r in web.requests_to("/feed.xml")] == [200, 304, 304, 200]


def test_if_modified_since_gives_304(web: LocalWeb, client: httpx.Client) -> None:
    web.route("/feed.xml", FEED)
    url = web.url("/feed.xml")
    same = client.get(url, headers={"If-Modified-Since": http_date(FIXED_DATE)})
    assert same.status_code == 304
    later = FIXED_DATE + timedelta(days=1)
    assert client.get(url, headers={"If-Modified-Since": http_date(later)}).status_code == 304
    earlier = FIXED_DATE - timedelta(seconds=1)
    assert client.get(url, headers={"If-Modified-Since": http_date(earlier)}).status_code == 200
    junk = client.get(url, headers={"If-Modified-Since": "yesterday-ish"})
    assert junk.status_code == 200


def test_if_none_match_overrides_if_modified_since(web: LocalWeb, client: httpx.Client) -> None:
    web.route("/feed.xml", FEED)
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": http_date(FIXED_DATE)}
    assert client.get(web.url("/feed.xml"), headers=headers).status_code == 200


def test_changed_route_invalidates_both_validators(web: LocalWeb, client: httpx.Client) -> None:
    web.route("/feed.xml", FEED)
    first = client.get(web.url("/feed.xml")).headers
    web.route("/feed.xml", FEED.replace(b"<title>t", b"<title>u"))
    for name, header in (("etag", "If-None-Match"), ("last-modified", "If-Modified-Since")):
        response = client.get(web.url("/feed.xml"), headers={header: first[name]})
        assert response.status_code == 200
        assert b"<title>u" in response.content
    assert client.get(web.url("/feed.xml")).headers["last-modified"] == http_date(
        FIXED_DATE + timedelta(hours=1)
    )


def test_explicit_last_modified(web: LocalWeb, client: httpx.Client) -> None:
    moment = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    web.route("/x", "x", last_modified=moment)
    assert client.get(web.url("/x")).headers["last-modified"] == "Sat, 01 Mar 2025 12:30:00 GMT"


# --- the request log -----------------------------------------------------------------


def test_request_log_records_method_path_headers_status(
    web: LocalWeb, client: httpx.Client
) -> None:
    web.route("/a", "a")
    client.get(web.url("/a?x=1"), headers={"X-Probe": "yes"})
    client.head(web.url("/a"))
    client.get(web.url("/nope"))
    log = web.requests
    assert [(r.method, r.path, r.status) for r in log] == [
        ("GET", "/a?x=1", 200),
        ("HEAD", "/a", 200),
        ("GET", "/nope", 404),
    ]
    assert log[0].headers["x-probe"] == "yes"
    assert web.count("/a") == 2
    assert web.count("/a", method="HEAD") == 1
    assert web.count(web.url("/nope")) == 1
    web.reset_log()
    assert web.requests == []


def test_removed_route_is_404(web: LocalWeb, client: httpx.Client) -> None:
    web.route("/a", "a")
    web.remove("/a")
    assert client.get(web.url("/a")).status_code == 404


# --- faults --------------------------------------------------------------------------


def test_slow_trickles_the_whole_body(web: LocalWeb) -> None:
    body = b"<rss>" + b"x" * 90 + b"</rss>"
    web.fault("/slow.xml", "slow", rate=400, body=body)
    chunks = []
    with httpx.stream("GET", web.url("/slow.xml"), timeout=5) as response:
        assert response.headers["content-length"] == str(len(body))
        chunks = list(response.iter_raw())
    assert b"".join(chunks) == body
    assert len(chunks) >= 3  # it came in pieces, not at once


def test_slow_body_outlasts_a_read_timeout(web: LocalWeb) -> None:
    web.fault("/slow.xml", "slow", rate=1, size=1000)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(web.url("/slow.xml"), timeout=httpx.Timeout(5, read=0.3))


def test_slow_delay_holds_back_the_headers(web: LocalWeb) -> None:
    web.fault("/late.xml", "slow", delay=5, rate=1000, body=b"late")
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(web.url("/late.xml"), timeout=httpx.Timeout(5, read=0.3))


def test_hang_never_answers_and_does_not_block_close() -> None:
    web = LocalWeb()
    web.fault("/hang", "hang")
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(web.url("/hang"), timeout=httpx.Timeout(5, read=0.3))
    assert [(r.path, r.status) for r in web.requests] == [("/hang", None)]
    closer = threading.Thread(target=web.close)
    closer.start()
    closer.join(timeout=5)
    assert not closer.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(web.url("/hang"), timeout=1)


def test_close_drops_a_slow_response_in_flight() -> None:
    web = LocalWeb()
    web.fault("/slow", "slow", rate=50, size=10_000)
    with httpx.stream("GET", web.url("/slow"), timeout=5) as response:
        chunks = response.iter_raw()
        assert next(chunks)
        closer = threading.Thread(target=web.close)
        closer.start()
        closer.join(timeout=5)
        assert not closer.is_alive()
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            b"".join(chunks)


def test_endless_body_keeps_coming(web: LocalWeb) -> None:
    web.fault("/endless.xml", "endless")
    received = 0
    with httpx.stream("GET", web.url("/endless.xml"), timeout=5) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > 5 * MIB:
                break
    assert received > 5 * MIB


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, httpx.ReadError),  # TCP reset mid-body
        ({"rst": False}, httpx.RemoteProtocolError),  # body shorter than Content-Length
        ({"headers": False}, httpx.ReadError),  # reset before any response
        ({"headers": False, "rst": False}, httpx.RemoteProtocolError),  # closed, no response
    ],
)
def test_reset_breaks_the_response(
    web: LocalWeb, params: dict[str, bool], error: type[Exception]
) -> None:
    web.fault("/reset", "reset", size=50_000, after=2000, **params)
    with pytest.raises(error):
        httpx.get(web.url("/reset"), timeout=5)


def test_gzip_bomb_is_small_on_the_wire_and_huge_decoded(web: LocalWeb) -> None:
    web.fault("/bomb.xml", "gzip_bomb")
    decoded = 0
    with httpx.stream("GET", web.url("/bomb.xml"), timeout=5) as response:
        assert response.headers["content-encoding"] == "gzip"
        assert int(response.headers["content-length"]) < 2 * MIB
        for chunk in response.iter_bytes():
            assert chunk.count(0) == len(chunk)
            decoded += len(chunk)
            if decoded > 20 * MIB:
                break
    assert decoded > 20 * MIB
    # The whole stream decodes at the ratio claimed: 1 GiB from its length.
    on_wire = int(response.headers["content-length"])
    assert 1024 * MIB / on_wire > 900


def test_gzip_bomb_is_a_valid_gzip_stream(web: LocalWeb) -> None:
    web.fault("/small-bomb", "gzip_bomb", size=8 * MIB)
    raw = b""
    with httpx.stream("GET", web.url("/small-bomb"), timeout=5) as response:
        raw = b"".join(response.iter_raw())
    assert gzip.decompress(raw) == bytes(8 * MIB)  # checks CRC and length trailer
    with pytest.raises(zlib.error):
        zlib.decompress(raw[:-8] + b"\0" * 8, wbits=31)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect(web: LocalWeb, client: httpx.Client, status: int) -> None:
    web.route("/new.xml", FEED)
    web.fault("/old.xml", "redirect", to="/new.xml", status=status)
    hop = client.get(web.url("/old.xml"))
    assert (hop.status_code, hop.headers["location"]) == (status, "/new.xml")
    followed = client.get(web.url("/old.xml"), follow_redirects=True)
    assert followed.content == FEED
    assert str(followed.url) == web.url("/new.xml")


def test_redirect_to_absolute_url(web: LocalWeb, client: httpx.Client) -> None:
    web.route("/new.xml", FEED)
    web.fault("/old.xml", "redirect", to=web.url("/new.xml"), status=301)
    assert client.get(web.url("/old.xml"), follow_redirects=True).content == FEED


def test_redirect_status_is_checked(web: LocalWeb) -> None:
    with pytest.raises(ValueError, match="redirect status"):
        web.fault("/x", "redirect", to="/y", status=200)


@pytest.mark.parametrize("distinct", [False, True])
def test_redirect_loop_never_ends(web: LocalWeb, distinct: bool) -> None:
    web.fault("/loop.xml", "redirect_loop", distinct=distinct)
    with httpx.Client(max_redirects=5, timeout=5) as client, pytest.raises(httpx.TooManyRedirects):
        client.get(web.url("/loop.xml"), follow_redirects=True)
    paths = [r.path for r in web.requests]
    assert len(paths) == 6
    assert len(set(paths)) == (6 if distinct else 1)


def test_status_fault_with_retry_after(web: LocalWeb, client: httpx.Client) -> None:
    web.fault("/busy", "status", status=429, headers={"Retry-After": "120"})
    response = client.get(web.url("/busy"))
    assert (response.status_code, response.headers["retry-after"]) == (429, "120")


def test_flapping_alternates(web: LocalWeb, client: httpx.Client) -> None:
    web.fault("/flap.xml", "flapping", body=FEED)
    responses = [client.get(web.url("/flap.xml")) for _ in range(4)]
    assert [r.status_code for r in responses] == [500, 200, 500, 200]
    assert responses[1].content == FEED


def test_garbage_is_random_but_repeatable(web: LocalWeb, client: httpx.Client) -> None:
    web.fault("/g1", "garbage", size=5000, seed=1)
    web.fault("/g2", "garbage", size=5000, seed=2)
    first, again = client.get(web.url("/g1")).content, client.get(web.url("/g1")).content
    assert len(first) == 5000
    assert first == again
    assert first != client.get(web.url("/g2")).content
    with pytest.raises(UnicodeDecodeError):
        first.decode("utf-8")


def test_empty_body(web: LocalWeb, client: httpx.Client) -> None:
    web.fault("/empty.xml", "empty")
    response = client.get(web.url("/empty.xml"))
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-length"] == "0"


def test_unknown_fault_and_parameter_are_refused(web: LocalWeb) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        web.fault("/x", "explode")
    with pytest.raises(TypeError):
        web.fault("/x", "slow", speed=3)


# --- concurrency and life cycle ------------------------------------------------------


def test_fifty_concurrent_clients(web: LocalWeb) -> None:
    for n in range(50):
        web.route(f"/page/{n}", f"page {n}")

    async def fetch_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            return await asyncio.gather(
                *(client.get(web.url(f"/page/{n % 50}")) for n in range(200))
            )

    responses = asyncio.run(fetch_all())
    assert [r.text for r in responses] == [f"page {n % 50}" for n in range(200)]
    assert len(web.requests) == 200


def test_route_replaced_while_serving(web: LocalWeb, client: httpx.Client) -> None:
    web.route("/feed.xml", "one")
    assert client.get(web.url("/feed.xml")).text == "one"
    web.route("/feed.xml", "two")
    assert client.get(web.url("/feed.xml")).text == "two"


def test_close_is_idempotent_and_context_managed() -> None:
    with LocalWeb() as web:
        web.route("/", "home")
        assert httpx.get(web.url("/"), timeout=5).text == "home"
    web.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(web.url("/"), timeout=1)


def test_session_server_is_shared(web_session: LocalWeb, web: LocalWeb) -> None:
    assert web_session.port != web.port
    web_session.route("/session-probe", "ok")
    assert httpx.get(web_session.url("/session-probe"), timeout=5).text == "ok"
