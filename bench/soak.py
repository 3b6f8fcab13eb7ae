"""Soak: the daemon (`monitor run`) against a few hundred local feeds that keep changing.

Serves F feeds on a loopback server; every few seconds some feeds get a new item
whose link leads to a new article page, so the daemon keeps fetching, extracting,
matching and storing. Polling interval 1 minute, jitter 5 s. Every 10 s the RSS of
the daemon and all its children (extraction workers) is sampled from /proc. At the
end the daemon is stopped with SIGTERM and its JSON log is counted: warnings and
errors by event. Writes bench/results/soak.md.

With ``--no-new-articles`` the feeds change (their build date and their items'
summaries) but never get a new item: every poll downloads and parses a changed feed
and finds only known entries, so nothing is stored and the indexes cannot grow, and
memory that grows all the same is a leak. Writes bench/results/soak-unchanged.md.

    .venv/bin/python bench/soak.py [--minutes 30] [--feeds 300] [--change-seconds 5]
    .venv/bin/python bench/soak.py --no-new-articles
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from testkit.prose import Prose  # noqa: E402
from testkit.webserver import LocalWeb  # noqa: E402

RESULTS = REPO / "bench" / "results"
SAMPLE_SECONDS = 10.0
ITEMS_PER_FEED = 10


@dataclass
class Feeds:
    """F feeds of the latest items each; `publish` adds one new article to some of them."""

    web: LocalWeb
    count: int
    prose: Prose = field(default_factory=lambda: Prose(11))
    items: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    published: int = 0
    changes: int = 0

    def url(self, index: int) -> str:
        return self.web.url(f"/soak/feed-{index}.xml")

    def publish(self, index: int) -> None:
        self.published += 1
        path = f"/soak/a/{index}-{self.published}.html"
        title = self.prose.unique_title()
        text = self.prose.article_text(1500, 3000)
        body = "".join(f"<p>{escape(p)}</p>" for p in text.split("\n\n"))
        self.web.route(
            path,
            f"<!DOCTYPE html><html><head><title>{escape(title)}</title></head><body>"
            f"<article><h1>{escape(title)}</h1>{body}</article></body></html>",
        )
        items = [(title, self.web.url(path)), *self.items.get(index, [])][:ITEMS_PER_FEED]
        self.items[index] = items
        self._render(index)

    def touch(self, index: int) -> None:
        """Change the feed's text, not its items."""
        self.changes += 1
        self._render(index)

    def _render(self, index: int) -> None:
        change = f"Revision {self.changes}."
        rendered = "".join(
            f"<item><title>{escape(t)}</title><link>{escape(u)}</link><guid>{escape(u)}</guid>"
            f"<description>{change}</description></item>"
            for t, u in self.items[index]
        )
        self.web.route(
            f"/soak/feed-{index}.xml",
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>Soak {index}</title>"
            f"<link>{self.web.base_url}/</link><description>{change}</description>"
            f"{rendered}</channel></rss>",
            content_type="application/rss+xml; charset=utf-8",
        )


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
            )
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--change-seconds", type=float, default=5)
    parser.add_argument("--changes-per-tick", type=int, default=5)
    parser.add_argument("--no-new-articles", action="store_true")
    args = parser.parse_args()

    with LocalWeb() as web, tempfile.TemporaryDirectory() as tmp:
        feeds = Feeds(web, args.feeds)
        for index in range(args.feeds):
            feeds.publish(index)
        config_dir = _config(Path(tmp), [feeds.url(i) for i in range(args.feeds)])
        stop = threading.Event()
        changer = threading.Thread(target=_keep_changing, args=(feeds, args, stop), daemon=True)
        changer.start()
        log_path = Path(tmp) / "daemon.jsonl"
        samples, returncode = _run_daemon(config_dir, log_path, args.minutes)
        stop.set()
        events = _count_events(log_path)
        published = feeds.published
        with sqlite3.connect(Path(tmp) / "monitor.db") as connection:
            (stored,) = connection.execute("SELECT count(*) FROM articles").fetchone()
    report = _report(args, samples, events, returncode, published, stored, feeds.changes)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "soak-unchanged.md" if args.no_new_articles else "soak.md"
    (RESULTS / name).write_text(report, encoding="utf-8")
    print(report)


def _keep_changing(feeds: Feeds, args: argparse.Namespace, stop: threading.Event) -> None:
    tick = 0
    while not stop.wait(args.change_seconds):
        for offset in range(args.changes_per_tick):
            index = (tick * args.changes_per_tick + offset) % feeds.count
            if args.no_new_articles:
                feeds.touch(index)
            else:
                feeds.publish(index)
        tick += 1


def _run_daemon(
    config_dir: Path, log_path: Path, minutes: float
) -> tuple[list[tuple[float, float]], int]:
    monitor = shutil.which("monitor", path=str(Path(sys.executable).parent)) or "monitor"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env |= {"MONITOR_POLLING__INTERVAL_MINUTES": "1", "MONITOR_POLLING__JITTER_SECONDS": "5"}
    command = [monitor, "--config", str(config_dir / "monitor.yaml"), "--log-format", "json"]
    samples: list[tuple[float, float]] = []
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [*command, "run"], stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=config_dir
        )
        started = time.monotonic()
        try:
            while time.monotonic() - started < minutes * 60:
                time.sleep(SAMPLE_SECONDS)
                if daemon.poll() is not None:
                    break
                samples.append((time.monotonic() - started, rss_mb(daemon.pid)))
        finally:
            daemon.send_signal(signal.SIGTERM)
            returncode = daemon.wait(timeout=120)
    return samples, returncode


def _count_events(log_path: Path) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {"error": Counter(), "warning": Counter(), "info": Counter()}
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            counts["error"]["(non-JSON line on stderr)"] += 1
            continue
        record = json.loads(line)
        level = str(record.get("level", "info")).lower()
        counts.setdefault(level, Counter())[str(record.get("event"))] += 1
    return counts


def _config(tmp: Path, feed_urls: list[str]) -> Path:
    config_dir = tmp / "config"
    config_dir.mkdir()
    shutil.copy(REPO / "config" / "topics.yaml", config_dir / "topics.yaml")
    shutil.copytree(REPO / "seeds", tmp / "seeds")
    feeds = "feeds:\n" + "".join(f"  - url: {url}\n" for url in feed_urls)
    (config_dir / "feeds.yaml").write_text(feeds, encoding="utf-8")
    (config_dir / "monitor.yaml").write_text(
        f"database:\n  url: sqlite:///{tmp / 'monitor.db'}\n"
        "http:\n  allow_private_networks: true\n"
        "logging:\n  format: json\n",
        encoding="utf-8",
    )
    return config_dir


def _at(samples: list[tuple[float, float]], seconds: float) -> str:
    after = [mb for t, mb in samples if t >= seconds]
    return f"{after[0]:.0f} MB" if after else "-"


def _slope(samples: list[tuple[float, float]], after: float) -> float:
    """Least-squares slope of memory over time after ``after`` seconds, in MB per hour."""
    points = [(t, mb) for t, mb in samples if t >= after]
    if len(points) < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / len(points)
    mean_mb = sum(mb for _, mb in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (mb - mean_mb) for t, mb in points) / spread * 3600


def _report(
    args: argparse.Namespace,
    samples: list[tuple[float, float]],
    events: dict[str, Counter[str]],
    returncode: int,
    published: int,
    stored: int,
    changes: int,
) -> str:
    what, flag = _workload(args, published, changes)
    polled = events.get("info", Counter())["feed.polled"] + events["warning"]["feed.polled"]
    lines = [
        "# Soak: `monitor run` against changing local feeds",
        "",
        f"`.venv/bin/python bench/soak.py --minutes {args.minutes:g} --feeds {args.feeds} "
        f"--change-seconds {args.change_seconds:g}{flag}` — 2-core machine, Python 3.11; "
        f"interval 1 min, jitter 5 s; {what}.",
        "",
        *_memory_table(args, samples),
        "",
        f"Feed polls logged: {polled}; articles stored: {stored} of {published} published "
        "(the last minute's are not due yet). "
        f"Daemon exit code after SIGTERM: {returncode}.",
        "",
        f"Errors in the JSON log: {sum(events['error'].values())}; "
        f"warnings: {sum(events['warning'].values())}.",
        "",
    ]
    for level in ("error", "warning"):
        for event, count in events[level].most_common(10):
            lines.append(f"- {level} `{event}`: {count}")
    lines += ["", "Samples (seconds, MB): " + ", ".join(f"{t:.0f}:{mb:.0f}" for t, mb in samples)]
    return "\n".join(lines) + "\n"


def _workload(args: argparse.Namespace, published: int, changes: int) -> tuple[str, str]:
    """What changed on the feeds, in words, and the flag that chose it."""
    if args.no_new_articles:
        what = (
            f"{args.changes_per_tick} feeds change every {args.change_seconds:g} s without a "
            f"new item ({changes} changes in all; {published} articles, published once at the "
            "start)"
        )
        return what, " --no-new-articles"
    what = (
        f"{args.changes_per_tick} feeds get a new article every {args.change_seconds:g} s "
        f"({published} articles published in all)"
    )
    return what, ""


def _memory_table(args: argparse.Namespace, samples: list[tuple[float, float]]) -> list[str]:
    warm = min(120.0, args.minutes * 60 / 3)
    peak = max((mb for _, mb in samples), default=0.0)
    return [
        "RSS of the daemon plus its extraction workers:",
        "",
        "| moment | memory |",
        "| --- | --- |",
        f"| start (first sample, {SAMPLE_SECONDS:g} s) | {_at(samples, 0)} |",
        f"| after warm-up ({warm:.0f} s) | {_at(samples, warm)} |",
        f"| end ({samples[-1][0]:.0f} s) | {samples[-1][1]:.0f} MB |" if samples else "| end | - |",
        f"| peak | {peak:.0f} MB |",
        f"| trend after warm-up (least squares) | {_slope(samples, warm):+.1f} MB per hour |",
    ]


if __name__ == "__main__":
    main()
