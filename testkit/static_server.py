"""The asyncio static file server of the benchmarks' web (`testkit.static_web`), run in
a process of its own: HTTP/1.1 GET and HEAD with keep-alive (`asyncio.Protocol`, uvloop
when importable) over one document root, on several loopback addresses.

It sends ``ETag`` (nginx's format: mtime-size in hex) and ``Last-Modified`` and answers
304 to ``If-None-Match`` / ``If-Modified-Since``, except under ``/nv/``: there it sends
``Last-Modified`` only and ignores conditional headers (a server that always answers
200, which the pipeline must recognise from the body). A file changed on disk is served
changed at once, with new validators. Imports nothing outside the standard library, so
it runs as a script::

    .venv/bin/python testkit/static_server.py --root DIR --port N --hosts 127.0.0.1,127.0.0.2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/rss+xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
NO_VALIDATORS = "/nv/"


class _FileCache:
    """Bodies and validators by path, re-read when the file's mtime or size changes."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.realpath(root)
        self._files: dict[str, tuple[int, int, bytes, str, str, str]] = {}

    def get(self, path: str) -> tuple[bytes, str, str, str] | None:
        full = os.path.realpath(os.path.join(self.root, path.lstrip("/")))
        if not full.startswith(self.root + os.sep):
            return None
        try:
            st = os.stat(full)
        except OSError:
            return None
        cached = self._files.get(full)
        if cached is None or cached[0] != st.st_mtime_ns or cached[1] != st.st_size:
            try:
                with open(full, "rb") as handle:
                    body = handle.read()
            except OSError:
                return None
            mtime = int(st.st_mtime)
            etag = f'"{mtime:x}-{len(body):x}"'
            modified = email.utils.formatdate(mtime, usegmt=True)
            ctype = CONTENT_TYPES.get(os.path.splitext(full)[1], "application/octet-stream")
            cached = (st.st_mtime_ns, st.st_size, body, etag, modified, ctype)
            self._files[full] = cached
        return cached[2], cached[3], cached[4], cached[5]


class _HTTPProtocol(asyncio.Protocol):
    """HTTP/1.1 GET and HEAD with keep-alive; requests on a connection answered in order."""

    def __init__(self, files: _FileCache) -> None:
        self.files = files
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65536:
                    self.transport.close()
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            self._respond(head.decode("latin-1"))

    def _respond(self, head: str) -> None:
        assert self.transport is not None
        lines = head.split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self.transport.close()
            return
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        path = unquote(target.split("?", 1)[0])
        found = self.files.get(path) if method in ("GET", "HEAD") else None
        keep = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        conn = b"keep-alive" if keep else b"close"
        if found is None:
            body = b"not found\n"
            out = (
                b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
                b"Connection: " + conn + b"\r\n\r\n" + (body if method == "GET" else b"")
            )
            self.transport.write(out)
        else:
            body, etag, modified, ctype = found
            validators = not path.startswith(NO_VALIDATORS)
            if validators and _not_modified(headers, etag, modified):
                self.transport.write(
                    f"HTTP/1.1 304 Not Modified\r\nServer: localweb\r\nETag: {etag}\r\n"
                    f"Last-Modified: {modified}\r\nConnection: {conn.decode()}\r\n\r\n".encode()
                )
            else:
                etag_line = f"ETag: {etag}\r\n" if validators else ""
                self.transport.write(
                    f"HTTP/1.1 200 OK\r\nServer: localweb\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\n{etag_line}Last-Modified: {modified}\r\n"
                    f"Connection: {conn.decode()}\r\n\r\n".encode()
                )
                if method == "GET":
                    self.transport.write(body)
        if not keep:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _not_modified(headers: dict[str, str], etag: str, modified: str) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = headers.get("if-modified-since")
    if since is None:
        return False
    try:
        when = email.utils.parsedate_to_datetime(since)
        mine = email.utils.parsedate_to_datetime(modified)
    except (TypeError, ValueError):
        return False
    return mine <= when


def serve(root: Path, hosts: Sequence[str], port: int) -> None:
    """Run the server until killed."""
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        uvloop.install()
    except ImportError:
        pass
    files = _FileCache(root)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _HTTPProtocol(files), list(hosts), port, backlog=4096, reuse_address=True
        )
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hosts", default="127.0.0.1", help="comma-separated addresses")
    args = parser.parse_args()
    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
    if any(not h.startswith("127.") for h in hosts):
        parser.error("loopback addresses only")
    serve(args.root, hosts, args.port)


if __name__ == "__main__":
    main()
