"""Pages that failed for a transient reason are fetched again, and their text replaces the
feed summary: against a local site, with the backoff set to nothing by the settings."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from monitor.config import Config, load_config
from monitor.digest.run import Digests
from monitor.errors import BlockedURLError, FetchError, ResponseTooLargeError
from monitor.models import ArticleView, Document, PassSummary
from monitor.pipeline.fetch import is_transient
from monitor.pipeline.match import Matcher, build_matcher
from monitor.pipeline.retry import RetryReport, next_page_retry
from monitor.runtime.resources import open_pipeline
from monitor.settings import PollingSettings
from monitor.storage import retries
from monitor.storage.store import Store
from testkit.db import query
from testkit.sites import Site, SiteArticle, build_site
from testkit.smtp import LocalSMTP, plain_text
from testkit.webserver import LocalWeb, _Static
from tests.support.digest_data import digest_config
from tests.test_cli_e2e import MONITOR, _env, monitor, write_feeds
from tests.test_pipeline import configure

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


# --- the pure parts --------------------------------------------------------------------


def test_retries_back_off_and_stop_after_the_limit_or_the_window() -> None:
    polling = PollingSettings()  # 4 retries, 5 minutes, × 3, within 24 hours
    waits = []
    now = T0
    for done in range(5):
        when = next_page_retry(done, T0, now, polling)
        if when is None:
            break
        waits.append(when - now)
        now = when
    assert waits == [timedelta(minutes=m) for m in (5, 15, 45, 135)]
    short = PollingSettings(page_retry_window_hours=1)
    assert next_page_retry(2, T0, T0 + timedelta(minutes=20), short) is None  # 45 min: past
    assert next_page_retry(0, T0, T0, PollingSettings(page_retries=0)) is None


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (FetchError("u", "Service Unavailable", 503), True),
        (FetchError("u", "Too Many Requests", 429), True),
        (FetchError("u", "no complete response within 60 s", transient=True), True),
        (FetchError("u", "ConnectError: refused", transient=True), True),
        (FetchError("u", "Not Found", 404), False),
        (FetchError("u", "Forbidden", 403), False),
        (FetchError("u", "more than 5 redirects"), False),
        (BlockedURLError("u", "private address"), False),
        (ResponseTooLargeError("u", "decoded body over 10 bytes"), False),
    ],
)
def test_which_fetch_failures_are_transient(error: FetchError, transient: bool) -> None:
    assert is_transient(error) is transient


# --- against a local site --------------------------------------------------------------


@pytest.fixture
def matcher(config_dir: Path) -> Matcher:
    config = load_config(config_dir / "monitor.yaml")
    return build_matcher(config.topics, config.term_lists)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_POLLING__PAGE_RETRY_MINUTES", "0")


def pick(
    articles: list[SiteArticle], matcher: Matcher, *, summary: bool, page: bool
) -> SiteArticle:
    """An article whose feed summary (first paragraph) and page match a topic or not."""

    def matches(title: str, text: str, language: str) -> bool:
        return any(m.matched for m in matcher.match(Document(title, text, language)))

    return next(
        a
        for a in articles
        if matches(a.title, a.paragraphs[0], a.language) is summary
        and matches(a.title, a.text, a.language) is page
    )


def page_path(web: LocalWeb, site: Site, article: SiteArticle) -> str:
    return site.url_of(article.id).removeprefix(web.base_url)


def page_body(web: LocalWeb, path: str) -> bytes:
    _, route = web.lookup(path)
    assert isinstance(route, _Static)
    return route.body


def run(config: Config, matcher: Matcher, *steps: str) -> list[PassSummary | RetryReport]:
    """``poll`` (a pass over every feed) and ``retry`` (the due retries), in order."""

    async def go() -> list[PassSummary | RetryReport]:
        done: list[PassSummary | RetryReport] = []
        async with open_pipeline(config, matcher) as pipeline:
            for step in steps:
                work = pipeline.poll_all() if step == "poll" else pipeline.retry_pages()
                done.append(await work)
        return done

    return asyncio.run(go())


def stored(url: str) -> dict[str, ArticleView]:
    store = Store.open(url)
    try:
        return {view.url.split("?")[0]: view for view in store.articles(include_all=True)}
    finally:
        store.close()


def test_a_page_that_answers_503_then_200_gets_its_text_and_matches(
    config_dir: Path,
    web: LocalWeb,
    devset_articles: list[SiteArticle],
    matcher: Matcher,
    store_url: str,
) -> None:
    late = pick(devset_articles, matcher, summary=False, page=True)
    site = build_site(web, [late, *devset_articles[:2]], feeds=1)
    path = page_path(web, site, late)
    html = page_body(web, path)
    web.fault(path, "flapping", body=html, statuses=(503, 200), content_type="text/html")
    config = configure(config_dir, site.feed_urls, store_url)

    first, report = run(config, matcher, "poll", "retry")

    assert isinstance(first, PassSummary) and first.articles_stored == 3
    assert isinstance(report, RetryReport)
    assert (report.retried, report.recovered, report.matched) == (1, 1, 1)
    view = stored(store_url)[site.url_of(late.id)]
    assert view.extract_error is None
    assert view.text_chars > len(late.paragraphs[0]) + 200
    assert view.topics
    assert view.story_id is not None
    assert web.count(path) == 2
    assert run(config, matcher, "retry")[0] == RetryReport()  # done: nothing left to retry


def test_pages_that_outlast_a_short_deadline_are_recovered(
    config_dir: Path,
    web: LocalWeb,
    devset_articles: list[SiteArticle],
    matcher: Matcher,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's stall in small: every page hangs past the deadline on the first pass."""
    site = build_site(web, devset_articles[:6], feeds=1)
    paths = [page_path(web, site, a) for a in devset_articles[:6]]
    bodies = {path: page_body(web, path) for path in paths}
    for path in paths:
        web.fault(path, "hang")
    monkeypatch.setenv("MONITOR_HTTP__DEADLINE", "0.5")
    config = configure(config_dir, site.feed_urls, database_url)
    run(config, matcher, "poll")
    lost = stored(database_url)
    assert all("no complete response" in (v.extract_error or "") for v in lost.values())

    for path, body in bodies.items():
        web.route(path, body)
    [report] = run(config, matcher, "retry")

    assert isinstance(report, RetryReport) and report.recovered == 6
    after = stored(database_url)
    assert all(view.extract_error is None for view in after.values())
    assert sorted(v.id for v in after.values()) == sorted(v.id for v in lost.values())


def test_a_404_is_not_retried(
    config_dir: Path,
    web: LocalWeb,
    devset_articles: list[SiteArticle],
    matcher: Matcher,
    database_url: str,
) -> None:
    site = build_site(web, devset_articles[:2], feeds=1)
    path = page_path(web, site, devset_articles[0])
    web.fault(path, "status", status=404)
    config = configure(config_dir, site.feed_urls, database_url)

    _, report = run(config, matcher, "poll", "retry")

    assert report == RetryReport()
    assert web.count(path) == 1
    assert "404" in (stored(database_url)[site.url_of(devset_articles[0].id)].extract_error or "")


def test_the_retry_limit_holds_and_the_summary_stays(
    config_dir: Path,
    web: LocalWeb,
    devset_articles: list[SiteArticle],
    matcher: Matcher,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONITOR_POLLING__PAGE_RETRIES", "2")
    site = build_site(web, devset_articles[:1], feeds=1)
    path = page_path(web, site, devset_articles[0])
    web.fault(path, "status", status=503)
    config = configure(config_dir, site.feed_urls, database_url)

    reports = run(config, matcher, "poll", "retry", "retry", "retry", "retry")[1:]

    assert reports == [
        RetryReport(retried=1, failed=1),
        RetryReport(retried=1, gave_up=1),
        RetryReport(),
        RetryReport(),
    ]
    assert web.count(path) == 3  # the first attempt and two retries
    view = stored(database_url)[site.url_of(devset_articles[0].id)]
    assert "503" in (view.extract_error or "")
    assert view.text_chars == len(devset_articles[0].paragraphs[0])
    store = Store.open(database_url)
    try:
        assert retries.pending(store) == 0
    finally:
        store.close()


def test_an_article_mailed_before_its_retry_is_not_mailed_again(
    config_dir: Path,
    web: LocalWeb,
    devset_articles: list[SiteArticle],
    matcher: Matcher,
    database_url: str,
) -> None:
    early = pick(devset_articles, matcher, summary=True, page=True)
    late = pick(devset_articles, matcher, summary=False, page=True)
    site = build_site(web, [early, late], feeds=1)
    paths = [page_path(web, site, a) for a in (early, late)]
    bodies = {path: page_body(web, path) for path in paths}
    for path in paths:
        web.fault(path, "status", status=503)
    with LocalSMTP() as smtp:
        digest_config(config_dir, database_url, smtp.port)
        config = configure(config_dir, site.feed_urls)
        run(config, matcher, "poll")
        store = Store.open(database_url)
        try:
            digests = Digests(store, config)
            asyncio.run(digests.run("ana", scheduled=False))
            [first] = smtp.parsed()
            assert site.url_of(early.id) in plain_text(first)
            assert site.url_of(late.id) not in plain_text(first)  # its summary did not match

            for path, body in bodies.items():
                web.route(path, body)
            [report] = run(config, matcher, "retry")
            assert isinstance(report, RetryReport) and report.recovered == 2

            asyncio.run(digests.run("ana", scheduled=False))
            _, second = smtp.parsed()
        finally:
            store.close()
    assert site.url_of(late.id) in plain_text(second)  # a new match, mailed as one
    assert site.url_of(early.id) not in plain_text(second)


# --- the commands: poll --once and the daemon --------------------------------------------


def test_poll_once_retries_the_pages_an_earlier_pass_could_not_fetch(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle]
) -> None:
    site = build_site(web, devset_articles[:3], feeds=1)
    write_feeds(config_dir, site.feed_urls)
    path = page_path(web, site, devset_articles[0])
    web.fault(path, "flapping", body=page_body(web, path), content_type="text/html")
    no_command_backoff(config_dir)

    first = json.loads(monitor(config_dir, "poll", "--once", "--json").stdout)
    second = json.loads(monitor(config_dir, "poll", "--once", "--json").stdout)

    assert first["articles_stored"] == 3 and first["pages_retried"] == 0
    assert (second["pages_retried"], second["pages_recovered"]) == (1, 1)
    assert second["entries_new"] == 0
    listing = monitor(config_dir, "articles", "--all", "--json").stdout.splitlines()
    assert all(json.loads(line)["text_chars"] > 300 for line in listing)


def test_the_daemon_retries_pages_on_its_own(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle], database_url: str
) -> None:
    site = build_site(web, devset_articles[:3], feeds=1)
    write_feeds(config_dir, site.feed_urls)
    path = page_path(web, site, devset_articles[0])
    web.fault(path, "flapping", body=page_body(web, path), content_type="text/html")
    no_command_backoff(config_dir)
    env = _env() | {"MONITOR_POLLING__JITTER_SECONDS": "0"}
    daemon = subprocess.Popen(
        [MONITOR, "--config", str(config_dir / "monitor.yaml"), "--log-format", "json", "run"],
        cwd=config_dir.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    missing = "SELECT count(*) FROM articles WHERE extract_error IS NOT NULL"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if web.count(path) >= 2 and _count(database_url, missing) == 0:
                break
            time.sleep(0.3)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr[-2000:]
    assert _count(database_url, "SELECT count(*) FROM articles") == 3
    assert _count(database_url, missing) == 0
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert [e["outcome"] for e in events if e["event"] == "page.retried"] == ["recovered"]


def no_command_backoff(config_dir: Path) -> None:
    """The commands run without the test's environment: the setting goes in the file."""
    with (config_dir / "monitor.yaml").open("a", encoding="utf-8") as settings:
        settings.write("polling:\n  page_retry_minutes: 0\n")


def _count(database_url: str, sql: str) -> int:
    try:
        return int(query(database_url, sql)[0][0])
    except DBAPIError:  # not created yet
        return -1
