"""A TCP proxy on loopback that can cut every connection through it, for database outages.

`cut` resets every open connection and refuses new ones (closes them at once) until
`restore`: what a client sees while a database fails over or a load balancer restarts.
`blackhole` is the nastier outage: connections are accepted and kept, and nothing is
answered, as when a firewall or a dead route drops packets. The bytes sent meanwhile are
held, not lost, and delivered on `restore`, as TCP's retransmission would deliver them
once the route is back: a connection that lived through the silence works on after it.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from types import TracebackType


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._down = False
        self._silent = False
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Reset every connection (RST, not FIN) and refuse new ones."""
        with self._lock:
            self._down = True
            for sock in self._open:
                _reset(sock)
            self._open.clear()

    def blackhole(self) -> None:
        """From now on, forward nothing in either direction; accept, and stay silent."""
        with self._lock:
            self._silent = True

    def restore(self) -> None:
        with self._lock:
            self._down = False
            self._silent = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._down:
                    _reset(client)
                    continue
                if self._silent:
                    self._open.add(client)
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                self._hold()
                if not (data := source.recv(65536)):
                    break
                self._hold()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                for sock in (source, sink):
                    if sock in self._open:
                        self._open.discard(sock)
                        _reset(sock)

    def _hold(self) -> None:
        """Wait while the proxy is silent (`cut` or `close` end the wait: the sockets
        are reset, and the next call on them fails)."""
        while self._silent and not self._down and not self._closed:
            time.sleep(0.02)


def _reset(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass
