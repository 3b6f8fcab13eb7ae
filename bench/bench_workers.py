"""Articles per second for 1, 2 and 4 worker processes on PostgreSQL, against the
single-process SQLite daemon, in the same run on the same local pages.

One news site (testkit/news_site.py: realistic ~114 KB pages, RSS feeds of 20–50 items)
is served on loopback. Each variant ingests every article into a fresh store:

- the embedded path: `monitor poll --once` on SQLite with the default extraction pool
  (one process per core), as `monitor run` does;
- the distributed path: `monitor scheduler` plus N × `monitor worker` on a fresh
  PostgreSQL schema, each worker with one extraction process.

The rate is taken between the first and the last article stored (stored time in the
database), so start-up (imports, forkserver, index loading) is not counted for either.
A second phase re-polls every feed unchanged, to measure polls per second.

    .venv/bin/python bench/bench_workers.py [--articles 1200] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from monitor.runtime.workers.engine import conninfo  # noqa: E402
from testkit.articles import article_sources  # noqa: E402
from testkit.cluster import MONITOR, Cluster, count, write_cluster_config  # noqa: E402
from testkit.db import query  # noqa: E402
from testkit.news_site import build_news_site  # noqa: E402
from testkit.static_web import loopback_hosts, reserve_port, start_web  # noqa: E402

RESULTS = REPO / "bench" / "results"
PG_ADMIN = os.environ.get("MONITOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def pg_schema() -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        base = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def rate(database_url: str, total: int) -> float:
    """Articles per second between the first and the last stored."""
    first, last = query(database_url, "SELECT min(fetched_at), max(fetched_at) FROM articles")[0]
    if isinstance(first, str):  # SQLite hands back text
        first, last = datetime.fromisoformat(first), datetime.fromisoformat(last)
    seconds = (last - first).total_seconds()
    return (total - 1) / seconds if seconds > 0 else float("nan")


def embedded(feed_urls: list[str], total: int, work: Path) -> tuple[float, float]:
    url = f"sqlite:///{work / 'embedded' / 'monitor.db'}"
    config = write_cluster_config(
        work / "embedded" / "config", url, feed_urls, extraction_workers=0
    )
    started = time.monotonic()
    result = subprocess.run(
        [MONITOR, "--config", str(config), "poll", "--once", "--json"],
        capture_output=True,
        text=True,
        cwd=work,
        env={k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
    )
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"poll --once failed:\n{result.stderr[-3000:]}")
    stored = count(url, "SELECT count(*) FROM articles")
    if stored != total:
        raise SystemExit(f"embedded run stored {stored} of {total} articles")
    return rate(url, total), wall


def distributed(
    feed_urls: list[str], total: int, workers: int, work: Path, *, pinned: bool
) -> tuple[float, float, float]:
    """(articles/s, wall seconds to the last article, unchanged polls/s).

    ``pinned``: each worker (with its extraction process) is held to one core, worker
    n on core n mod cores, as if each ran on a one-core machine of its own."""
    directory = work / f"workers-{workers}{'-pinned' if pinned else ''}"
    cores = os.cpu_count() or 1
    with pg_schema() as url:
        config = write_cluster_config(directory / "config", url, feed_urls)
        cluster = Cluster(config, directory)
        started = time.monotonic()
        try:
            cluster.scheduler()
            for n in range(workers):
                prefix = ("taskset", "-c", str(n % cores)) if pinned else ()
                cluster.worker(f"worker-{n}", concurrency=8, prefix=prefix)
            cluster.wait_for(
                lambda: count(url, "SELECT count(*) FROM articles") == total,
                timeout=1800,
                what=f"{total} articles",
            )
            wall = time.monotonic() - started
            ingest = rate(url, total)
            polls = repoll(url, cluster, len(feed_urls))
        finally:
            cluster.stop()
    return ingest, wall, polls


def repoll(url: str, cluster: Cluster, feeds: int) -> float:
    """Make every feed due at once (nothing changed on the server) and time the polls."""
    before = datetime.now(UTC)
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("UPDATE feeds SET next_poll_at = now() - interval '1 second'")
    cluster.wait_for(
        lambda: (
            count(url, f"SELECT count(*) FROM feeds WHERE last_polled_at > '{before}'") == feeds
        ),
        timeout=600,
        what="every feed polled again",
    )
    first, last = query(url, "SELECT min(last_polled_at), max(last_polled_at) FROM feeds")[0]
    seconds = (last - first).total_seconds()
    return (feeds - 1) / seconds if seconds > 0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1200)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--output", type=Path, default=RESULTS / "workers.md")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        work = Path(tmp)
        hosts = loopback_hosts(8)
        port = reserve_port(hosts)
        articles = article_sources(args.articles)
        site = build_news_site(work / "www", hosts, port, articles)
        web = start_web(work / "www", hosts, "auto", port)
        try:
            feed_urls = [site.feed_url(web, feed) for feed in site.feeds]
            total = len(articles)
            print(f"{total} articles in {len(feed_urls)} feeds, server {web.backend}", flush=True)
            base_rate, base_wall = embedded(feed_urls, total, work)
            print(f"embedded SQLite daemon: {base_rate:.1f} articles/s", flush=True)
            rows = []
            for pinned in (False, True):
                for workers in counts:
                    ingest, wall, polls = distributed(
                        feed_urls, total, workers, work, pinned=pinned
                    )
                    how = "one core each" if pinned else "free"
                    print(f"{workers} worker(s), {how}: {ingest:.1f} articles/s", flush=True)
                    rows.append((workers, pinned, ingest, wall, polls))
        finally:
            web.close()
    write_report(args, total, len(feed_urls), base_rate, base_wall, rows)


def write_report(
    args: argparse.Namespace,
    total: int,
    feeds: int,
    base_rate: float,
    base_wall: float,
    rows: list[tuple[int, bool, float, float, float]],
) -> None:
    lines = [
        "# Workers: articles per second by number of worker processes",
        "",
        f"`.venv/bin/python bench/bench_workers.py --articles {args.articles} "
        f"--workers {args.workers}` on {os.cpu_count()} cores, "
        f"{datetime.now(UTC):%Y-%m-%d}. {total} articles (pages ~114 KB median) "
        f"in {feeds} feeds on a loopback server.",
        "",
        "| variant | articles/s | × one worker | × SQLite daemon | wall s | unchanged polls/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| single-process daemon, SQLite (`poll --once`, 2 extraction processes) "
        f"| {base_rate:.1f} | | 1.00× | {base_wall:.0f} | |",
    ]
    for workers, pinned, ingest, wall, polls in rows:
        one = next((r[2] for r in rows if r[0] == 1 and r[1] == pinned), float("nan"))
        where = ", one core each" if pinned else ""
        lines.append(
            f"| {workers} worker process{'es' if workers > 1 else ''}{where} + scheduler, "
            f"PostgreSQL | {ingest:.1f} | {ingest / one:.2f}× | {ingest / base_rate:.2f}× "
            f"| {wall:.0f} | {polls:.0f} |"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
