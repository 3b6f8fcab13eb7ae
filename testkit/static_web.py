"""A fast static web on loopback for the benchmarks: a document root on disk (written by
`testkit.news_site`; a path's first part is its outlet) served on several loopback
addresses (127.0.0.1, 127.0.0.2, ...: one "host" per outlet, so per-host connection
limits behave as with real outlets) by

- **nginx** (Debian's `nginx-light`), one worker process, when it is installed, or
- **the asyncio server** of `testkit.static_server`, in its own process.

`start_web(backend="auto")` measures both on this machine and keeps the faster. Both
send the same validators and treat ``/nv/`` alike (see `testkit.static_server`). The
tests' `testkit.webserver.LocalWeb` serves from memory with faults on demand; this one
serves files at the rate the benchmarks need.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from testkit import static_server
from testkit.static_server import CONTENT_TYPES, NO_VALIDATORS


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def _nginx_conf(root: Path, hosts: Sequence[str], port: int, work: Path) -> str:
    listens = "\n".join(f"    listen {host}:{port} backlog=4096;" for host in hosts)
    types = "\n".join(f'    "{ctype}" {ext[1:]};' for ext, ctype in CONTENT_TYPES.items())
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  types {{
{types}
  }}
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  server {{
{listens}
    root {root};
    location {NO_VALIDATORS} {{ etag off; if_modified_since off; }}
  }}
}}
"""


@dataclass
class Web:
    """A document root served on loopback; URLs name one of its hosts."""

    root: Path
    hosts: list[str]
    port: int
    backend: str = ""
    process: subprocess.Popen[bytes] | None = None
    work: Path | None = None
    rates: dict[str, float] = field(default_factory=dict)  # backend → requests/s measured

    def url(self, path: str, host: int = 0) -> str:
        return f"http://{self.hosts[host % len(self.hosts)]}:{self.port}/{path.lstrip('/')}"

    def file(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None


def loopback_hosts(count: int) -> list[str]:
    """127.0.0.1 ... 127.0.0.<count>: every address of 127.0.0.0/8 is loopback on Linux."""
    return [f"127.0.0.{i}" for i in range(1, count + 1)]


def _free_port(hosts: Sequence[str]) -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
        try:
            for host in hosts[1:]:
                with socket.socket() as other:
                    other.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port on the loopback addresses")


def _wait_ready(hosts: Sequence[str], port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    pending = list(hosts)
    while pending:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection((pending[0], port), timeout=1):
                pending.pop(0)
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start listening") from None
            time.sleep(0.05)


def start_server(root: Path, hosts: Sequence[str], backend: str, port: int = 0) -> Web:
    """Start ``backend`` ("nginx" or "python") on every host; raises when it cannot.

    ``port`` 0 picks a free one; content whose URLs embed the port needs it fixed
    beforehand (`reserve_port`).
    """
    port = port or _free_port(hosts)
    web = Web(root=Path(root), hosts=list(hosts), port=port, backend=backend)
    if backend == "nginx":
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed")
        web.work = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        conf = web.work / "nginx.conf"
        conf.write_text(_nginx_conf(web.root, hosts, port, web.work), encoding="utf-8")
        command = [binary, "-c", str(conf), "-p", str(web.work), "-e", str(web.work / "err.log")]
        web.process = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    elif backend == "python":
        script = [sys.executable, str(Path(static_server.__file__).resolve())]
        args = ["--root", str(web.root), "--port", str(port), "--hosts", ",".join(hosts)]
        web.process = subprocess.Popen(
            [*script, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    else:
        raise ValueError(f"unknown server backend {backend!r}")
    try:
        _wait_ready(hosts, port, web.process)
    except Exception:
        web.close()
        raise
    return web


def start_web(root: Path, hosts: Sequence[str], backend: str = "auto", port: int = 0) -> Web:
    """The server for the benchmarks: "nginx", "python", or "auto" (the faster one here).

    "auto" serves a sample of ``root`` with each available backend under the same load
    (`load_test`) and keeps the faster; `Web.rates` holds what each managed.
    """
    if backend != "auto":
        return start_server(root, hosts, backend, port)
    sample = _sample_paths(root)
    rates: dict[str, float] = {}
    for candidate in ("nginx", "python"):
        if candidate == "nginx" and nginx_binary() is None:
            continue
        try:
            web = start_server(root, hosts, candidate, port)
        except RuntimeError as exc:
            print(f"  {candidate}: could not start ({exc})", file=sys.stderr)
            continue
        try:
            rates[candidate] = load_test(web, sample)
        finally:
            web.close()
    if not rates:
        raise RuntimeError("no server backend could start")
    best = max(rates, key=lambda name: rates[name])
    web = start_server(root, hosts, best, port)
    web.rates = rates
    return web


def _sample_paths(root: Path, limit: int = 200) -> list[str]:
    paths: list[str] = []
    for suffix in (".xml", ".html"):
        found = sorted(p for p in Path(root).rglob(f"*{suffix}"))[: limit // 2]
        paths += ["/" + str(p.relative_to(root)) for p in found]
    if not paths:
        raise RuntimeError(f"nothing to serve under {root}")
    return paths


def load_test(web: Web, paths: Sequence[str], seconds: float = 2.0, connections: int = 32) -> float:
    """Requests per second ``web`` serves to a minimal keep-alive client (raw sockets).

    Half the paths are feeds and half pages, fetched in turn; the client does only
    socket reads and Content-Length framing, so the figure is the server's.
    """

    async def run() -> int:
        done = 0
        stop = time.monotonic() + seconds

        async def worker(number: int) -> None:
            nonlocal done
            host = web.hosts[number % len(web.hosts)]
            reader, writer = await asyncio.open_connection(host, web.port)
            i = number
            while time.monotonic() < stop:
                path = paths[i % len(paths)]
                i += connections
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                done += 1
            writer.close()

        await asyncio.gather(*(worker(n) for n in range(connections)))
        return done

    started = time.perf_counter()
    count = asyncio.run(run())
    return count / (time.perf_counter() - started)


def reserve_port(hosts: Sequence[str]) -> int:
    """A port free on every host, for content generated before the server starts."""
    return _free_port(hosts)
