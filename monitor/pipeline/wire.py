"""The one reading of a URL that the fetcher requests and the egress guard checks.

A URL from a feed is read by several parsers: httpx's normal form (`wire_url`), yarl
(which aiohttp connects by), Python's urllib and, when a digest's reader clicks it, a
browser. If the guard read the host with one parser and the client with another, the
guard would be checking a host the client never goes to. So `parse_url` reads the URL
once, and that same `yarl.URL` is both what the guard resolves and checks and what the
client requests.

A URL that browsers (the WHATWG URL Standard) and the client (RFC 3986) would split
into different hosts is refused outright (`misreading`): fetched from one host, it
would be shown and clicked as a link to another.
"""

from __future__ import annotations

import re

import httpx
import idna
from yarl import URL

from monitor.errors import BlockedURLError

_PLAIN_URL = re.compile(
    r"(?P<scheme>https?)://(?P<host>[a-z0-9.\-]+)(?::(?P<port>[1-9][0-9]*))?"
    r"(?P<path>/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*)(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*)?"
)
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")  # httpx's test for an IPv4 host
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")  # what ipaddress.IPv4Address accepts
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def wire_url(url: str) -> str:
    """``str(httpx.URL(url))``: the URL normalised and percent-encoded as httpx sends it.

    Most URLs are already in that form, and recognising one costs a regular expression
    instead of httpx's parser: lower-case scheme and host name, no user info, no default
    or zero-padded port, no dot segments, nothing to percent-encode, every ``%`` starting
    a valid escape, no fragment, and an IPv4-looking host that is a valid address.
    Anything else goes through httpx (tests/test_fetch.py checks the two agree).
    """
    plain = _PLAIN_URL.fullmatch(url)
    if (
        plain is not None
        and len(url) <= 65536
        and plain["port"] != _DEFAULT_PORTS[plain["scheme"]]
        and "/." not in plain["path"]
        and ("%" not in url or _BAD_ESCAPE.search(url) is None)
        and (_IPV4_STYLE.fullmatch(plain["host"]) is None or _IPV4.fullmatch(plain["host"]))
    ):
        return url
    return str(httpx.URL(url))


def parse_url(url: str) -> URL:
    """``url`` as the client sends it: httpx's normal form, read by yarl as aiohttp reads it.

    Raises `BlockedURLError` for a URL that does not parse, or that browsers would read
    with another host (`misreading`).
    """
    reason = misreading(url)
    if reason:
        raise BlockedURLError(url, f"ambiguous URL: {reason}")
    try:
        target = URL(wire_url(url), encoded=True)
        _ = target.raw_host, target.port  # yarl parses these lazily: let it complain here
    except (httpx.InvalidURL, ValueError, IndexError) as exc:
        # ValueError: idna's and yarl's complaints (a port out of range...); IndexError:
        # yarl's on some broken host parts, such as ``:1%00:80[::1]@``
        raise BlockedURLError(url, f"malformed URL: {exc or type(exc).__name__}") from exc
    problem = host_problem(target.raw_host or "")
    if problem:
        raise BlockedURLError(url, f"malformed URL: {problem}")
    return target


def host_problem(host: str) -> str | None:
    """Why ``host`` (as the client sends it) names no host at all, or None.

    Refused here rather than left to the resolver, whose IDNA codec fails on these with
    an error that reads like a DNS failure: an empty label (``a..b``) and an ``xn--``
    label that is not valid Punycode."""
    if not host or ":" in host:  # an IPv6 literal: yarl has checked it
        return None
    labels = host.removesuffix(".").split(".")
    if any(not label for label in labels):
        return f"an empty label in the host {host!r}"
    for label in labels:
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except idna.IDNAError as exc:
                return f"{label!r} in the host is not a valid international name ({exc})"
    return None


def link_problem(url: str) -> str | None:
    """Why the fetcher would refuse ``url`` before sending anything, or None."""
    try:
        parse_url(url)
    except BlockedURLError as exc:
        return exc.reason
    return None


_C0_CONTROL_OR_SPACE = "".join(chr(code) for code in range(0x21))
_AUTHORITY_END = re.compile(r"[/?#]")


def misreading(url: str) -> str | None:
    """How a browser would read another host in this http(s) URL than the client, or None.

    The differences that move the host: a browser strips spaces and control characters
    at both ends (the client would percent-encode them into the URL); it takes the host
    after any run of slashes and backslashes following ``http:`` (the client only after
    exactly ``//``); it ends the host at a backslash as at a slash (the client reads on,
    so ``http://a.example\\@b.example/`` is ``a.example`` to one and ``b.example`` to the
    other); and it decodes percent escapes in the host (the client looks the name up as
    written). Tabs and line breaks, which browsers delete, the client refuses as malformed.
    """
    if url != url.strip(_C0_CONTROL_OR_SPACE):
        return "spaces or control characters at its ends (browsers strip them, the client not)"
    scheme, _, rest = url.partition(":")
    if scheme.lower() not in ("http", "https"):
        return None  # the special-scheme rules do not apply; the guard refuses the scheme
    slashes = len(rest) - len(rest.lstrip("/\\"))
    if rest[:slashes] != "//":
        return (
            f"{rest[:slashes]!r} after {scheme}: (browsers read a host after any slashes and "
            "backslashes, the client only after exactly '//')"
        )
    authority = _AUTHORITY_END.split(rest[2:], maxsplit=1)[0]
    if "\\" in authority:
        return "a backslash in the host or user name (browsers end the host there, the client not)"
    if "%" in authority.rpartition("@")[2]:
        return "a percent escape in the host (browsers decode it, the client does not)"
    return None
