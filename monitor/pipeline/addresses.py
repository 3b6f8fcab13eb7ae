"""Which addresses are public: the table the egress guard (`egress`) decides by.

"Public" is decided by a table written here (`IPV4_SPECIAL`, `IPV6_SPECIAL`): every
range of IANA's IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890), with
multicast, IPv6 site-local and the IPv6 space outside global unicast, each with the
RFC that sets it aside. Python's ``is_global`` alone misses several (site-local
``fec0::/10``, multicast, documentation ``3fff::/20``, ``5f00::/16``...).

Pure and light (no HTTP client): `monitor check` uses `refusal_before_dns` to name the
feeds the guard will refuse before anything is fetched.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from monitor.settings import HttpSettings

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class EgressPolicy:
    allow_private_networks: bool = False
    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def of(cls, settings: HttpSettings) -> EgressPolicy:
        hosts = frozenset(host.lower() for host in settings.allowed_hosts)
        return cls(settings.allow_private_networks, hosts)


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


def refusal_before_dns(url: str, policy: EgressPolicy) -> str | None:
    """Why the guard will refuse ``url`` whatever DNS answers: not http(s), or a host
    that is an address literal or a ``localhost`` name the policy does not allow. None:
    the addresses the name resolves to decide, when it is fetched."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as exc:
        return f"the URL does not parse: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r} is not http or https"
    if host == "localhost" or host.endswith(".localhost"):
        address: IPAddress = ipaddress.ip_address("127.0.0.1")  # RFC 6761: always loopback
    else:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
    return address_refusal(address, policy, host)
