"""SIGKILL `monitor poll --once` at random moments, many times: nothing lost or doubled.

The interrupted store, once one pass has finished uninterrupted, must equal the
store of a single uninterrupted pass on a fresh database: the same canonical
URLs, each once, the same entries, and the same matched articles.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.exc import DBAPIError

from testkit.db import query
from testkit.sites import Site, SiteArticle, build_site
from testkit.webserver import LocalWeb
from tests.test_cli_e2e import MONITOR, _env, monitor, write_feeds

KILLS = 20
SEED = 20241104


def snapshot(url: str) -> tuple[list[str], set[str], set[str], int]:
    """(canonical URLs with repeats, matched URLs, entry keys, entry rows) of a store."""
    urls = sorted(row[0] for row in query(url, "SELECT canonical_url FROM articles"))
    matched = {row[0] for row in query(url, "SELECT canonical_url FROM articles WHERE matched")}
    keys = [row[0] for row in query(url, "SELECT key FROM entries")]
    return urls, matched, set(keys), len(keys)


def slow_pages(web: LocalWeb, site: Site, delay: float = 0.3) -> None:
    """Each article page answers after ``delay``: a pass then takes a few seconds, so
    the kills land while pages are being fetched and articles stored."""
    for article in site.articles:
        url = site.url_of(article.id)
        _, route = web.lookup(urlsplit(url).path)
        assert route is not None
        body, content_type = route.body, route.content_type  # type: ignore[union-attr]
        web.fault(url, "slow", body=body, delay=delay, rate=50_000_000, content_type=content_type)


def _count(url: str) -> int:
    try:
        return int(query(url, "SELECT count(*) FROM articles")[0][0])
    except DBAPIError:  # killed before it created the tables
        return 0


def test_random_sigkills_then_one_pass_equal_an_uninterrupted_run(
    config_dir: Path,
    web: LocalWeb,
    devset_articles: list[SiteArticle],
    database_url: str,
    new_database: Callable[[str], str],
) -> None:
    site = build_site(web, devset_articles[:60], feeds=4)
    write_feeds(config_dir, site.feed_urls)
    slow_pages(web, site)
    rng = random.Random(SEED)
    kills_while_storing = 0
    stored = 0
    for _ in range(KILLS):
        process = subprocess.Popen(
            [MONITOR, "--config", str(config_dir / "monitor.yaml"), "poll", "--once"],
            cwd=config_dir.parent,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Kill at a random moment once this pass has begun storing articles, whatever
        # the machine's load makes of its start-up time.
        deadline = time.monotonic() + 30
        while _count(database_url) == stored and process.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.4))
        if process.poll() is None:
            kills_while_storing += 1
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        stored = _count(database_url)
        if stored == len(site.articles):
            break  # nothing left to interrupt
    print(f"{kills_while_storing} kills landed while articles were being stored")
    assert kills_while_storing >= 3
    assert stored < len(site.articles) or kills_while_storing >= 5
    final = monitor(config_dir, "poll", "--once", "--json")
    assert final.returncode == 0, final.stderr
    interrupted = snapshot(database_url)

    reference_db = new_database("reference")
    env_db = {"MONITOR_DATABASE__URL": reference_db}
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
