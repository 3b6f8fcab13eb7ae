"""Hostile feeds: how long the daemon's event loop is held while one is parsed.

    .venv/bin/python bench/bench_hostile_parse.py [--sizes 0.25,0.5,1,2] [--cap 60]

For each shape of feed known to be super-linear in feedparser, at each size, two runs
in the same invocation:

- in process: `parse_feed` called directly, as the daemon did before the sandbox, in a
  child interpreter killed after ``--cap`` seconds; its wall time is how long the event
  loop (every other feed, `/healthz`) would have stood still, and its peak RSS what the
  daemon would have grown by.
- sandboxed: `Sandbox.parse_feed` with the shipped limits (30 s, 1536 MB), while a
  ticker on the same event loop measures the longest gap between its ticks: how long
  the loop was held.

The baseline row is a well-formed feed of the same size, so the ratios say what the
shape costs beyond its bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from monitor.errors import FeedParseError  # noqa: E402
from monitor.pipeline.sandbox import Sandbox  # noqa: E402

URL = "http://127.0.0.1/feed.xml"


def _feed(description: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>H</title>"
        "<item><title>t</title><guid>g-1</guid><link>http://127.0.0.1/a</link>"
        f"<description><![CDATA[{description}]]></description></item></channel></rss>"
    ).encode()


def plain(size: int) -> bytes:
    return _feed("<p>" + "word " * (size // 5) + "</p>")


def unclosed_comments(size: int) -> bytes:
    return _feed("<!-- c" * (size // 6))


def nested_loose_html(size: int) -> bytes:
    return _feed("<div><b><i>x" * (size // 12))


def many_attributes(size: int) -> bytes:
    return _feed("<p " + " ".join(f"a{i}='v'" for i in range(size // 10)) + ">x</p>")


SHAPES: dict[str, Callable[[int], bytes]] = {
    "well-formed (baseline)": plain,
    "unclosed comments": unclosed_comments,
    "nested loose HTML": nested_loose_html,
    "many attributes": many_attributes,
}

IN_PROCESS = """
import resource, sys, time
from monitor.pipeline.parse import parse_feed
body = open(sys.argv[1], 'rb').read()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    parse_feed(body, 'http://127.0.0.1/feed.xml', 'application/rss+xml')
except Exception:
    pass
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(time.perf_counter() - start, (peak - base) // 1024)
"""


def in_process(body: bytes, cap: float) -> tuple[float | None, int | None]:
    """Wall seconds and RSS growth in MB of a direct parse; (None, None) past the cap."""
    with tempfile.NamedTemporaryFile(suffix=".xml") as file:
        file.write(body)
        file.flush()
        try:
            done = subprocess.run(
                [sys.executable, "-c", IN_PROCESS, file.name],
                capture_output=True,
                text=True,
                timeout=cap,
                cwd=REPO,
            )
        except subprocess.TimeoutExpired:
            return None, None
    seconds, grown = done.stdout.split()
    return float(seconds), int(grown)


async def sandboxed(sandbox: Sandbox, body: bytes) -> tuple[float, float, str]:
    """Seconds to an answer, the loop's longest stall meanwhile, and the outcome."""
    longest = 0.0
    running = True

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    ticker = asyncio.create_task(tick())
    start = time.perf_counter()
    try:
        feed = await sandbox.parse_feed(body, URL, "application/rss+xml")
        outcome = f"{len(feed.entries)} entries"
    except FeedParseError as exc:
        outcome = exc.reason
    elapsed = time.perf_counter() - start
    running = False
    await ticker
    return elapsed, longest, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.25,0.5,1,2", help="MB, comma-separated")
    parser.add_argument("--cap", type=float, default=60.0, help="seconds per in-process run")
    args = parser.parse_args()
    sizes = [float(value) for value in args.sizes.split(",")]

    async def run() -> None:
        sandbox = Sandbox(workers=1)
        try:
            print(
                "| shape | MB | in process: s (× baseline), +MB | sandboxed: s, "
                "loop held (ms), outcome |"
            )
            print("| --- | ---: | --- | --- |")
            baseline: dict[float, float] = {}
            for name, shape in SHAPES.items():
                for size in sizes:
                    body = shape(int(size * 1024 * 1024))
                    seconds, grown = in_process(body, args.cap)
                    if name.endswith("(baseline)") and seconds is not None:
                        baseline[size] = seconds
                    if seconds is None:
                        direct = f"> {args.cap:g} (killed)"
                    else:
                        ratio = seconds / baseline[size] if baseline.get(size) else 1.0
                        direct = f"{seconds:.2f} ({ratio:.0f}×), +{grown}"
                    elapsed, held, outcome = await sandboxed(sandbox, body)
                    print(
                        f"| {name} | {size:g} | {direct} | {elapsed:.2f}, "
                        f"{held * 1000:.0f}, {outcome} |",
                        flush=True,
                    )
        finally:
            sandbox.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
