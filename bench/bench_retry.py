"""Page retries: the daemon stopped (SIGSTOP) for 60 s in the middle of a pass, then let go.

Issue 13's case: one feed of 80 articles on a local server whose pages answer after
``--page-delay`` seconds; `monitor run` starts its pass, is stopped with SIGSTOP once
``--stop-after`` pages have been asked for, continued after ``--stopped`` seconds, and
watched until every article is stored and no retry is pending. Reports how many
articles had only their feed summary after the pass (what a build without retries
keeps for good) and how many still have it after the retries (the goal: 0). Writes
bench/results/retry.md.

    .venv/bin/python bench/bench_retry.py [--articles 80] [--stopped 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from testkit.prose import Prose  # noqa: E402
from testkit.webserver import LocalWeb  # noqa: E402

RESULTS = REPO / "bench" / "results"


def publish(web: LocalWeb, count: int, delay: float) -> list[str]:
    """One feed of ``count`` items; each page answers after ``delay`` seconds."""
    prose = Prose(13)
    paths, items = [], []
    for index in range(count):
        path = f"/retry/a/{index}.html"
        title = prose.unique_title()
        body = "".join(f"<p>{escape(p)}</p>" for p in prose.article_text(1500, 3000).split("\n\n"))
        html = (
            f"<!DOCTYPE html><html><head><title>{escape(title)}</title></head><body>"
            f"<article><h1>{escape(title)}</h1>{body}</article></body></html>"
        )
        web.fault(path, "slow", body=html, delay=delay, rate=10_000_000, content_type="text/html")
        url = web.url(path)
        items.append(
            f"<item><title>{escape(title)}</title><link>{url}</link><guid>{url}</guid>"
            "<description>A summary only.</description></item>"
        )
        paths.append(path)
    web.route(
        "/retry/feed.xml",
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Retry bench</title>"
        f"<link>{web.base_url}/</link>{''.join(items)}</channel></rss>",
        content_type="application/rss+xml; charset=utf-8",
    )
    return paths


def counts(db: Path) -> tuple[int, int, int]:
    """(articles stored, of which without page text, of which waiting for a retry)."""
    if not db.exists():
        return 0, 0, 0
    try:
        with sqlite3.connect(db, timeout=5) as connection:
            row = connection.execute(
                "SELECT count(*), count(extract_error), count(retry_at) FROM articles"
            ).fetchone()
    except sqlite3.OperationalError:  # not migrated yet
        return 0, 0, 0
    return int(row[0]), int(row[1]), int(row[2])


@dataclass
class RetryRun:
    asked: int  # pages asked for when the daemon was stopped
    after_pass: tuple[int, int, int]  # `counts` once every article is stored
    pass_seconds: float
    final: tuple[int, int, int]  # `counts` once no retry is pending (or after 900 s)
    total_seconds: float
    requests: int  # page requests in all
    code: int  # the daemon's exit code after SIGTERM


def main() -> None:
    args = parse_args()
    with LocalWeb() as web, tempfile.TemporaryDirectory() as tmp:
        paths = publish(web, args.articles, args.page_delay)
        config = _config(Path(tmp), web.url("/retry/feed.xml"))
        run = stop_and_continue(args, web, paths, config, Path(tmp))
    report = _report(args, run)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "retry.md").write_text(report, encoding="utf-8")
    print(report)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=80)
    parser.add_argument("--stopped", type=float, default=60)
    parser.add_argument("--page-delay", type=float, default=0.5)
    parser.add_argument("--stop-after", type=int, default=12)
    parser.add_argument("--retry-minutes", type=float, default=0.25)
    return parser.parse_args()


def stop_and_continue(
    args: argparse.Namespace, web: LocalWeb, paths: list[str], config: Path, tmp: Path
) -> RetryRun:
    """`monitor run`, stopped mid-pass and continued; watched until the retries are done."""
    db = tmp / "monitor.db"
    monitor = shutil.which("monitor", path=str(Path(sys.executable).parent)) or "monitor"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env |= {
        "MONITOR_POLLING__JITTER_SECONDS": "0",
        "MONITOR_POLLING__PAGE_RETRY_MINUTES": str(args.retry_minutes),
    }
    log = (tmp / "daemon.log").open("w")
    started = time.monotonic()
    daemon = subprocess.Popen(
        [monitor, "--config", str(config), "run"], stdout=log, stderr=log, env=env
    )
    try:
        while sum(web.count(p) for p in paths) < args.stop_after:
            time.sleep(0.05)
        asked = sum(web.count(p) for p in paths)
        daemon.send_signal(signal.SIGSTOP)
        time.sleep(args.stopped)
        daemon.send_signal(signal.SIGCONT)
        while counts(db)[0] < args.articles:
            time.sleep(0.5)
        after_pass = counts(db)
        pass_seconds = time.monotonic() - started
        while counts(db)[2] and time.monotonic() - started < 900:
            time.sleep(1)
        final = counts(db)
        total_seconds = time.monotonic() - started
        requests = sum(web.count(p) for p in paths)
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=120)
        log.close()
    return RetryRun(asked, after_pass, pass_seconds, final, total_seconds, requests, code)


def _report(args: argparse.Namespace, run: RetryRun) -> str:
    after_pass, final = run.after_pass, run.final
    return "\n".join(
        [
            "# Page retries after the daemon was stopped mid-pass",
            "",
            f"`.venv/bin/python bench/bench_retry.py --articles {args.articles} "
            f"--stopped {args.stopped:g}`: one feed of {args.articles} articles on a local "
            f"server, each page answering after {args.page_delay:g} s (4 at a time per host); "
            f"`monitor run` stopped with SIGSTOP once {run.asked} pages had been asked for, "
            f"continued {args.stopped:g} s later; first retry after {args.retry_minutes:g} min "
            "(then × 3).",
            "",
            "| moment | articles | with the feed summary only | waiting for a retry |",
            "| --- | ---: | ---: | ---: |",
            f"| pass done ({run.pass_seconds:.0f} s) | {after_pass[0]} | {after_pass[1]} | "
            f"{after_pass[2]} |",
            f"| retries done ({run.total_seconds:.0f} s) | {final[0]} | {final[1]} | {final[2]} |",
            "",
            f"Page requests: {run.requests} for {args.articles} pages. Daemon exit code after "
            f"SIGTERM: {run.code}.",
            "",
        ]
    )


def _config(tmp: Path, feed_url: str) -> Path:
    config_dir = tmp / "config"
    config_dir.mkdir()
    shutil.copy(REPO / "config" / "topics.yaml", config_dir / "topics.yaml")
    shutil.copytree(REPO / "seeds", tmp / "seeds")
    (config_dir / "feeds.yaml").write_text(f"feeds:\n  - url: {feed_url}\n", encoding="utf-8")
    (config_dir / "monitor.yaml").write_text(
        f"database:\n  url: sqlite:///{tmp / 'monitor.db'}\n"
        "http:\n  allow_private_networks: true\n"
        "extraction:\n  workers: 1\n",
        encoding="utf-8",
    )
    return config_dir / "monitor.yaml"


if __name__ == "__main__":
    main()
