"""`monitor topics` commands that read the store or the web: list counts, backtest, test URL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from testkit.sites import Site, SiteArticle, build_site
from testkit.webserver import LocalWeb
from tests.test_cli_e2e import write_feeds


def invoke(config_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(config_dir / "monitor.yaml"), *args])
    return result.exit_code, result.output


@pytest.fixture
def polled(config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle]) -> Site:
    site = build_site(web, devset_articles[:30], feeds=2)
    write_feeds(config_dir, site.feed_urls)
    code, output = invoke(config_dir, "poll", "--once")
    assert code == 0, output
    return site


def test_list_counts_stored_matches(config_dir: Path, polled: Site) -> None:
    code, output = invoke(config_dir, "topics", "list", "--json")
    assert code == 0, output
    rows = {row["id"]: row for row in map(json.loads, output.splitlines())}
    troops = sum(1 for a in polled.articles if "nk-troops" in a.topics)
    assert rows["nk-troops"]["matches"]["day"] >= troops - 1
    assert rows["nk-troops"]["matches"]["week"] == rows["nk-troops"]["matches"]["day"]


def test_backtest_reports_what_a_changed_topic_would_drop(config_dir: Path, polled: Site) -> None:
    code, output = invoke(config_dir, "topics", "backtest", "--json")
    assert code == 0 and output == ""  # unchanged topics change nothing
    topics = config_dir / "topics.yaml"
    text = topics.read_text("utf-8")
    raised = re.sub(r"min_score: [\d.]+\n", "min_score: 200\n", text, count=1)
    topics.write_text(raised, encoding="utf-8")
    code, output = invoke(config_dir, "topics", "backtest", "--since", "1d", "--json")
    assert code == 0, output
    changes = [json.loads(line) for line in output.splitlines()]
    assert changes and all(c["change"] == "dropped" for c in changes)
    assert {c["topic"] for c in changes} == {"nk-troops"}
    code, output = invoke(config_dir, "topics", "backtest")
    assert "would be added, " in output and f"{len(changes)} dropped" in output


def test_test_a_url_fetches_and_extracts_the_page(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle]
) -> None:
    article = next(a for a in devset_articles if a.topics == ("nk-troops",))
    site = build_site(web, [article], feeds=1)
    code, output = invoke(config_dir, "topics", "test", site.url_of(article.id), "--json")
    assert code == 0, output
    result = json.loads(output)
    matched = {topic["id"] for topic in result["topics"] if topic["matched"]}
    assert matched == {"nk-troops"}
    code, output = invoke(config_dir, "topics", "test", web.url("/missing"))
    assert code == 2 and "404" in output
