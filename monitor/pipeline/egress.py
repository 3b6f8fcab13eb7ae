"""Which addresses the fetcher may talk to.

Every URL from a feed or a page is chosen by a stranger, so before each request
(and each redirect hop) the host is resolved and every address it resolves to
must be globally routable, unless private networks are allowed by the config or
the host is on the allowlist. Cloud metadata addresses are always refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from monitor.errors import BlockedURLError

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
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedURLError(url, f"scheme {parts.scheme or '(none)'!r} is not http or https")
    host = parts.hostname
    if not host:
        raise BlockedURLError(url, "the URL names no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise BlockedURLError(url, f"invalid port: {exc}") from exc
    for address in await _resolve(host, port, url):
        reason = address_refusal(address, policy, host)
        if reason:
            raise BlockedURLError(url, reason)


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
        from monitor.errors import FetchError

        raise FetchError(url, f"cannot resolve {host}: {exc}") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
