"""Content-Encoding, decoded as httpx decodes it (aiohttp's own decompression is off),
with the decoded size capped across every layer and at most `MAX_CODINGS` layers."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any, Protocol

from monitor.errors import DecodingError

if TYPE_CHECKING:
    pass

from monitor.pipeline.fetch.headers import ResponseHeaders


class Decoder(Protocol):
    def decode(self, data: bytes, budget: int) -> bytes: ...

    def flush(self, budget: int) -> bytes: ...


class IdentityDecoder:
    def decode(self, data: bytes, budget: int) -> bytes:
        return data

    def flush(self, budget: int) -> bytes:
        return b""


class ZlibDecoder:
    """gzip, or deflate (zlib-wrapped, or raw when the first bytes are not zlib's).

    ``budget``: at most that many bytes come out of one call; a call that stops at
    the budget means the body is over the cap (the caller's check raises), so a bomb
    never decompresses further than the cap plus one byte.
    """

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._first = not gzip
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)

    def decode(self, data: bytes, budget: int) -> bytes:
        first, self._first = self._first, False
        try:
            return self._z.decompress(data, max(budget, 1))
        except zlib.error as exc:
            if first:  # httpx: deflate without the zlib wrapper, as some servers send it
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.decode(data, budget)
            raise DecodingError(str(exc)) from exc

    def flush(self, budget: int) -> bytes:
        # every byte fed was consumed (a call stopped by its budget ends the read), so
        # this only returns what zlib still buffers
        try:
            return self._z.flush()
        except zlib.error as exc:
            raise DecodingError(str(exc)) from exc


class BrotliDecoder:
    """``br``, when brotli is installed (httpx decodes it then, asked for or not)."""

    def __init__(self) -> None:
        self._d = _BROTLI.Decompressor()
        self._seen = False

    def decode(self, data: bytes, budget: int) -> bytes:
        if not data:
            return b""
        self._seen = True
        try:
            # the output stops growing at the budget: a brotli bomb inflates no further
            return bytes(self._d.process(data, output_buffer_limit=max(budget, 1)))
        except _BROTLI.error as exc:
            raise DecodingError(str(exc)) from exc

    def flush(self, budget: int) -> bytes:
        if not self._seen:
            return b""
        try:
            if hasattr(self._d, "finish"):  # brotlicffi only, as in httpx
                self._d.finish()
        except _BROTLI.error as exc:
            raise DecodingError(str(exc)) from exc
        return b""


class MultiDecoder:
    """Several codings, undone last first (``Content-Encoding: gzip, br``).

    Every layer's output counts against the cap, not only the last one's: with only
    the last one bounded, ``gzip, gzip`` inflated 6 MB on the wire to 4 GB in the
    inner layer before the cap saw a byte.
    """

    def __init__(self, children: list[Decoder], cap: int) -> None:
        self._children = list(reversed(children))
        self._cap = cap
        self._produced = [0] * len(self._children)

    def decode(self, data: bytes, budget: int) -> bytes:
        return self._through(data, budget, final=False)

    def flush(self, budget: int) -> bytes:
        return self._through(b"", budget, final=True)

    def _through(self, data: bytes, budget: int, *, final: bool) -> bytes:
        last = len(self._children) - 1
        for index, child in enumerate(self._children):
            room = budget if index == last else self._cap - self._produced[index] + 1
            data = child.decode(data, room)
            if final:
                data += child.flush(room)
            self._produced[index] += len(data)
            if index != last and self._produced[index] > self._cap:
                raise DecodedTooLarge(self._cap)
        return data


class DecodedTooLarge(Exception):
    """An inner content coding inflated past the body cap."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"decoded body over {cap} bytes")


def _load_brotli() -> Any:
    try:
        import brotli  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None
    return brotli


_BROTLI = _load_brotli()


MAX_CODINGS = 2


def content_decoder(headers: ResponseHeaders, cap: int) -> Decoder:
    """The decoder for a response's Content-Encoding: httpx's rules, within ``cap``.

    Codings are read left to right from every Content-Encoding field (comma-separated,
    case-insensitive); unknown ones (and ``br`` without brotli installed) are skipped,
    so their bytes pass through as they came. More than `MAX_CODINGS` real codings is
    refused: no server needs three, and each layer multiplies what a bomb can hold.
    """
    decoders: list[Decoder] = []
    for value in headers.get_list("content-encoding", split_commas=True):
        coding = value.strip().lower()
        if coding == "identity":
            decoders.append(IdentityDecoder())
        elif coding in ("gzip", "deflate"):
            decoders.append(ZlibDecoder(gzip=coding == "gzip"))
        elif coding == "br" and _BROTLI is not None:
            decoders.append(BrotliDecoder())
    decoders = [d for d in decoders if not isinstance(d, IdentityDecoder)]
    if len(decoders) > MAX_CODINGS:
        raise DecodingError(
            f"{len(decoders)} content codings stacked; more than {MAX_CODINGS} are refused"
        )
    if len(decoders) == 1:
        return decoders[0]
    if decoders:
        return MultiDecoder(decoders, cap)
    return IdentityDecoder()
