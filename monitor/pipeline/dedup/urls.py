"""Canonical URLs: one key for every address of the same article.

RFC 3986 normalisation (case, percent-encoding, IDNA hosts, default ports, dot segments) is
`url-normalize`'s; the registrable domain (public suffix list, private suffixes included, so
``evil.github.io`` is not ``victim.github.io``) is courlan's. What is decided here is the
news-specific part: which query parameters only track, which host and path variants only
serve AMP or mobile readers, and when a page may name its own canonical address.

The result is an identity key, not an address to fetch: the scheme is always ``https``,
the fragment and user info are dropped and the query is sorted.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import urljoin, urlsplit, urlunsplit

from courlan.urlutils import extract_domain
from url_normalize import url_normalize

from monitor.errors import InvalidURLError

MAX_URL_CHARS = 4096

# Parameters that only say where a click came from. Exact names, compared case-insensitively.
# courlan's tracker pattern is broader (it also drops e.g. `gallery`, `game`, `source`), which
# could fold two different articles into one, so the list here is explicit.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "ysclid", "twclid",
        "igshid", "igsh", "ttclid", "li_fat_id", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc",
        "_hsmi", "__hstc", "__hssc", "__hsfp", "hsctatracking", "mkt_tok", "ref", "ref_src",
        "ref_url", "referrer", "cmpid", "cmp", "icid", "ncid", "ocid", "s_cid", "smid", "smtyp",
        "sr_share", "xtor", "spm", "guccounter", "guce_referrer", "guce_referrer_sig",
        "fb_action_ids", "fb_action_types", "fb_ref", "fb_source", "action_object_map",
        "action_type_map", "action_ref_map", "soc_src", "soc_trk", "wt.mc_id", "s_kwcid",
        "rb_clickid", "at_medium", "at_campaign", "taid", "share", "rss", "feature", "cid_rss",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "ga_", "oly_", "vero_", "itm_", "ns_", "wt.")
AMP_PARAMS = frozenset({"amp", "amp_js_v", "usqp", "__amp_source_origin", "amp_gsa", "_amp"})
AMP_VALUES = {"outputtype": "amp", "output": "amp", "format": "amp", "view": "amp"}
# Leading host labels that name the same site for another device or renderer.
ALIAS_LABELS = frozenset({"www", "www1", "www2", "www3", "m", "mobile", "amp", "amp-www"})
AMP_CACHE = re.compile(r"^/[cv]/(?:s/)?(?P<target>[^/]+\.[^/]+/.*)$")
AMP_PATH_SUFFIX = re.compile(r"(?:/amp|\.amp)(?=/?$)|(?<=[^/])\.amp(?=\.html?$)")
AMP_PATH_PREFIX = re.compile(r"^/amp(?=/.)")
SLASHES = re.compile(r"/{2,}")
HOST = re.compile(r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$")  # after IDNA: ASCII labels only


@lru_cache(maxsize=8192)  # the pipeline asks for one article's key at several stages
def canonical_url(
    url: str, *, page_canonical: str | None = None, final_url: str | None = None
) -> str:
    """The identity key of an article's URL.

    ``final_url`` (where redirects ended) wins over ``url`` (the feed's link). The page's own
    ``<link rel=canonical>`` or ``og:url`` wins over both, but only when it names the same
    site (registrable domain): a page may not claim another site's article. An unusable
    ``page_canonical`` is ignored, since it is only a hint from untrusted HTML; an unusable
    ``url`` or ``final_url`` raises :class:`InvalidURLError`.
    """
    key = _normalise(url)
    if final_url is not None:
        key = _normalise(final_url)
    if page_canonical:
        claimed = _claimed(page_canonical, base=final_url or url)
        if claimed is not None and same_site(claimed, key):
            key = claimed
    return key


def same_site(a: str, b: str) -> bool:
    """Whether two normalised URLs are on one registrable domain (or, for IPs, one host)."""
    host_a, host_b = _host(a), _host(b)
    if host_a == host_b:
        return True
    site_a, site_b = extract_domain(a), extract_domain(b)
    return site_a is not None and site_a == site_b


def _claimed(candidate: str, base: str) -> str | None:
    try:
        return _normalise(urljoin(base.strip(), candidate.strip()))
    except (InvalidURLError, ValueError):
        return None


@lru_cache(maxsize=16384)  # a link, its final URL and its canonical are often one string
def _normalise(url: str) -> str:
    raw = _check(url)
    try:
        normal = url_normalize(raw, default_scheme="https")
        if not normal:
            raise InvalidURLError(url, "empty after normalisation")
        parts = urlsplit(_unwrap_amp_cache(normal))
        _ = parts.port  # raises ValueError on a port that is not a number in range
    except (ValueError, UnicodeError) as exc:
        raise InvalidURLError(url, str(exc) or type(exc).__name__) from exc
    host = _strip_aliases((parts.hostname or "").rstrip("."))
    if not _valid_host(host):
        raise InvalidURLError(url, f"no usable host ({host!r})")
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None and parts.port not in (80, 443):
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit(("https", netloc, _path(parts.path), _query(parts.query), ""))


def _valid_host(host: str) -> bool:
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return False
        return True
    return HOST.match(host) is not None


def _check(url: str) -> str:
    if not isinstance(url, str):
        raise InvalidURLError(repr(url), "not a string")
    raw = "".join(url.split())  # feeds wrap long links; spaces are never part of one
    if not raw:
        raise InvalidURLError(url, "empty")
    if len(raw) > MAX_URL_CHARS:
        raise InvalidURLError(url, f"longer than {MAX_URL_CHARS} characters")
    scheme, sep, rest = raw.partition(":")
    if not sep or scheme.lower() not in ("http", "https") or not rest.startswith("//"):
        raise InvalidURLError(url, "not an absolute http(s) URL")
    return raw


def _unwrap_amp_cache(url: str) -> str:
    """``https://example-com.cdn.ampproject.org/c/s/example.com/a`` → ``https://example.com/a``."""
    parts = urlsplit(url)
    if not (parts.hostname or "").endswith(".cdn.ampproject.org"):
        return url
    match = AMP_CACHE.match(parts.path)
    if match is None:
        return url
    query = f"?{parts.query}" if parts.query else ""
    return url_normalize(f"https://{match['target']}{query}") or url


def _strip_aliases(host: str) -> str:
    """Drop ``www.``, ``m.``, ``amp.`` … while what remains is still a whole site."""
    labels = host.split(".")
    site = extract_domain(f"https://{host}/")
    while len(labels) > 2 and labels[0] in ALIAS_LABELS:
        rest = ".".join(labels[1:])
        if site is not None and not (rest == site or rest.endswith("." + site)):
            break
        labels = labels[1:]
    return ".".join(labels)


def _path(path: str) -> str:
    previous = None
    while path != previous:  # "/amp/story/amp" needs two passes; the key must be a fixed point
        previous = path
        path = SLASHES.sub("/", path)
        path = AMP_PATH_PREFIX.sub("", path)
        path = AMP_PATH_SUFFIX.sub("", path).rstrip("/")
    return path or "/"


def _query(query: str) -> str:
    """Drop tracking and AMP parameters; sort the rest (the encoding is already normalised)."""
    kept = []
    for item in query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if not _is_noise(key.lower(), value.lower()):
            kept.append((key, item))
    return "&".join(item for _, item in sorted(kept))


def _is_noise(key: str, value: str) -> bool:
    if key in TRACKING_PARAMS or key in AMP_PARAMS or key.startswith(TRACKING_PREFIXES):
        return True
    return AMP_VALUES.get(key) == value


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""
