"""The whole pipeline in one process, against a local site: feed → stored, matched article."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.config import Config, load_config
from monitor.models import PassSummary
from monitor.pipeline.match import build_matcher
from monitor.runtime.resources import open_pipeline
from monitor.storage.store import Store
from testkit.sites import Site, SiteArticle, build_site
from testkit.webserver import LocalWeb


def configure(config_dir: Path, feed_urls: list[str], db_url: str | None = None) -> Config:
    lines = ["feeds:"] + [
        f"  - url: {url}\n    name: Outlet {i}" for i, url in enumerate(feed_urls)
    ]
    (config_dir / "feeds.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = load_config(config_dir / "monitor.yaml")
    if db_url:
        database = config.settings.database.model_copy(update={"url": db_url})
        settings = config.settings.model_copy(update={"database": database})
        config = Config(
            settings,
            config.feeds,
            config.topics,
            config.term_lists,
            config.settings_path,
            config.feeds_path,
            config.topics_path,
        )
    return config


def poll_once(config: Config) -> PassSummary:
    matcher = build_matcher(config.topics, config.term_lists)

    async def go() -> PassSummary:
        async with open_pipeline(config, matcher) as pipeline:
            return await pipeline.poll_all()

    return asyncio.run(go())


@pytest.fixture
def site(web: LocalWeb, devset_articles: list[SiteArticle]) -> Site:
    return build_site(web, devset_articles, feeds=3, tracking=True)


def test_a_pass_stores_every_article_with_text_and_matches(
    config_dir: Path, site: Site, web: LocalWeb, store_url: str
) -> None:
    config = configure(config_dir, site.feed_urls, store_url)
    summary = poll_once(config)
    assert summary.feeds == 3 and summary.feeds_failed == 0
    assert summary.entries_new == 120
    assert summary.articles_stored + summary.duplicates == 120

    store = Store.open(store_url)
    try:
        stored = store.articles(include_all=True, limit=None)
        assert len(stored) == 120
        assert all(view.extract_error is None for view in stored), [
            view.extract_error for view in stored if view.extract_error
        ]
        assert all(view.text_chars > 300 for view in stored)
        assert all("utm_" not in view.url or view.url != view.id for view in stored)
        by_title = {view.title: view for view in stored}
        labelled = [a for a in site.articles if "nk-troops" in a.topics]
        found = [a for a in labelled if "nk-troops" in by_title[a.title].topics]
        assert len(found) >= 0.95 * len(labelled)
        assert summary.articles_matched >= len(found)
    finally:
        store.close()

    web.reset_log()
    again = poll_once(config)
    assert again.entries_new == 0 and again.articles_stored == 0
    feed_statuses = [r.status for url in site.feed_urls for r in web.requests_to(url)]
    assert feed_statuses == [304, 304, 304]
    assert all("/feeds/" in r.path for r in web.requests)  # no page was fetched again


def test_new_entries_in_a_later_pass_are_the_only_work(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle], database_url: str
) -> None:
    site = build_site(web, devset_articles[:10], feeds=2)
    config = configure(config_dir, site.feed_urls, database_url)
    assert poll_once(config).articles_stored == 10
    site.add_articles(devset_articles[10:13])
    web.reset_log()
    later = poll_once(config)
    assert later.entries_new == 3 and later.articles_stored == 3
    pages = [r.path for r in web.requests if "/feeds/" not in r.path]
    assert len(pages) == 3


def test_changed_guid_on_an_unchanged_article_is_not_a_new_article(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle], database_url: str
) -> None:
    site = build_site(web, devset_articles[:5], feeds=1)
    config = configure(config_dir, site.feed_urls, database_url)
    poll_once(config)
    site.change_guid(devset_articles[0].id)
    later = poll_once(config)
    assert later.entries_new == 1
    assert later.articles_stored == 0 and later.duplicates == 1
    store = Store.open(database_url)
    try:
        assert store.counts()["articles"] == 5
    finally:
        store.close()


BAD_FEEDS = {
    "/bad/timeout.xml": ("hang", {}),
    "/bad/garbage.xml": ("garbage", {}),
    "/bad/empty.xml": ("empty", {}),
    "/bad/missing.xml": ("status", {"status": 404}),
    "/bad/error.xml": ("status", {"status": 500}),
    "/bad/endless.xml": ("endless", {}),
}


def test_bad_feeds_fail_alone_and_are_recorded(
    config_dir: Path,
    web: LocalWeb,
    devset_articles: list[SiteArticle],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = build_site(web, devset_articles[:6], feeds=1)
    for path, (kind, params) in BAD_FEEDS.items():
        web.fault(path, kind, **params)
    web.route("/bad/page.html", "<!DOCTYPE html><html><body><p>Just a page</p></body></html>")
    bad_urls = [web.url(path) for path in [*BAD_FEEDS, "/bad/page.html"]]
    monkeypatch.setenv("MONITOR_HTTP__DEADLINE", "3")
    monkeypatch.setenv("MONITOR_HTTP__MAX_BODY_BYTES", "200000")
    config = configure(config_dir, [*site.feed_urls, *bad_urls], database_url)
    summary = poll_once(config)
    assert summary.feeds == 8
    assert summary.feeds_failed == 7
    assert summary.articles_stored == 6
    store = Store.open(database_url)
    try:
        records = {record.url: record for record in store.feeds()}
    finally:
        store.close()
    for url in bad_urls:
        state = records[url].state
        assert state.health == "failing", url
        assert state.last_error, url
        assert state.consecutive_failures == 1
        assert state.next_poll_at is not None
    assert "HTML page" in (records[web.url("/bad/page.html")].state.last_error or "")
    assert records[web.url("/bad/missing.xml")].state.last_status == 404
    assert records[site.feed_urls[0]].state.health == "ok"


def test_an_article_page_that_fails_keeps_the_feed_summary(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle], database_url: str
) -> None:
    site = build_site(web, devset_articles[:2], feeds=1)
    broken = site.url_of(devset_articles[0].id)
    web.fault(broken.removeprefix(web.base_url), "status", status=500)
    config = configure(config_dir, site.feed_urls, database_url)
    assert poll_once(config).articles_stored == 2
    store = Store.open(database_url)
    try:
        views = {view.title: view for view in store.articles(include_all=True)}
    finally:
        store.close()
    failed = views[devset_articles[0].title]
    assert failed.extract_error and "500" in failed.extract_error
    assert failed.text_chars > 0
    assert views[devset_articles[1].title].extract_error is None
