"""Duplicates and stories through the whole pipeline, across a restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
from click.testing import CliRunner

from monitor.cli import main
from monitor.storage.store import Store
from testkit.sites import SiteArticle, build_site
from testkit.webserver import LocalWeb
from tests.test_pipeline import configure, poll_once


def syndicated_copy(original: SiteArticle, outlet: str) -> SiteArticle:
    """A wire copy as another outlet runs it: new headline, byline, dateline, cut ending."""
    paragraphs = original.paragraphs
    text = "\n\n".join(
        [f"By {outlet} staff with wire reports", f"(Updated) {paragraphs[0]}", *paragraphs[1:-1]]
    )
    return dataclasses.replace(
        original,
        id=f"{original.id}-copy",
        title=f"{outlet}: {original.title.lower()}",
        text=text,
        outlet=outlet,
    )


def test_copies_fold_into_the_first_seen_article_even_after_a_restart(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle], database_url: str
) -> None:
    troops = [a for a in devset_articles if "nk-troops" in a.topics and a.language == "en"][:3]
    first = build_site(web, troops, feeds=1, prefix="wire")
    config = configure(config_dir, first.feed_urls, database_url)
    assert poll_once(config).articles_stored == 3

    copies = [syndicated_copy(a, "Harbour Gazette") for a in troops]
    second = build_site(web, copies, feeds=1, prefix="gazette", tracking=True)
    config = configure(config_dir, [*first.feed_urls, *second.feed_urls], database_url)
    summary = poll_once(config)  # a new process-equivalent: indexes rebuilt from the store
    assert summary.entries_new == 3
    assert summary.duplicates == 3 and summary.articles_stored == 0

    store = Store.open(database_url)
    try:
        originals = store.articles(limit=None)
        assert sorted(v.title for v in originals) == sorted(a.title for a in troops)
        copies_by_original = store.copies_of([v.id for v in originals])
        for view in originals:
            (copy,) = copies_by_original[view.id]
            assert copy.duplicate_kind == "near"
            assert copy.duplicate_reason and f"#{view.id}" in copy.duplicate_reason
    finally:
        store.close()

    runner = CliRunner(env={"MONITOR_DATABASE__URL": database_url})
    listing = runner.invoke(main, ["--config", str(config_dir / "monitor.yaml"), "articles"])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.strip().splitlines()
    assert len(lines) <= 3
    assert all("more article" in line for line in lines)
    shown = runner.invoke(
        main,
        ["--config", str(config_dir / "monitor.yaml"), "articles", "show", str(originals[0].id)],
    )
    assert "copy #" in shown.output and "Outlet 1: near-duplicate of" in shown.output


def test_the_same_article_through_two_feeds_is_stored_once(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle], database_url: str
) -> None:
    site = build_site(web, devset_articles[:4], feeds=1)
    mirror = "/mirror/feed.xml"
    feed = httpx.get(site.feed_urls[0]).content
    web.route(mirror, feed, content_type="application/rss+xml")
    config = configure(config_dir, [*site.feed_urls, web.url(mirror)], database_url)
    summary = poll_once(config)
    assert summary.entries_new == 8
    assert summary.articles_stored + summary.duplicates == 8
    store = Store.open(database_url)
    try:
        assert store.counts()["articles"] == 4
        assert store.counts()["entries"] == 8
    finally:
        store.close()
