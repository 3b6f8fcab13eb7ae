"""SIGKILL `monitor poll --once` at random moments, many times: nothing lost or doubled.

The interrupted store, once one pass has finished uninterrupted, must equal the
store of a single uninterrupted pass on a fresh database: the same canonical
URLs, each once, the same entries, and the same matched articles.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.support.sites import SiteArticle, build_site
from tests.support.webserver import LocalWeb
from tests.test_cli_e2e import MONITOR, _env, monitor, write_feeds

KILLS = 20
SEED = 20241104


def snapshot(db: Path) -> tuple[list[str], set[str], set[str], int]:
    """(canonical URLs with repeats, matched URLs, entry keys, entry rows) of a store."""
    with sqlite3.connect(db) as connection:
        urls = sorted(row[0] for row in connection.execute("SELECT canonical_url FROM articles"))
        matched = {
            row[0] for row in connection.execute("SELECT canonical_url FROM articles WHERE matched")
        }
        keys = [row[0] for row in connection.execute("SELECT key FROM entries")]
    return urls, matched, set(keys), len(keys)


def test_random_sigkills_then_one_pass_equal_an_uninterrupted_run(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle], tmp_path: Path
) -> None:
    site = build_site(web, devset_articles[:60], feeds=4)
    write_feeds(config_dir, site.feed_urls)
    rng = random.Random(SEED)
    killed_mid_run = 0
    for _ in range(KILLS):
        process = subprocess.Popen(
            [MONITOR, "--config", str(config_dir / "monitor.yaml"), "poll", "--once"],
            cwd=config_dir.parent,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.2, 2.5))
        if process.poll() is None:
            killed_mid_run += 1
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    print(f"{killed_mid_run} of {KILLS} kills landed while the pass was running")
    assert killed_mid_run >= KILLS // 2  # most kills must land while work is under way
    final = monitor(config_dir, "poll", "--once", "--json")
    assert final.returncode == 0, final.stderr
    interrupted = snapshot(config_dir.parent / "data" / "monitor.db")

    reference_db = tmp_path / "reference.db"
    env_db = {"MONITOR_DATABASE__URL": f"sqlite:///{reference_db}"}
    reference_run = subprocess.run(
        [MONITOR, "--config", str(config_dir / "monitor.yaml"), "poll", "--once", "--json"],
        cwd=config_dir.parent,
        env=_env() | env_db,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert reference_run.returncode == 0, reference_run.stderr
    reference = snapshot(reference_db)

    urls, matched, keys, entry_rows = interrupted
    assert len(urls) == len(set(urls)) == 60
    assert entry_rows == len(keys) == 60
    assert urls == reference[0]
    assert matched == reference[1] and matched
    assert keys == reference[2]
