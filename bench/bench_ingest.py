"""One full `monitor poll --once` over a local site, as a user would run it.

Serves N articles (the topic dev set plus synthetic filler) behind F feeds on a
loopback server, runs the installed `monitor` command twice (first pass: every
article new; second pass: nothing new), and reports feeds, articles, seconds and
the peak memory of the monitor process. Baseline in the same run: the bare
`trafilatura.extract` loop over the same pages in one process.

    .venv/bin/python bench/bench_ingest.py [--articles 400] [--feeds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from testkit.articles import article_sources  # noqa: E402
from testkit.sites import build_site  # noqa: E402
from testkit.webserver import LocalWeb  # noqa: E402

RESULTS = REPO / "bench" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--feeds", type=int, default=20)
    args = parser.parse_args()

    articles = article_sources(args.articles)
    with LocalWeb() as web, tempfile.TemporaryDirectory() as tmp:
        site = build_site(web, articles, feeds=args.feeds, tracking=True)
        config_dir = _config(Path(tmp), site.feed_urls)
        baseline = _bare_trafilatura([site.url_of(a.id) for a in articles])
        first = _poll(config_dir)
        second = _poll(config_dir)
    rows = [
        ("bare trafilatura.extract loop, 1 process", f"{baseline:.1f} pages/s", ""),
        (
            f"monitor poll --once, first pass ({args.feeds} feeds)",
            f"{first['articles_per_second']:.1f} articles/s",
            f"{first['articles_per_second'] / baseline:.2f}×",
        ),
        (
            "first pass: articles stored / duplicates",
            f"{first['articles_stored']} / {first['duplicates']}",
            "",
        ),
        ("first pass: matched", str(first["articles_matched"]), ""),
        ("first pass: wall seconds", f"{first['wall']:.1f}", ""),
        ("first pass: peak RSS of monitor", f"{first['peak_mb']:.0f} MB", ""),
        ("second pass (nothing new): wall seconds", f"{second['wall']:.1f}", ""),
        ("second pass: new entries", str(second["entries_new"]), ""),
    ]
    table = _table(rows, args)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.md").write_text(table + "\n", encoding="utf-8")


def _config(tmp: Path, feed_urls: list[str]) -> Path:
    config_dir = tmp / "config"
    config_dir.mkdir()
    shutil.copy(REPO / "config" / "topics.yaml", config_dir / "topics.yaml")
    shutil.copytree(REPO / "seeds", tmp / "seeds")
    feeds = "feeds:\n" + "".join(f"  - url: {url}\n" for url in feed_urls)
    (config_dir / "feeds.yaml").write_text(feeds, encoding="utf-8")
    (config_dir / "monitor.yaml").write_text(
        f"database:\n  url: sqlite:///{tmp / 'monitor.db'}\n"
        "http:\n  allow_private_networks: true\n",
        encoding="utf-8",
    )
    return config_dir


def _poll(config_dir: Path) -> dict[str, float]:
    monitor = shutil.which("monitor", path=str(Path(sys.executable).parent)) or "monitor"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run(
        [monitor, "--config", str(config_dir / "monitor.yaml"), "poll", "--once", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    wall = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary = json.loads(result.stdout)
    summary["wall"] = wall
    summary["peak_mb"] = max(peak_kb, before) / 1024
    summary["articles_per_second"] = summary["entries_new"] / wall if wall else 0.0
    return summary


def _bare_trafilatura(urls: list[str]) -> float:
    import trafilatura

    with httpx.Client() as client:
        pages = [client.get(url).content for url in urls]
    started = time.perf_counter()
    for page, url in zip(pages, urls, strict=True):
        trafilatura.extract(page, url=url)
    return len(pages) / (time.perf_counter() - started)


def _table(rows: list[tuple[str, str, str]], args: argparse.Namespace) -> str:
    lines = [
        f"Ingest, {args.articles} articles, {args.feeds} feeds, {os.cpu_count()} cores "
        f"(`python bench/bench_ingest.py --articles {args.articles} --feeds {args.feeds}`)",
        "",
        "| measure | value | vs. bare trafilatura |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
