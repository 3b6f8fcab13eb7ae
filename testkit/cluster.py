"""A scheduler and several workers as real processes on one PostgreSQL database.

Used by the multi-worker tests and by ``bench/bench_workers.py``: `Cluster` writes a
config for a test's database and feeds, starts ``monitor scheduler`` and ``monitor
worker`` subprocesses, waits for the store to reach a count, and stops everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from testkit.db import query

REPO = Path(__file__).resolve().parents[1]
MONITOR = shutil.which("monitor", path=str(Path(sys.executable).parent)) or "monitor"


def write_cluster_config(
    directory: Path,
    database_url: str,
    feed_urls: Sequence[str],
    *,
    extra: str = "",
    extraction_workers: int = 1,
) -> Path:
    """A config dir: shipped topics, these feeds, fast scheduling and stall detection."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config" / "topics.yaml", directory / "topics.yaml")
    seeds = directory.parent / "seeds"
    if not seeds.exists():
        shutil.copytree(REPO / "seeds", seeds)
    lines = ["feeds:"] + [f"  - url: {url}" for url in feed_urls]
    (directory / "feeds.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (directory / "monitor.yaml").write_text(
        "feeds: feeds.yaml\ntopics: topics.yaml\n"
        f"database:\n  url: {database_url}\n"
        "http:\n  allow_private_networks: true\n  max_per_host: 50\n  max_connections: 100\n"
        f"extraction:\n  workers: {extraction_workers}\n"
        "polling:\n  interval_minutes: 60\n  jitter_seconds: 0\n"
        "workers:\n  schedule_seconds: 1\n  heartbeat_seconds: 1\n"
        "  stalled_after_seconds: 4\n  shutdown_grace_seconds: 10\n"
        "logging:\n  level: info\n  format: json\n" + extra,
        encoding="utf-8",
    )
    return directory / "monitor.yaml"


@dataclass
class Cluster:
    config: Path
    logs: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _files: list[IO[bytes]] = field(default_factory=list)

    def start(self, name: str, *args: str, prefix: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        env.update(self.env_extra)
        log = (self.logs / f"{name}.log").open("wb")
        self._files.append(log)
        command = [*prefix, MONITOR, "--config", str(self.config), *args]
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.logs
        )
        self.processes[name] = process
        return process

    def scheduler(self, name: str = "scheduler") -> subprocess.Popen[bytes]:
        return self.start(name, "scheduler")

    def worker(
        self, name: str, *extra: str, concurrency: int = 8, prefix: Sequence[str] = ()
    ) -> subprocess.Popen[bytes]:
        args = ("worker", "--concurrency", str(concurrency), *extra)
        return self.start(name, *args, prefix=prefix)

    def kill(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait(timeout=30)

    def stop(self) -> dict[str, int]:
        """SIGTERM to everyone still running; their exit codes."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        for log in self._files:
            log.close()
        return codes

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def wait_for(
        self, condition: Callable[[], bool], timeout: float, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            dead = [n for n, p in self.processes.items() if p.poll() not in (None, -9)]
            if dead:
                raise AssertionError(f"{dead} exited early:\n{self.log(dead[0])[-3000:]}")
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def count(database_url: str, sql: str) -> int:
    try:
        return int(query(database_url, sql)[0][0])
    except Exception:  # the schema may not exist yet while processes start
        return -1
