"""Processes that share one PostgreSQL database keep their dedup indexes in step.

The prune task runs in one process of a cluster (a worker or the scheduler); every other
process must forget the pruned articles too, or its indexes grow for ever and a pruned
original can still be matched as the original of a new copy."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.pipeline import dedup_stage
from monitor.pipeline.match import build_matcher
from monitor.runtime.resources import open_pipeline
from testkit.sites import SiteArticle, build_site
from testkit.webserver import LocalWeb
from tests.test_pipeline import configure

pytestmark = [pytest.mark.postgres, pytest.mark.postgres_pass]


def test_a_prune_in_one_process_reaches_the_indexes_of_the_others(
    config_dir: Path,
    web: LocalWeb,
    devset_articles: list[SiteArticle],
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = build_site(web, devset_articles[:12], feeds=1)
    config = configure(config_dir, site.feed_urls, postgres_url)
    matcher = build_matcher(config.topics, config.term_lists)
    monkeypatch.setattr(dedup_stage, "PRUNES_CHECK_SECONDS", 0.0)

    async def go() -> tuple[list[int], set[int], set[int]]:
        async with (
            open_pipeline(config, matcher) as pruner,
            open_pipeline(config, matcher) as other,
        ):
            await pruner.poll_all()
            async with other.dedup.exclusive():  # catches up on what the pruner stored
                pass
            indexed = {i for i in range(1, 100) if i in other.dedup.near}
            later = datetime.now(UTC) + timedelta(days=1)
            pruned = await pruner.database.run(pruner.store.prune, 0, later)
            async with other.dedup.exclusive():  # the next fold-and-save of the other
                pass
            left = {i for i in range(1, 100) if i in other.dedup.near}
        return pruned, indexed, left

    pruned, indexed, left = asyncio.run(go())
    assert pruned and set(pruned) <= indexed, (pruned, indexed)
    assert not set(pruned) & left, "the other process still indexes pruned articles"
    assert left == indexed - set(pruned)
