"""What an operator meets in the first hour, through the installed `monitor` command:
options where users type them, exit codes that tell the truth, a terminal that stays
readable, and a check that names the feeds the egress guard will refuse."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pyte

from testkit.cluster import MONITOR
from testkit.sites import SiteArticle, build_site
from testkit.smtp import free_port
from testkit.webserver import LocalWeb

CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}


def monitor(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MONITOR, *args], capture_output=True, text=True, timeout=240, cwd=cwd, env=env()
    )


def write_feeds(config_dir: Path, urls: list[str]) -> None:
    lines = ["feeds:"] + [f"  - url: {url}" for url in urls]
    (config_dir / "feeds.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_global_options_are_taken_after_the_command_too(config_dir: Path) -> None:
    settings = str(config_dir / "monitor.yaml")
    after = monitor(config_dir.parent, "check", "--config", settings)
    assert after.returncode == 0, after.stderr
    assert after.stdout.startswith(f"configuration OK: {settings}")
    listed = monitor(config_dir.parent, "topics", "list", "--config", settings, "-v")
    assert listed.returncode == 0, listed.stderr
    assert "nk-troops" in listed.stdout


def test_poll_without_once_polls_once_and_exits_1_when_every_feed_failed(
    config_dir: Path,
) -> None:
    write_feeds(config_dir, [f"{CLOSED}/a.xml", f"{CLOSED}/b.xml"])
    done = monitor(config_dir.parent, "--config", str(config_dir / "monitor.yaml"), "poll")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 feeds (2 failed)" in done.stdout
    assert "error: every feed failed (2 of 2)" in done.stderr


def test_poll_exits_0_when_one_feed_of_two_worked(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle]
) -> None:
    site = build_site(web, devset_articles[:3], feeds=1)
    write_feeds(config_dir, [*site.feed_urls, f"{CLOSED}/gone.xml"])
    done = monitor(
        config_dir.parent, "--config", str(config_dir / "monitor.yaml"), "poll", "--json"
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["feeds"], summary["feeds_failed"], summary["articles_stored"]) == (2, 1, 3)


def test_check_names_the_feeds_the_egress_guard_will_refuse(config_dir: Path) -> None:
    settings = config_dir / "monitor.yaml"
    settings.write_text(
        settings.read_text().replace("allow_private_networks: true", "allowed_hosts: [10.1.2.3]")
    )
    write_feeds(
        config_dir,
        [
            "http://127.0.0.1:8080/feed.xml",
            "http://feeds.localhost/rss",
            "http://10.1.2.3/rss",  # listed: allowed
            "http://[::1]/atom.xml",
            "https://news.example/rss",  # a name: its addresses decide, when fetched
            "http://169.254.169.254/latest",
        ],
    )
    done = monitor(config_dir.parent, "--config", str(settings), "check")
    assert done.returncode == 2, done.stdout
    assert "error: 4 feeds will never be fetched:" in done.stderr
    refused = [line for line in done.stderr.splitlines() if line.startswith("  - ")]
    assert [line.split(": ")[1] for line in refused] == [
        "http://127.0.0.1:8080/feed.xml",
        "http://feeds.localhost/rss",
        "http://[::1]/atom.xml",
        "http://169.254.169.254/latest",
    ]
    assert "127.0.0.1 is not a public address" in refused[0]
    assert "http.allow_private_networks" in refused[0]
    assert "cloud metadata address" in refused[3]


def test_run_takes_metrics_listen_and_stops_at_once(config_dir: Path) -> None:
    """`monitor run --metrics-listen`, as the README says; and a stop with the metrics
    server up abandons nothing (it used to wait the whole grace for its heartbeat)."""
    listen = f"127.0.0.1:{free_port()}"
    settings = str(config_dir / "monitor.yaml")
    command = [MONITOR, "--config", settings, "--log-format", "json", "run"]
    daemon = subprocess.Popen(
        [*command, "--metrics-listen", listen],
        cwd=config_dir.parent,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = _health(listen, deadline=time.monotonic() + 60)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=60)
    assert json.loads(body)["status"] == "ok"
    events = [json.loads(line)["event"] for line in stderr.splitlines() if line.startswith("{")]
    assert daemon.returncode == 0, stderr[-2000:]
    assert events[-1] == "daemon.stopped" and "daemon.abandoned_work" not in events


def _health(listen: str, deadline: float) -> str:
    while True:
        try:
            with urllib.request.urlopen(f"http://{listen}/healthz", timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_the_progress_bar_and_the_log_lines_keep_apart_on_a_terminal(
    config_dir: Path,
) -> None:
    """What a person sees, drawn by a terminal emulator: every log line on lines of its
    own, never glued to the bar (``polling feeds ━━ 50% … [warning] feed.polled``)."""
    write_feeds(config_dir, [f"{CLOSED}/{n}.xml" for n in range(8)])
    raw = _run_on_a_terminal(
        [MONITOR, "--config", str(config_dir / "monitor.yaml"), "poll"], cwd=config_dir.parent
    )
    screen = pyte.Screen(120, 400)
    pyte.Stream(screen).feed(raw.decode("utf-8", errors="replace"))
    lines = [line.rstrip() for line in screen.display if line.strip()]
    logged = [line for line in lines if "feed.polled" in line]
    assert len(logged) == 8, "\n".join(lines)
    assert not [line for line in lines if "polling feeds" in line and "[" in line], lines
    assert any(line.startswith("8 feeds (8 failed)") for line in lines), lines


def _run_on_a_terminal(command: list[str], cwd: Path) -> bytes:
    """Run ``command`` with a pseudo-terminal as stdin, stdout and stderr; all it wrote."""
    leader, follower = pty.openpty()
    os.set_blocking(leader, False)
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env() | {"COLUMNS": "120", "LINES": "40", "TERM": "xterm"},
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    written = b""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the command has ended
                break
            if not chunk:
                break
            written += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(leader)
    return written
