"""Which addresses the fetcher may talk to.

Every URL from a feed or a page is chosen by a stranger, so before each request
(and each redirect hop) the host is resolved and every address it resolves to
must be globally routable, unless private networks are allowed by the config or
the host is on the allowlist. Cloud metadata addresses are always refused.

That early check gives a clear error with the URL, but it cannot be the guard:
the HTTP client would resolve the name again to connect, and a hostile DNS
server can answer differently the second time (DNS rebinding). The guard is
`GuardedConnector`, the fetcher's aiohttp connector: every connection it opens
(IP literals included, which aiohttp would otherwise never hand to a resolver)
goes through `GuardedResolver`, which resolves once, checks every address, and
returns only those checked addresses, so aiohttp connects to exactly them and no
connection is ever opened to an address that was not checked. TLS still gets the
URL's host name for SNI and certificate checks, and the Host header is the URL's,
because aiohttp takes both from the request URL, not from the resolved address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.tracing import Trace

from monitor.errors import BlockedURLError, FetchError

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class EgressPolicy:
    allow_private_networks: bool = False
    allowed_hosts: frozenset[str] = frozenset()


def normalise_address(address: IPAddress) -> IPAddress:
    """Unwrap IPv4-mapped, IPv4-compatible, 6to4 and NAT64-style forms to the IPv4 inside."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        packed = address.packed
        if packed[:12] == bytes(12) and packed[12:] != bytes(4):
            return ipaddress.IPv4Address(packed[12:])  # deprecated IPv4-compatible ::a.b.c.d
        if packed[:12] == bytes.fromhex("0064ff9b0000000000000000"):
            return ipaddress.IPv4Address(packed[12:])
    return address


def address_refusal(address: IPAddress, policy: EgressPolicy, host: str) -> str | None:
    """Why this address may not be contacted, or None when it may."""
    address = normalise_address(address)
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if address.is_global:
        return None
    if policy.allow_private_networks or host.lower() in policy.allowed_hosts:
        return None
    return (
        f"{address} is not a public address (set http.allow_private_networks "
        "or list the host in http.allowed_hosts to allow it)"
    )


async def check_url(url: str, policy: EgressPolicy) -> None:
    """Raise `BlockedURLError` unless ``url`` is http(s) and all its addresses are allowed."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # e.g. an unbalanced "[" in the host
        raise BlockedURLError(url, f"malformed URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise BlockedURLError(url, f"scheme {parts.scheme or '(none)'!r} is not http or https")
    if not host:
        raise BlockedURLError(url, "the URL names no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise BlockedURLError(url, f"invalid port: {exc}") from exc
    await allowed_addresses(host, port, policy, url)


async def allowed_addresses(
    host: str, port: int, policy: EgressPolicy, url: str
) -> list[IPAddress]:
    """Resolve ``host`` once; its addresses if every one is allowed, else `BlockedURLError`.

    All must pass, not just one: a name that also resolves to a private address is
    refused whichever address a connection would have picked.
    """
    addresses = await _resolve(host, port, url)
    if not addresses:
        raise FetchError(url, f"{host} resolved to no address")
    for address in addresses:
        reason = address_refusal(address, policy, host)
        if reason:
            raise BlockedURLError(url, reason)
    return addresses


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that answers only with addresses the policy allows.

    It resolves ``host`` once (`allowed_addresses`) and raises `BlockedURLError`
    unless every address is allowed; the numeric addresses it returns are the ones
    aiohttp connects to, in order, without resolving again.
    """

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        addresses = await allowed_addresses(host, port, self.policy, f"{host}:{port}")
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=socket.IPPROTO_TCP,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class GuardedConnector(aiohttp.TCPConnector):
    """aiohttp's TCP connector with every connection's addresses from `GuardedResolver`.

    aiohttp skips the resolver when the URL's host is an IP literal; here every host,
    literal or name, goes through the guard, without aiohttp's DNS cache. Addresses are
    tried one after the other in the resolver's order (no happy-eyeballs race).
    Proxies are never used: the fetcher's session does not trust the environment and
    passes no proxy.
    """

    def __init__(self, policy: EgressPolicy, **kwargs: Any) -> None:
        super().__init__(
            resolver=GuardedResolver(policy),
            use_dns_cache=False,
            happy_eyeballs_delay=None,
            **kwargs,
        )
        self.policy = policy

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        return await self._resolver.resolve(host, port, family=self._family)


if not callable(getattr(aiohttp.TCPConnector, "_resolve_host", None)):  # pragma: no cover
    raise ImportError("aiohttp.TCPConnector no longer resolves in _resolve_host: guard unsafe")


async def _resolve(host: str, port: int, url: str) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError(url, f"cannot resolve {host}: {exc}") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
