"""How many requests per second `LocalWeb` serves to concurrent httpx clients.

Run ``python -m tests.support.loadcheck [--clients 50] [--requests 3000]``. Everything
stays on 127.0.0.1; the run is bounded by the request count.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from testkit.webserver import LocalWeb


async def _run(web: LocalWeb, clients: int, requests: int, *, shared: bool) -> float:
    """``clients`` concurrent loops of GETs: sharing one pooled client, or one client each."""
    left = [requests]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def worker(client: httpx.AsyncClient) -> None:
        while left[0] > 0:
            left[0] -= 1
            response = await client.get(web.url(f"/page/{left[0] % 100}"))
            response.raise_for_status()

    async def own_client() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            await worker(client)

    started = time.perf_counter()
    if shared:
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            await asyncio.gather(*(worker(client) for _ in range(clients)))
    else:
        await asyncio.gather(*(own_client() for _ in range(clients)))
    return time.perf_counter() - started


async def _run_raw(web: LocalWeb, clients: int, requests: int) -> float:
    """The same load from bare keep-alive sockets: the server's own ceiling.

    httpx's connection pool, not the server, is what limits the shared-client figure.
    """
    left = [requests]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(web.host, web.port)
        while left[0] > 0:
            left[0] -= 1
            writer.write(f"GET /page/{left[0] % 100} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--size", type=int, default=20_000, help="body bytes")
    args = parser.parse_args()
    runs: dict[str, Callable[[LocalWeb], Coroutine[Any, Any, float]]] = {
        "one shared httpx.AsyncClient": lambda web: _run(
            web, args.clients, args.requests, shared=True
        ),
        "an httpx.AsyncClient each": lambda web: _run(
            web, args.clients, args.requests, shared=False
        ),
        "raw keep-alive sockets": lambda web: _run_raw(web, args.clients, args.requests),
    }
    with LocalWeb() as web:
        for n in range(100):
            web.route(f"/page/{n}", b"x" * args.size)
        for name, run in runs.items():
            web.reset_log()
            seconds = asyncio.run(run(web))
            served = len(web.requests)
            print(
                f"{name:30} {served} GETs of {args.size} B over {args.clients} connections: "
                f"{served / seconds:6.0f} requests/s"
            )


if __name__ == "__main__":
    main()
