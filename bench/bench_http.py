"""HTTP client cost per request: bare httpx, bare aiohttp, and monitor's `Fetcher`.

    .venv/bin/python bench/bench_http.py                 # ~1 min
    .venv/bin/python bench/bench_http.py --requests 5000 --rounds 5 --server python

Serves generated feeds (RSS of 20-50 items, ~24 KB) and article pages (~110 KB) on 16
loopback addresses with `testkit/static_web.py` (nginx when installed), then fetches them
20 at a time (monitor's default ``polling.concurrency``) through each client:

- ``httpx``: one bare ``httpx.AsyncClient`` (20 connections, ``trust_env=False``);
- ``aiohttp``: one bare ``aiohttp.ClientSession`` (20 connections);
- ``httpx+aiohttp-transport``: httpx's client over the ``httpx-aiohttp`` transport,
  with monitor's guarded connector (only when ``httpx_aiohttp`` is importable);
- ``Fetcher (httpx, <rev>)``: monitor's fetcher as it was at git revision ``--legacy-rev``
  (httpx with the guarded httpcore network backend), loaded from git without touching
  the work tree; skipped outside a git checkout;
- ``Fetcher``: monitor's fetcher as it is now.

Workloads: ``poll`` (every feed once with the validators of a priming pass; one feed in
ten is served without validators, so 90% come back 304 and 10% as full 200s: the poll
pass of bench/run.py) and ``pages`` (article pages, all 200). Prints requests per second
and client CPU seconds per 1,000 requests (``time.process_time`` of this process; the
server runs in its own). Rounds alternate the clients; the best round of each counts.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from testkit.articles import article_sources  # noqa: E402
from testkit.news_site import build_news_site, publish_poll_feeds  # noqa: E402
from testkit.static_web import loopback_hosts, reserve_port, start_web  # noqa: E402

HOSTS = 16
CONCURRENCY = 20
LEGACY_REV = "2c58cd1cfce0956dca0ef4868a4a367772fb798d"  # the last httpx-based fetcher

Validators = dict[str, dict[str, str]]
Client = Callable[[Sequence[str], Validators], Awaitable[Counter[int]]]


# --- the local web --------------------------------------------------------------------------


def build_web(root: Path, pages: int, feeds: int, server: str) -> tuple[Any, list[str], list[str]]:
    hosts = loopback_hosts(HOSTS)
    port = reserve_port(hosts)
    site = build_news_site(root, hosts, port, article_sources(pages))
    feed_files = publish_poll_feeds(site, hosts, port, feeds, site.pages, seed=11, tag="http-bench")
    web = start_web(root, hosts, server, port)
    feed_urls = [site.feed_url(web, feed) for feed in feed_files]
    page_urls = [site.page_url(web, index) for index in range(len(site.pages))]
    return web, feed_urls, page_urls


# --- the clients -----------------------------------------------------------------------------


async def _gather(urls: Sequence[str], one: Callable[[str], Awaitable[int]]) -> Counter[int]:
    gate = asyncio.Semaphore(CONCURRENCY)
    statuses: Counter[int] = Counter()

    async def run(url: str) -> None:
        async with gate:
            statuses[await one(url)] += 1

    await asyncio.gather(*(run(url) for url in urls))
    return statuses


async def bare_httpx(urls: Sequence[str], validators: Validators) -> Counter[int]:
    import httpx

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=60, trust_env=False) as client:

        async def one(url: str) -> int:
            response = await client.get(url, headers=validators.get(url))
            await response.aread()
            return response.status_code

        return await _gather(urls, one)


async def bare_aiohttp(urls: Sequence[str], validators: Validators) -> Counter[int]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def one(url: str) -> int:
            async with session.get(url, headers=validators.get(url)) as response:
                await response.read()
                return response.status

        return await _gather(urls, one)


async def httpx_over_aiohttp(urls: Sequence[str], validators: Validators) -> Counter[int]:
    import aiohttp
    import httpx
    from httpx_aiohttp import AiohttpTransport

    from monitor.pipeline.addresses import EgressPolicy
    from monitor.pipeline.egress import GuardedConnector

    connector = GuardedConnector(EgressPolicy(allow_private_networks=True), limit=CONCURRENCY)
    session = aiohttp.ClientSession(connector=connector, trust_env=False)
    transport = AiohttpTransport(client=session)
    async with httpx.AsyncClient(transport=transport, timeout=60, trust_env=False) as client:

        async def one(url: str) -> int:
            response = await client.get(url, headers=validators.get(url))
            await response.aread()
            return response.status_code

        return await _gather(urls, one)


def fetcher_client(fetcher_class: Any) -> Client:
    async def run(urls: Sequence[str], validators: Validators) -> Counter[int]:
        from monitor.settings import HttpSettings

        settings = HttpSettings(allow_private_networks=True)
        async with fetcher_class(settings) as fetcher:

            async def one(url: str) -> int:
                pair = validators.get(url, {})
                result = await fetcher.get(
                    url, etag=pair.get("If-None-Match"), last_modified=pair.get("If-Modified-Since")
                )
                return int(result.status)

            return await _gather(urls, one)

    return run


def legacy_fetcher(rev: str) -> Any | None:
    """`Fetcher` as it was at ``rev`` (its fetch.py and egress.py read with `git show`)."""
    sources = {}
    for name in ("egress", "fetch"):
        shown = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{rev}:monitor/pipeline/{name}.py"],
            capture_output=True,
            text=True,
            check=False,
        )
        if shown.returncode != 0:
            return None
        sources[name] = shown.stdout
    modules = {}
    for name in ("egress", "fetch"):
        module = types.ModuleType(f"legacy_{name}")
        sys.modules[module.__name__] = module
        code = sources[name].replace("monitor.pipeline.egress", "legacy_egress")
        exec(compile(code, f"<{rev[:7]}:{name}.py>", "exec"), module.__dict__)
        modules[name] = module
    return modules["fetch"].Fetcher


async def prime(urls: Sequence[str]) -> Validators:
    """The validators each feed sends (as a poller stores them after a first pass)."""
    import aiohttp

    found: Validators = {}
    async with aiohttp.ClientSession(trust_env=False) as session:

        async def one(url: str) -> int:
            async with session.get(url) as response:
                await response.read()
                pair = {}
                if response.headers.get("etag"):
                    pair["If-None-Match"] = response.headers["etag"]
                if response.headers.get("last-modified"):
                    pair["If-Modified-Since"] = response.headers["last-modified"]
                found[url] = pair
                return response.status

        await _gather(urls, one)
    return found


# --- measuring -------------------------------------------------------------------------------


def measure(
    client: Client, urls: Sequence[str], validators: Validators
) -> tuple[float, float, Counter[int]]:
    cpu, wall = time.process_time(), time.perf_counter()
    statuses = asyncio.run(client(urls, validators))
    return time.perf_counter() - wall, time.process_time() - cpu, statuses


Best = dict[tuple[str, str], tuple[float, float, Counter[int]]]  # (workload, client) → best


def main() -> None:
    args = parse_args()
    clients = choose_clients(args)
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        root = Path(tmp) / "www"
        root.mkdir()
        Path(tmp).chmod(0o755)
        root.chmod(0o755)
        feeds = max(HOSTS, min(args.requests, 2000))
        web, feed_urls, page_urls = build_web(root, 160, feeds, args.server)
        try:
            validators = asyncio.run(prime(feed_urls))
            poll = [feed_urls[i % len(feed_urls)] for i in range(args.requests)]
            pages = [page_urls[i % len(page_urls)] for i in range(args.pages)]
            print(
                f"server: {web.backend}; {len(feed_urls)} feeds, {len(page_urls)} pages on "
                f"{HOSTS} loopback hosts; {CONCURRENCY} requests at a time; "
                f"{args.rounds} rounds, best kept",
                flush=True,
            )
            best = run_rounds(clients, {"poll": poll, "pages": pages}, validators, args.rounds)
        finally:
            web.close()
    print_table(best, clients, {"poll": len(poll), "pages": len(pages)})


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="poll requests per round")
    parser.add_argument("--pages", type=int, default=600, help="page requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", default="auto", choices=("auto", "nginx", "python"))
    parser.add_argument("--legacy-rev", default=LEGACY_REV)
    parser.add_argument("--only", help="comma-separated client names (substring match)")
    return parser.parse_args()


def choose_clients(args: argparse.Namespace) -> dict[str, Client]:
    """The clients to compare, by name: those installed, narrowed by ``--only``."""
    from monitor.pipeline.fetch import Fetcher

    clients: dict[str, Client] = {"httpx": bare_httpx, "aiohttp": bare_aiohttp}
    try:
        import httpx_aiohttp  # noqa: F401
    except ImportError:
        print("httpx-aiohttp is not installed: skipping httpx+aiohttp-transport")
    else:
        clients["httpx+aiohttp-transport"] = httpx_over_aiohttp
    legacy = legacy_fetcher(args.legacy_rev)
    if legacy is None:
        print(f"git revision {args.legacy_rev[:7]} not available: skipping the httpx Fetcher")
    else:
        clients[f"Fetcher (httpx, {args.legacy_rev[:7]})"] = fetcher_client(legacy)
    clients["Fetcher"] = fetcher_client(Fetcher)
    if args.only:
        wanted = args.only.split(",")
        clients = {k: v for k, v in clients.items() if any(w in k for w in wanted)}
    return clients


def run_rounds(
    clients: dict[str, Client],
    workloads: dict[str, list[str]],
    validators: Validators,
    rounds: int,
) -> Best:
    """Every client on every workload, ``rounds`` times in turn; the fastest round kept."""
    best: Best = {}
    for round_ in range(rounds):
        for workload, urls in workloads.items():
            for name, client in clients.items():
                wall, cpu, statuses = measure(
                    client, urls, validators if workload == "poll" else {}
                )
                key = (workload, name)
                if key not in best or wall < best[key][0]:
                    best[key] = (wall, cpu, statuses)
        print(f"round {round_ + 1} done", flush=True)
    return best


def print_table(best: Best, clients: dict[str, Client], requests: dict[str, int]) -> None:
    print()
    print("| workload | client | requests/s | CPU-s per 1,000 requests | statuses |")
    print("| --- | --- | ---: | ---: | --- |")
    for workload, count in requests.items():
        for name in clients:
            wall, cpu, statuses = best[(workload, name)]
            print(
                f"| {workload} | {name} | {count / wall:,.0f} | {cpu / count * 1000:.2f} | "
                f"{dict(sorted(statuses.items()))} |"
            )


if __name__ == "__main__":
    main()
