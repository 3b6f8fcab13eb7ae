"""A real HTTP/1.1 server on loopback, in a background thread of the test process.

Tests poll feeds and fetch pages from it with the pipeline's real HTTP client, so
what they exercise is sockets, headers, keep-alive and conditional GET, not a mock::

    with LocalWeb() as web:
        web.route("/feed.xml", rss_bytes, content_type="application/rss+xml")
        web.fault("/slow.xml", "slow", rate=5)
        ...  # run the pipeline against web.url("/feed.xml")
        assert web.count("/feed.xml") == 2
        assert [r.status for r in web.requests_to("/feed.xml")] == [200, 304]

Routes are looked up by the exact request target first, then by its path without
the query string, so ``/page.html?utm_source=rss`` is served by ``/page.html``.
Routes can be replaced or removed while the server runs. Every request is logged
with its headers (names lower-cased) and the status sent (``None``: no answer).
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import socketserver
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import unquote, urlsplit

from testkit.faults import FAULTS, Fault, linger_reset

FIXED_DATE = datetime(2024, 11, 4, 8, 0, tzinfo=UTC)
"""Default ``Last-Modified`` of a route; each change of a route's body adds an hour."""

_DEFAULT: Any = object()


class Request(NamedTuple):
    method: str
    path: str  # the request target as sent, query string included
    headers: dict[str, str]  # names lower-cased
    status: int | None  # None when nothing was answered (hang, reset before headers)
    client: str = ""  # the peer's address


@dataclass(frozen=True)
class _Static:
    body: bytes
    content_type: str
    status: int
    headers: tuple[tuple[str, str], ...]
    etag: str | None
    last_modified: datetime | None


Route = _Static | Fault


class LocalWeb:
    """An HTTP server on ``127.0.0.1`` and a free port; starts on construction."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        self._versions: dict[str, int] = {}
        self._log: list[Request] = []
        self.stop = threading.Event()
        self._server = _Server(self, host)
        self.host, self.port = host, self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"LocalWeb:{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (a path with or without query) on this server."""
        return self.base_url + _path_of(path, self.base_url)

    # --- content -------------------------------------------------------------

    def route(
        self,
        path: str,
        body: bytes | str,
        *,
        content_type: str = "text/html; charset=utf-8",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        etag: bool | str = True,
        last_modified: datetime | None = _DEFAULT,
    ) -> None:
        """Serve ``body`` at ``path``, replacing what was there.

        ``etag=True`` derives a strong ETag from the body, a string is used as given
        and ``False`` sends none. ``last_modified`` defaults to `FIXED_DATE` plus one
        hour for every earlier different body at this path, so a changed feed also
        looks changed to a client that only sends If-Modified-Since; ``None`` sends
        no ``Last-Modified``.
        """
        key = _path_of(path, self.base_url)
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self._lock:
            previous = self._routes.get(key)
            if isinstance(previous, _Static) and previous.body != data:
                self._versions[key] = self._versions.get(key, 0) + 1
            if last_modified is _DEFAULT:
                last_modified = FIXED_DATE + timedelta(hours=self._versions.get(key, 0))
            self._routes[key] = _Static(
                body=data,
                content_type=content_type,
                status=status,
                headers=tuple((headers or {}).items()),
                etag=_etag_for(data, etag),
                last_modified=last_modified,
            )

    def fault(self, path: str, kind: str, **params: Any) -> None:
        """Serve a misbehaving response at ``path``, replacing what was there.

        Kinds and their parameters (defaults in `testkit.faults`):
        ``slow`` (rate bytes/s, body or size, delay s before headers) · ``hang``
        (seconds, default until close) · ``endless`` (chunk) · ``reset`` (size, after,
        headers, rst) · ``gzip_bomb`` (size decoded) · ``redirect`` (to, status) ·
        ``redirect_loop`` (status, distinct) · ``status`` (status, headers, body) ·
        ``flapping`` (body, statuses) · ``garbage`` (size, seed) · ``empty`` (status);
        most also take ``content_type``.
        """
        try:
            fault_type = FAULTS[kind]
        except KeyError:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}") from None
        route = fault_type(**params)
        with self._lock:
            self._routes[_path_of(path, self.base_url)] = route

    def remove(self, path: str) -> None:
        """Stop serving ``path``: it answers 404 from now on."""
        with self._lock:
            self._routes.pop(_path_of(path, self.base_url), None)

    def lookup(self, target: str) -> tuple[str, Route | None]:
        """The route serving a request target, and the key it was found under."""
        with self._lock:
            for key in _candidates(target):
                if key in self._routes:
                    return key, self._routes[key]
        return urlsplit(target).path, None

    # --- the request log -------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    def requests_to(self, path: str, method: str | None = None) -> list[Request]:
        """Requests for ``path``: exactly, when it has a query; else whatever the query."""
        wanted = _path_of(path, self.base_url)
        with_query = "?" in wanted
        return [
            r
            for r in self.requests
            if (r.path if with_query else urlsplit(r.path).path) == wanted
            and (method is None or r.method == method)
        ]

    def count(self, path: str, method: str | None = None) -> int:
        return len(self.requests_to(path, method))

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    def record(self, request: Request) -> None:
        with self._lock:
            self._log.append(request)

    # --- life cycle ------------------------------------------------------------

    def close(self) -> None:
        """Stop serving and drop every open connection, however stuck."""
        if self.stop.is_set():
            return
        self.stop.set()
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _path_of(path: str, base_url: str) -> str:
    if path.startswith(base_url):
        path = path[len(base_url) :]
    return path if path.startswith("/") else "/" + path


def _candidates(target: str) -> list[str]:
    path = target.split("?", 1)[0]
    return list(dict.fromkeys([target, unquote(target), path, unquote(path)]))


def _etag_for(body: bytes, etag: bool | str) -> str | None:
    if etag is True:
        return '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
    if not etag:
        return None
    return etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'


def _http_date(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _not_modified(headers: Mapping[str, str], route: _Static) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if route.etag is None:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or route.etag.removeprefix("W/") in tags
    since = headers.get("if-modified-since")
    if since is None or route.last_modified is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    modified = route.last_modified
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    return modified.replace(microsecond=0) <= when


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 drops SYNs under 50 concurrent connects

    def __init__(self, web: LocalWeb, host: str) -> None:
        self.web = web
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((host, 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would do a reverse DNS lookup of the address.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[0], self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._open_lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-response is routine here, not a failure.
        if isinstance(sys.exc_info()[1], OSError | ValueError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Serves one connection; also the `Responder` that faults write through."""

    protocol_version = "HTTP/1.1"
    server_version = "LocalWeb/1.0"
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections close after this
    server: _Server

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is LocalWeb.requests

    def _dispatch(self, *, head: bool) -> None:
        self.head = head
        self.target = self.path
        self.stop = self.server.web.stop
        self.path, route = self.server.web.lookup(self.path)
        if route is None:
            body = b"not found\n"
            self.start(404, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            self.write(body)
        elif isinstance(route, _Static):
            self._serve_static(route)
        else:
            route.serve(self)

    def _serve_static(self, route: _Static) -> None:
        headers = [(k.lower(), v) for k, v in self.headers.items()]
        validators = []
        if route.etag:
            validators.append(("ETag", route.etag))
        if route.last_modified:
            validators.append(("Last-Modified", _http_date(route.last_modified)))
        if 200 <= route.status < 300 and _not_modified(dict(headers), route):
            self.start(304, validators)
            return
        self.start(
            route.status,
            [
                ("Content-Type", route.content_type),
                ("Content-Length", str(len(route.body))),
                *validators,
                *route.headers,
            ],
        )
        self.write(route.body)

    # --- Responder ----------------------------------------------------------

    def log_only(self, status: int | None) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        client = str(self.client_address[0])
        self.server.web.record(Request(self.command, self.target, headers, status, client))

    def start(self, status: int, headers: Sequence[tuple[str, str]]) -> None:
        self.log_only(status)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()

    def write(self, data: bytes) -> None:
        if not self.head:
            self.wfile.write(data)

    def drop(self, *, rst: bool) -> None:
        self.close_connection = True
        if rst:
            try:
                linger_reset(self.connection)
            except OSError:
                return
        # The buffered files hold references to the socket; all three must close.
        self.wfile.close()
        self.rfile.close()
        self.connection.close()
