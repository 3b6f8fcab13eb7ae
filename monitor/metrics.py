"""Prometheus metrics and the health endpoint of a long-running process.

The counters and histograms are module-level, as prometheus_client intends: the
pipeline stages count what they do, whichever process runs them. Gauges that
describe the shared state (feeds by health, queue depth) are read from the
database when Prometheus scrapes, so every process reports the same truth.
`serve` starts one small HTTP server per process with ``/metrics`` and ``/healthz``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from monitor.log import get_logger

log = get_logger("monitor.metrics")

FEED_POLLS = Counter("monitor_feed_polls", "Feed polls by outcome.", ["outcome"])
FEED_FAILURES = Counter("monitor_feed_failures", "Failed feed polls by kind of failure.", ["kind"])
ARTICLES_STORED = Counter("monitor_articles_stored", "New articles stored (originals).")
ARTICLES_MATCHED = Counter("monitor_articles_matched", "Stored articles that matched a topic.")
ARTICLES_FOLDED = Counter("monitor_articles_folded", "Articles folded into an earlier copy.")
MAILS_SENT = Counter("monitor_mails_sent", "Digests and alerts accepted by the mail server.")
MAILS_FAILED = Counter("monitor_mails_failed", "Mails refused for good by the server.")
STAGE_SECONDS = Histogram(
    "monitor_stage_seconds",
    "Time spent in each pipeline stage.",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

HEALTHY_WITHIN_SECONDS = 30.0
PING_WAIT_SECONDS = 3.0
# libpq gives up a call on a network that drops packets after about 30 s
# (`PG_NETWORK_LIMITS`); a call waiting twice as long is on a server, or a middlebox, that
# takes the packets and never answers, and everything queued behind it waits too.
STUCK_CALL_SECONDS = 60.0


@contextmanager
def timed(stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        STAGE_SECONDS.labels(stage).observe(time.perf_counter() - started)


def failure_kind(status: int | None, reason: str) -> str:
    """A small, fixed set of label values: never the free text of an error."""
    if status:
        return f"http_{status // 100}xx"
    lowered = reason.lower()
    for kind in ("timeout", "refused", "parse", "too large", "redirect"):
        if kind in lowered:
            return kind.replace(" ", "_")
    return "network"


class StateCollector(Collector):
    """Gauges read from the database at scrape time: one query per family."""

    def __init__(self) -> None:
        self.read: Callable[[], dict[str, dict[tuple[str, ...], float]]] | None = None

    def collect(self) -> Iterable[Metric]:
        if self.read is None:  # no process has said where its database is
            return []
        try:
            state = self.read()
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("metrics.state_unreadable", error=str(exc))
            return []
        families = []
        feeds = GaugeMetricFamily("monitor_feeds", "Feeds by health.", labels=["health"])
        for (health,), count in sorted(state.get("feeds", {}).items()):
            feeds.add_metric([health], count)
        families.append(feeds)
        queue = GaugeMetricFamily(
            "monitor_queue_depth", "Work waiting or running, by queue.", labels=["queue", "status"]
        )
        for (name, status), count in sorted(state.get("queue", {}).items()):
            queue.add_metric([name, status], count)
        families.append(queue)
        return families


STATE = StateCollector()
REGISTRY.register(STATE)


class Liveness:
    """Proof that a process's event loop still turns: `beat` runs on the loop."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.last_beat = time.monotonic()
        self.check_database: Callable[[], None] | None = None
        self._ping: _Ping | None = None
        self._ping_lock = threading.Lock()
        self._workers: dict[str, Callable[[], float]] = {}

    def watch(self, name: str, busy_seconds: Callable[[], float]) -> None:
        """Report the process unhealthy while ``name``'s current call has run longer than
        `STUCK_CALL_SECONDS` (the database thread: the separate ping may answer while the
        pipeline's own connection still waits on a call that will never return)."""
        self._workers[name] = busy_seconds

    async def beat(self, every: float = 1.0) -> None:
        while True:
            self.last_beat = time.monotonic()
            await asyncio.sleep(every)

    def report(self) -> tuple[bool, dict[str, object]]:
        lag = time.monotonic() - self.last_beat
        body: dict[str, object] = {"role": self.role, "loop_silent_seconds": round(lag, 1)}
        healthy = lag < HEALTHY_WITHIN_SECONDS
        if self.check_database is not None:
            problem = self._database_problem()
            body["database"] = problem or "ok"
            healthy = healthy and problem is None
        for name, busy_seconds in self._workers.items():
            busy = busy_seconds()
            stuck = busy > STUCK_CALL_SECONDS
            body[name] = f"one call waiting for {busy:.0f} s" if stuck else "ok"
            healthy = healthy and not stuck
        body["status"] = "ok" if healthy else "unhealthy"
        return healthy, body

    def _database_problem(self) -> str | None:
        """Ask the database, waiting at most `PING_WAIT_SECONDS`: a server that went
        silent holds a ping until libpq's timeouts, and the answer must come now. One
        ping at a time: while one is stuck, later requests report it."""
        assert self.check_database is not None
        with self._ping_lock:
            if self._ping is None or self._ping.finished.is_set():
                self._ping = _Ping(self.check_database)
            ping = self._ping
        if not ping.finished.wait(PING_WAIT_SECONDS):
            waited = time.monotonic() - ping.started
            return f"unreachable: no answer within {waited:.0f} s"
        return None if ping.error is None else f"unreachable: {ping.error}"


class _Ping:
    """One database check in its own daemon thread."""

    def __init__(self, check: Callable[[], None]) -> None:
        self.started = time.monotonic()
        self.error: Exception | None = None
        self.finished = threading.Event()
        self._check = check
        threading.Thread(target=self._run, name="healthz-ping", daemon=True).start()

    def _run(self) -> None:
        try:
            self._check()
        except Exception as exc:  # reported, not raised: this is the health answer
            self.error = exc
        finally:
            self.finished.set()


def serve(
    listen: str, liveness: Liveness, registry: CollectorRegistry = REGISTRY
) -> ThreadingHTTPServer:
    """Serve ``/metrics`` and ``/healthz`` on ``listen`` (host:port) in a daemon thread."""
    host, _, port = listen.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif self.path.split("?")[0] == "/healthz":
                healthy, body = liveness.report()
                payload = json.dumps(body).encode()
                self._send(200 if healthy else 503, "application/json", payload)
            else:
                self._send(404, "text/plain", b"try /metrics or /healthz\n")

        def _send(self, status: int, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would drown the log

    server = ThreadingHTTPServer((host.strip("[]"), int(port)), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics.serving", listen=listen, role=liveness.role)
    return server
