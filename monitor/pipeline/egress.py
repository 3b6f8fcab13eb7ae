"""Which addresses the fetcher may talk to.

Every URL from a feed or a page is chosen by a stranger, so before each request
(and each redirect hop) the URL is read once (`monitor.pipeline.wire.parse_url`, the
same reading the client requests), its host is resolved, and every address it
resolves to must be public, unless private networks are allowed by the config or
the host is on the allowlist. Cloud metadata addresses are always refused.

"Public" is decided by the table of `monitor.pipeline.addresses`.

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
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.tracing import Trace
from yarl import URL

from monitor.errors import BlockedURLError, FetchError
from monitor.pipeline.addresses import EgressPolicy, IPAddress, address_refusal
from monitor.pipeline.wire import parse_url


async def check_url(url: str, policy: EgressPolicy) -> URL:
    """The URL to request, or `BlockedURLError` unless it is http(s) with allowed addresses.

    What is checked is `parse_url`'s reading, and it is returned so that the caller
    requests exactly the URL that was checked, not another parser's reading of ``url``.
    """
    target = parse_url(url)
    reason = _form_refusal(target)
    if reason:
        raise BlockedURLError(url, reason)
    assert target.raw_host is not None and target.port is not None  # checked above
    await allowed_addresses(target.raw_host, target.port, policy, url)
    return target


def _form_refusal(target: URL) -> str | None:
    if target.scheme not in ("http", "https"):
        return f"scheme {target.scheme or '(none)'!r} is not http or https"
    if not target.raw_host:
        return "the URL names no host"
    if target.port is None or not 0 < target.port < 65536:
        return f"invalid port: {target.port}"
    return None


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
        raise FetchError(url, f"cannot resolve {host}: {exc}", transient=True) from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
