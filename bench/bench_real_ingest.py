"""Ingest on real pages: `monitor poll` against a bare trafilatura loop, in one run.

    .venv/bin/python bench/bench_real_ingest.py [--dataset DIR] [--feeds 5] [--rounds 1]

The pages are the 181 real news pages of the scrapinghub article-extraction-benchmark
(git-ignored in bench/.data/; `bench/run.py --help` says how to get them), served on
loopback by `testkit.static_web` under RSS 2.0 feeds written by `testkit.syndication`.
Both sides run in this invocation, so the ratio holds on a shared, noisy machine:

- **bare**: `trafilatura.extract(page, fast=True)` over every page, one core;
- **monitor**: `monitor poll --json` on a fresh SQLite database: fetch, extract (in its
  extraction processes, one per core), match, dedup, store.

Articles per second of wall time; the ratio is monitor / bare. The monitor side counts
its whole command (start-up, extraction processes, migrations), which on 181 pages is a
noticeable share: the ratio understates a long-running daemon. Real pages, unlike the
generated ones of `make bench`, show what a reader's outlets cost.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit.articles import SiteArticle  # noqa: E402
from testkit.static_web import loopback_hosts, start_web  # noqa: E402
from testkit.syndication import FeedDoc, render_feed  # noqa: E402

DATASET = ROOT / "bench" / ".data" / "article-extraction-benchmark"
MONITOR = Path(sys.executable).parent / "monitor"


def load_pages(dataset: Path) -> dict[str, bytes]:
    """Page id → HTML bytes, as the benchmark stores them (gzip)."""
    folder = dataset / "html"
    if not folder.is_dir():
        sys.exit(f"{folder} is missing: see `bench/run.py --help` for the dataset")
    return {
        path.name.split(".")[0]: gzip.decompress(path.read_bytes())
        for path in sorted(folder.glob("*.html.gz"))
    }


def bare_rate(pages: dict[str, bytes]) -> tuple[float, int]:
    """Pages per second of one core's bare extraction; how many gave any text."""
    import trafilatura

    started = time.perf_counter()
    texts = sum(1 for html in pages.values() if trafilatura.extract(html, fast=True))
    return len(pages) / (time.perf_counter() - started), texts


def publish(pages: dict[str, bytes], root: Path, feeds: int) -> list[str]:
    """Write the pages and one RSS feed per outlet; the feed paths."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    by_outlet: dict[int, list[tuple[SiteArticle, str, str]]] = {}
    for number, (page_id, html) in enumerate(pages.items()):
        outlet = number % feeds
        path = f"o{outlet}/{page_id}.html"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(html)
        article = SiteArticle(
            page_id,
            f"Page {page_id[:12]}",
            "",
            "en",
            f"Outlet {outlet}",
            now - timedelta(minutes=number),
        )
        by_outlet.setdefault(outlet, []).append((article, path, path))
    return [_write_feed(root, outlet, items) for outlet, items in by_outlet.items()]


def _write_feed(root: Path, outlet: int, items: list[tuple[SiteArticle, str, str]]) -> str:
    path = f"o{outlet}/feed.xml"
    doc = FeedDoc("rss2", path, f"Outlet {outlet}", f"o{outlet}/", items)
    (root / path).write_bytes(render_feed(doc)[0])
    return path


def monitor_rate(web_urls: list[str], work: Path) -> tuple[float, dict[str, object]]:
    """Articles per second of a `monitor poll` over the feeds, from its start to its end."""
    config = work / "config"
    config.mkdir()
    shutil.copy(ROOT / "config" / "topics.yaml", config / "topics.yaml")
    shutil.copytree(ROOT / "seeds", work / "seeds")
    (config / "feeds.yaml").write_text("feeds:\n" + "".join(f"  - url: {u}\n" for u in web_urls))
    (config / "monitor.yaml").write_text(
        f"feeds: feeds.yaml\ntopics: topics.yaml\ndatabase:\n  url: sqlite:///{work}/m.db\n"
        "http:\n  allow_private_networks: true\npolling:\n  max_entries_per_pass: 1000\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    started = time.perf_counter()
    done = subprocess.run(
        [str(MONITOR), "--config", str(config / "monitor.yaml"), "poll", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"monitor poll failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    return summary["entries_new"] / seconds, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--feeds", type=int, default=5)
    args = parser.parse_args()
    pages = load_pages(args.dataset)
    with tempfile.TemporaryDirectory(prefix="real-ingest-") as scratch:
        work = Path(scratch)
        root = work / "www"
        feed_paths = publish(pages, root, args.feeds)
        web = start_web(root, loopback_hosts(args.feeds))
        try:
            urls = [web.url(path, host=i) for i, path in enumerate(feed_paths)]
            bare, texts = bare_rate(pages)
            ours, summary = monitor_rate(urls, work)
        finally:
            web.close()
    print(f"{len(pages)} real pages, {args.feeds} feeds, {os.cpu_count()} cores")
    print(f"bare trafilatura.extract(fast=True), one core: {bare:.1f} pages/s ({texts} with text)")
    print(
        f"monitor poll (fetch, extract, match, dedup, store): {ours:.1f} articles/s "
        f"({summary['articles_stored']} stored, {summary['duplicates']} duplicates)"
    )
    print(f"ratio monitor / bare: {ours / bare:.2f}x")


if __name__ == "__main__":
    main()
