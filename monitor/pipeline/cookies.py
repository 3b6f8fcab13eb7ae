"""The fetcher's cookie jar: aiohttp's, refusing cookies scoped to a public suffix.

The fetcher keeps one jar for every site it polls, and aiohttp's `CookieJar` takes a
``Domain`` attribute on trust as long as the host ends with it: ``Domain=com`` from
one site is then sent to every ``.com`` site polled after it, and ``Domain=github.io``
from one blog to every other blog there, so one site could plant cookies (a session
id, a consent flag) in another's requests. Browsers refuse such a cookie by the Public
Suffix List, and so does this jar (RFC 6265 §5.3 step 5): a cookie whose domain is a
public suffix is dropped, unless the host is that suffix itself, which then keeps it
as a host-only cookie.

The list is the snapshot shipped inside the ``publicsuffixlist`` package, read from
its own files: nothing is downloaded at run time, and a newer list comes with a newer
release of the package.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from http.cookies import BaseCookie, Morsel
from typing import Any

import aiohttp
from aiohttp.typedefs import LooseCookies
from publicsuffixlist import PublicSuffixList
from yarl import URL

CookieValue = str | BaseCookie[str] | Morsel[Any]  # what aiohttp's jar is given per name


@cache
def _public_suffixes() -> PublicSuffixList:
    """The bundled list, parsed on first use (about 50 ms) rather than at import."""
    return PublicSuffixList()


def is_public_suffix(domain: str) -> bool:
    """Whether many unrelated sites register names under ``domain`` (``com``, ``co.uk``,
    ``github.io``): the ICANN and the private sections of the list, unknown TLDs included."""
    return _public_suffixes().is_public(domain.lower())


def site_scoped(cookie: CookieValue, host: str) -> CookieValue | None:
    """The cookie as it may be stored for ``host``, or None when it must be dropped.

    The domain is read as aiohttp reads it: one leading dot ignored, and a trailing dot
    making the cookie host-only, so there is nothing to check then.
    """
    if not isinstance(cookie, Morsel):
        return cookie  # a bare value (given by code, not by a response) has no Domain
    domain = cookie["domain"]
    domain = domain[1:] if domain.startswith(".") else domain
    if not domain or domain.endswith(".") or not is_public_suffix(domain):
        return cookie
    if domain.lower() != host.lower():
        return None
    host_only = cookie.copy()  # the caller's morsel is left as it was
    host_only["domain"] = ""
    return host_only


class SiteCookieJar(aiohttp.CookieJar):
    """aiohttp's jar with `site_scoped` applied to every cookie before it is stored."""

    def _update_cookies(
        self,
        cookies: LooseCookies,
        response_url: URL,
        *,
        copy_morsels: bool,
        expiration: float | None = None,
        check_sendable: bool = True,
    ) -> None:
        super()._update_cookies(
            list(_scoped(cookies, response_url.raw_host or "")),
            response_url,
            copy_morsels=copy_morsels,
            expiration=expiration,
            check_sendable=check_sendable,
        )


def _scoped(cookies: LooseCookies, host: str) -> Iterator[tuple[str, CookieValue]]:
    pairs = cookies.items() if isinstance(cookies, Mapping) else cookies
    for name, cookie in pairs:
        kept = site_scoped(cookie, host)
        if kept is not None:
            yield name, kept


# Every cookie aiohttp stores, from Set-Cookie headers or from code, passes through
# `_update_cookies`; if that changes, the jar would silently stop checking.
if not callable(getattr(aiohttp.CookieJar, "_update_cookies", None)):  # pragma: no cover
    raise ImportError("aiohttp.CookieJar no longer stores through _update_cookies: jar unsafe")
