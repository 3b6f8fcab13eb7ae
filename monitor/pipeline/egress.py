"""Which addresses the fetcher may talk to.

Every URL from a feed or a page is chosen by a stranger, so before each request
(and each redirect hop) the URL is read once (`monitor.pipeline.wire.parse_url`, the
same reading the client requests), its host is resolved, and every address it
resolves to must be public, unless private networks are allowed by the config or
the host is on the allowlist. Cloud metadata addresses are always refused.

"Public" is decided by a table written here (`IPV4_SPECIAL`, `IPV6_SPECIAL`): every
range of IANA's IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890), with
multicast, IPv6 site-local and the IPv6 space outside global unicast, each with the
RFC that sets it aside. Python's ``is_global`` alone misses several (site-local
``fec0::/10``, multicast, documentation ``3fff::/20``, ``5f00::/16``...).

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

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.tracing import Trace
from yarl import URL

from monitor.errors import BlockedURLError, FetchError
from monitor.pipeline.wire import parse_url

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class EgressPolicy:
    allow_private_networks: bool = False
    allowed_hosts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SpecialRange:
    """A block of addresses set aside from the public Internet, and where that is written."""

    network: IPNetwork
    name: str
    source: str

    def __str__(self) -> str:
        return f"{self.name} ({self.network}, {self.source})"


def _table(*rows: tuple[str, str, str]) -> tuple[SpecialRange, ...]:
    """The rows as ranges, narrowest first, so a lookup names the most specific range."""
    ranges = [SpecialRange(ipaddress.ip_network(net), name, src) for net, name, src in rows]
    return tuple(sorted(ranges, key=lambda r: r.network.prefixlen, reverse=True))


# Every entry of IANA's IPv4 Special-Purpose Address Registry, and multicast. Even the
# ranges the registry marks globally reachable (anycast relays, AS112 sinks, AMT) are
# refused: they are protocol endpoints, none serves news, and a stranger's URL has no
# business making the fetcher talk to them.
IPV4_SPECIAL = _table(
    ("0.0.0.0/8", '"This network"', "RFC 791 §3.2"),
    ("0.0.0.0/32", '"This host on this network"', "RFC 1122 §3.2.1.3"),
    ("10.0.0.0/8", "Private-Use", "RFC 1918"),
    ("100.64.0.0/10", "Shared Address Space", "RFC 6598"),
    ("127.0.0.0/8", "Loopback", "RFC 1122 §3.2.1.3"),
    ("169.254.0.0/16", "Link Local", "RFC 3927"),
    ("172.16.0.0/12", "Private-Use", "RFC 1918"),
    ("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890 §2.1"),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335"),
    ("192.0.0.8/32", "IPv4 dummy address", "RFC 7600"),
    ("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723"),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155"),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2"),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2"),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737"),
    ("192.31.196.0/24", "AS112-v4", "RFC 7535"),
    ("192.52.193.0/24", "AMT", "RFC 7450"),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526"),
    ("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751"),
    ("192.168.0.0/16", "Private-Use", "RFC 1918"),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534"),
    ("198.18.0.0/15", "Benchmarking", "RFC 2544"),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737"),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737"),
    ("224.0.0.0/4", "Multicast", "RFC 5771"),
    ("240.0.0.0/4", "Reserved", "RFC 1112 §4"),
    ("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 §7"),
)

# Every entry of IANA's IPv6 Special-Purpose Address Registry but the three that carry
# an IPv4 address (::ffff:0:0/96, 64:ff9b::/96, 2002::/16: `normalise_address` reads
# them as that address), then what the IPv6 Address Space registry does not allocate
# for global unicast: site-local, multicast, and everything outside 2000::/3.
IPV6_SPECIAL = _table(
    ("::1/128", "Loopback Address", "RFC 4291"),
    ("::/128", "Unspecified Address", "RFC 4291"),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translation (local use)", "RFC 8215"),
    ("100::/64", "Discard-Only Address Block", "RFC 6666"),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780"),
    ("2001::/23", "IETF Protocol Assignments", "RFC 2928"),
    ("2001::/32", "TEREDO", "RFC 4380, RFC 8190"),
    ("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723"),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155"),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665"),
    ("2001:2::/48", "Benchmarking", "RFC 5180"),
    ("2001:3::/32", "AMT", "RFC 7450"),
    ("2001:4:112::/48", "AS112-v6", "RFC 7535"),
    ("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843"),
    ("2001:20::/28", "ORCHIDv2", "RFC 7343"),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374"),
    ("2001:db8::/32", "Documentation", "RFC 3849"),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534"),
    ("3fff::/20", "Documentation", "RFC 9637"),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602"),
    ("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190"),
    ("fe80::/10", "Link-Local Unicast", "RFC 4291"),
    ("fec0::/10", "Site-Local (deprecated)", "RFC 3879"),
    ("ff00::/8", "Multicast", "RFC 4291 §2.7"),
    ("::/3", "Not global unicast (outside 2000::/3)", "RFC 4291 §2.4"),
    ("4000::/2", "Not global unicast (outside 2000::/3)", "RFC 4291 §2.4"),
    ("8000::/1", "Not global unicast (outside 2000::/3)", "RFC 4291 §2.4"),
)


def special_range(address: IPAddress) -> SpecialRange | None:
    """The narrowest special-purpose range holding ``address``, or None if it is public."""
    table = IPV4_SPECIAL if address.version == 4 else IPV6_SPECIAL
    return next((special for special in table if address in special.network), None)


def why_not_public(address: IPAddress) -> str | None:
    """Why ``address`` (already normalised) is not a public one, or None when it is.

    The table decides; Python's ``is_global`` is kept behind it so a range a later
    Python learns of is refused even before the table is brought up to date.
    """
    special = special_range(address)
    if special is not None:
        return str(special)
    return None if address.is_global else "not globally reachable (Python's ipaddress)"


_NAT64_PREFIX = bytes.fromhex("0064ff9b0000000000000000")  # 64:ff9b::/96
_IPV6_LOOPBACK = bytes(15) + b"\x01"


def normalise_address(address: IPAddress) -> IPAddress:
    """Unwrap the IPv6 forms that carry an IPv4 address to the IPv4 inside.

    IPv4-mapped ``::ffff:a.b.c.d`` (RFC 4291 §2.5.5.2), 6to4 ``2002:AABB:CCDD::``
    (RFC 3056), the NAT64 well-known prefix ``64:ff9b::a.b.c.d`` (RFC 6052) and the
    deprecated IPv4-compatible ``::a.b.c.d`` (RFC 4291 §2.5.5.1, which excludes ``::``
    and ``::1``): each reaches the IPv4 host, so it is that address that is checked.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        packed = address.packed
        if packed[:12] == bytes(12) and packed[12:] != bytes(4) and packed != _IPV6_LOOPBACK:
            return ipaddress.IPv4Address(packed[12:])
        if packed[:12] == _NAT64_PREFIX:
            return ipaddress.IPv4Address(packed[12:])
    return address


def address_refusal(address: IPAddress, policy: EgressPolicy, host: str) -> str | None:
    """Why this address may not be contacted, or None when it may.

    ``http.allow_private_networks`` and ``http.allowed_hosts`` let through any address
    that is not public, whatever its range; nothing lets through a metadata address.
    """
    address = normalise_address(address)
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    reason = why_not_public(address)
    if reason is None or policy.allow_private_networks or host.lower() in policy.allowed_hosts:
        return None
    return (
        f"{address} is not a public address: {reason} (set http.allow_private_networks "
        "or list the host in http.allowed_hosts to allow it)"
    )


async def check_url(url: str, policy: EgressPolicy) -> URL:
    """The URL to request, or `BlockedURLError` unless it is http(s) with allowed addresses.

    What is checked is `parse_url`'s reading, and it is returned so that the caller
    requests exactly the URL that was checked, not another parser's reading of ``url``.
    """
    target = parse_url(url)
    if target.scheme not in ("http", "https"):
        raise BlockedURLError(url, f"scheme {target.scheme or '(none)'!r} is not http or https")
    host, port = target.raw_host, target.port
    if not host:
        raise BlockedURLError(url, "the URL names no host")
    if port is None or not 0 < port < 65536:
        raise BlockedURLError(url, f"invalid port: {port}")
    await allowed_addresses(host, port, policy, url)
    return target


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
