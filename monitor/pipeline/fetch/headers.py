"""Response headers as httpx reads them, from an aiohttp response: repeated fields
joined, the same decoding, so behaviour did not change with the client library."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import httpx

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy


class ResponseHeaders(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...

    def get_list(self, key: str, split_commas: bool = False) -> list[str]: ...


class AsciiHeaders:
    """aiohttp's parsed headers read as `httpx.Headers` reads them (ASCII values only).

    A field sent more than once reads as its values joined with ", ", as in httpx.
    """

    __slots__ = ("_headers",)

    def __init__(self, headers: CIMultiDictProxy[str]) -> None:
        self._headers = headers

    def get(self, key: str, default: Any = None) -> Any:
        values = self._headers.getall(key, None)
        if not values:
            return default
        return values[0] if len(values) == 1 else ", ".join(values)

    def get_list(self, key: str, split_commas: bool = False) -> list[str]:
        values = self._headers.getall(key, [])
        if not split_commas:
            return list(values)
        return [item.strip() for value in values for item in value.split(",")]


def response_headers_of(response: aiohttp.ClientResponse) -> ResponseHeaders:
    """The headers, decoded as httpx decodes them.

    ASCII values (nearly always) read the same either way; otherwise `httpx.Headers`
    decodes the raw bytes (ASCII, else UTF-8, else Latin-1, for the whole set).
    """
    if all(value.isascii() for _, value in response.raw_headers):
        return AsciiHeaders(response.headers)
    return httpx.Headers(response.raw_headers)
