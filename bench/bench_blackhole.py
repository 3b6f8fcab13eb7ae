"""A PostgreSQL that drops every packet for 30 s, under a running daemon.

Issue 13's case: `monitor run` on PostgreSQL through a loopback TCP proxy, with
``--feeds`` feeds polled every minute. Once the first pass is stored, every feed gets
new items and, a few seconds before the next poll, the proxy goes silent (connections
accepted, nothing forwarded: a firewall or a dead route) for ``--silence`` seconds.
`/healthz` is asked every second meanwhile. Then the database comes back: how long
until `/healthz` is healthy and the new items are stored. Then the feeds get new items
again, the database goes silent a second time as the next poll starts, and the daemon
gets SIGTERM while that poll waits on it: how long until it exits, and with which code.

Needs the PostgreSQL server of the test suite (127.0.0.1:5432, database ``test``, trust
auth; ``MONITOR_TEST_PG`` overrides); it works in a schema of its own, dropped after.
Writes bench/results/blackhole.md.

    .venv/bin/python bench/bench_blackhole.py [--silence 30] [--feeds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import NamedTuple

import psycopg
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from testkit.prose import Prose  # noqa: E402
from testkit.smtp import free_port  # noqa: E402
from testkit.tcpproxy import TcpProxy  # noqa: E402
from testkit.webserver import LocalWeb  # noqa: E402

RESULTS = REPO / "bench" / "results"
PG_URL = os.environ.get("MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = "bench_blackhole"
GRACE_SECONDS = 20  # the shipped polling.shutdown_grace_seconds


@dataclass
class Probe:
    at: float  # seconds since the silence began
    status: int | str  # HTTP status, or what went wrong
    answered_in: float
    database: str
    loop_silent: str


@dataclass
class Outcome:
    probes: list[Probe]
    alive: bool  # the daemon, at the end of the silence
    healthy_after: float | None  # seconds from the database's return
    stored_after: float | None
    first: int  # articles of the first pass
    second: int  # articles once the new items are in
    code: int | str  # the daemon's exit after SIGTERM
    exit_seconds: float


def publish(web: LocalWeb, feeds: int, per_feed: int, round_: int, prose: Prose) -> int:
    """Every feed gets ``per_feed`` new items (pages included) on top of the earlier."""
    for feed in range(feeds):
        items = []
        for index in range((round_ + 1) * per_feed):
            path = f"/bh/{feed}/{index}.html"
            title = f"Feed {feed} item {index}: {prose.unique_title()}"
            body = "".join(
                f"<p>{escape(p)}</p>" for p in prose.article_text(400, 900).split("\n\n")
            )
            web.route(
                path,
                f"<!DOCTYPE html><html><head><title>{escape(title)}</title></head><body>"
                f"<article><h1>{escape(title)}</h1>{body}</article></body></html>",
            )
            url = web.url(path)
            items.append(f"<item><title>{escape(title)}</title><link>{url}</link></item>")
        web.route(
            f"/bh/{feed}.xml",
            "<?xml version='1.0'?><rss version='2.0'><channel><title>Blackhole bench</title>"
            f"<link>{web.base_url}/</link>{''.join(items)}</channel></rss>",
            content_type="application/rss+xml; charset=utf-8",
        )
    return feeds * (round_ + 1) * per_feed


def feed_requests(web: LocalWeb, feeds: int) -> int:
    return sum(web.count(f"/bh/{feed}.xml") for feed in range(feeds))


def stored(url: str) -> int:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
        try:
            row = connection.execute(f"SELECT count(*) FROM {SCHEMA}.articles").fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(row[0]) if row else 0


def probe(listen: str, since: float) -> Probe:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    asked = time.monotonic()
    try:
        with opener.open(f"http://{listen}/healthz", timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except OSError as exc:
        return Probe(asked - since, type(exc).__name__, time.monotonic() - asked, "", "")
    answer = json.loads(body)
    return Probe(
        asked - since,
        status,
        time.monotonic() - asked,
        str(answer.get("database", "")),
        str(answer.get("loop_silent_seconds", "")),
    )


def wait_for(check: object, timeout: float) -> float | None:
    """Seconds until ``check()`` is true, or None after ``timeout``."""
    assert callable(check)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.25)
    return None


@dataclass
class Scene:
    """What the scenario's steps act on."""

    args: argparse.Namespace
    web: LocalWeb
    proxy: TcpProxy
    listen: str  # the daemon's /healthz
    daemon: subprocess.Popen[bytes]
    started: float  # monotonic time of the daemon's start
    prose: Prose


class Recovery(NamedTuple):
    probes: list[Probe]
    alive: bool
    healthy_after: float | None
    stored_after: float | None
    second: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--silence", type=float, default=30)
    parser.add_argument("--feeds", type=int, default=5)
    parser.add_argument("--per-feed", type=int, default=4)
    args = parser.parse_args()

    admin = PG_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        connection.execute(f"CREATE SCHEMA {SCHEMA}")
    try:
        outcome, log_text = run_scenario(args)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    report = _report(args, outcome, log_text.count("Traceback"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "blackhole.md").write_text(report, encoding="utf-8")
    print(report)


def run_scenario(args: argparse.Namespace) -> tuple[Outcome, str]:
    """The daemon through both silences; what was measured, and the daemon's log."""
    server = make_url(PG_URL)
    listen = f"127.0.0.1:{free_port()}"
    prose = Prose(29)
    with (
        LocalWeb() as web,
        tempfile.TemporaryDirectory() as tmp,
        TcpProxy(server.host or "127.0.0.1", server.port or 5432) as proxy,
    ):
        first = publish(web, args.feeds, args.per_feed, 0, prose)
        proxied = server.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        config = _config(
            Path(tmp), f"{proxied}?options=-csearch_path%3D{SCHEMA}", listen, web, args.feeds
        )
        log_path = Path(tmp) / "daemon.log"
        daemon = start_daemon(config, log_path)
        try:
            scene = Scene(args, web, proxy, listen, daemon, time.monotonic(), prose)
            recovery = first_silence(scene, first, log_path)
            code, exit_seconds = terminate_in_silence(scene)
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
        log_text = log_path.read_text()
    outcome = Outcome(
        recovery.probes,
        recovery.alive,
        recovery.healthy_after,
        recovery.stored_after,
        first,
        recovery.second,
        code,
        exit_seconds,
    )
    return outcome, log_text


def start_daemon(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    monitor = shutil.which("monitor", path=str(Path(sys.executable).parent)) or "monitor"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    with log_path.open("w") as log:
        return subprocess.Popen(
            [monitor, "--config", str(config), "run"], stdout=log, stderr=log, env=env
        )


def first_silence(scene: Scene, first: int, log_path: Path) -> Recovery:
    """New items, then the database silent as the next poll needs it; `/healthz` asked
    every second; then how long until healthy and stored once the database is back."""
    args, web, proxy = scene.args, scene.web, scene.proxy
    if wait_for(lambda: stored(PG_URL) >= first, 120) is None:
        raise SystemExit(f"the first pass was not stored:\n{log_path.read_text()}")
    second = publish(web, args.feeds, args.per_feed, 1, scene.prose)
    # The next poll is 60 s after the first: go silent a few seconds before it,
    # so its new entries need the database while it does not answer.
    time.sleep(max(0.0, scene.started + 55 - time.monotonic()))
    proxy.blackhole()
    silent_since = time.monotonic()
    probes = []
    while time.monotonic() - silent_since < args.silence:
        probes.append(probe(scene.listen, silent_since))
        time.sleep(max(0.0, silent_since + len(probes) - time.monotonic()))
    alive_during = scene.daemon.poll() is None
    proxy.restore()
    healthy_after = wait_for(lambda: probe(scene.listen, silent_since).status == 200, 120)
    stored_after = wait_for(lambda: stored(PG_URL) >= second, 180)
    return Recovery(probes, alive_during, healthy_after, stored_after, second)


def terminate_in_silence(scene: Scene) -> tuple[int | str, float]:
    """The same again, and SIGTERM while the poll waits on the database: the exit code
    and how long the daemon took to exit."""
    args, web, daemon = scene.args, scene.web, scene.daemon
    publish(web, args.feeds, args.per_feed, 2, scene.prose)
    time.sleep(max(0.0, scene.started + 117 - time.monotonic()))
    polls = feed_requests(web, args.feeds)
    scene.proxy.blackhole()
    wait_for(lambda: feed_requests(web, args.feeds) > polls, 30)
    time.sleep(2)
    term_at = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    try:
        code: int | str = daemon.wait(timeout=120)
    except subprocess.TimeoutExpired:
        code = "still running after 120 s"
    return code, time.monotonic() - term_at


def _report(args: argparse.Namespace, outcome: Outcome, tracebacks: int) -> str:
    probes = outcome.probes
    first, second = outcome.first, outcome.second
    answered = [p for p in probes if isinstance(p.status, int)]
    unhealthy = [p for p in answered if p.status == 503]
    slowest = max((p.answered_in for p in probes), default=0.0)
    loop = [float(p.loop_silent) for p in answered if p.loop_silent]

    def seconds(value: float | None) -> str:
        return "never (120 s or more)" if value is None else f"{value:.1f} s"

    rows = [
        f"| {p.at:.0f} | {p.status} | {p.answered_in:.2f} | {escape(p.database) or '—'} | "
        f"{p.loop_silent or '—'} |"
        for p in probes
    ]
    return "\n".join(
        [
            f"# A {args.silence:g} s PostgreSQL blackhole under a running daemon",
            "",
            f"`.venv/bin/python bench/bench_blackhole.py --silence {args.silence:g} "
            f"--feeds {args.feeds}`: `monitor run` on PostgreSQL through a loopback proxy, "
            f"{args.feeds} feeds polled every minute, {first} articles stored by the first "
            f"pass, then {second - first} new items published and the proxy silent for "
            f"{args.silence:g} s from 5 s before the next poll. `/healthz` asked every second.",
            "",
            "| what | figure |",
            "| --- | --- |",
            f"| `/healthz` answers during the silence | {len(answered)} of {len(probes)} |",
            f"| of which 503 (unhealthy) | {len(unhealthy)} |",
            f"| slowest answer | {slowest:.2f} s |",
            f"| largest loop silence reported | {max(loop, default=0.0):.1f} s |",
            f"| daemon running at the end of the silence | {'yes' if outcome.alive else 'no'} |",
            f"| database back → `/healthz` 200 | {seconds(outcome.healthy_after)} |",
            f"| database back → {second - first} new items stored "
            f"| {seconds(outcome.stored_after)} |",
            f"| SIGTERM in a second silence, a poll waiting on it → exit "
            f"| {outcome.exit_seconds:.1f} s "
            f"(grace {GRACE_SECONDS} s), code {outcome.code} |",
            f"| tracebacks in the log | {tracebacks} |",
            "",
            "| s | status | answer s | database | loop silent s |",
            "| ---: | --- | ---: | --- | ---: |",
            *rows,
            "",
        ]
    )


def _config(tmp: Path, database_url: str, listen: str, web: LocalWeb, feeds: int) -> Path:
    config_dir = tmp / "config"
    config_dir.mkdir()
    shutil.copy(REPO / "config" / "topics.yaml", config_dir / "topics.yaml")
    shutil.copytree(REPO / "seeds", tmp / "seeds")
    lines = ["feeds:"] + [f"  - url: {web.url(f'/bh/{feed}.xml')}" for feed in range(feeds)]
    (config_dir / "feeds.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (config_dir / "monitor.yaml").write_text(
        f"database:\n  url: {database_url}\n"
        "http:\n  allow_private_networks: true\n"
        "polling:\n  interval_minutes: 1\n  jitter_seconds: 0\n"
        f"metrics:\n  listen: {listen}\n"
        "extraction:\n  workers: 1\n"
        "logging:\n  format: json\n",
        encoding="utf-8",
    )
    return config_dir / "monitor.yaml"


if __name__ == "__main__":
    main()
