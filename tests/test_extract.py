"""Extraction: trafilatura on realistic pages, and a pool that survives a stuck worker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from monitor.errors import ExtractError
from monitor.pipeline.extract import extract_page
from monitor.pipeline.sandbox import Sandbox
from testkit.pages import render_page
from testkit.sites import SiteArticle

ARTICLE = SiteArticle(
    id="a1",
    title="North Korean troops seen near Kursk, officials say",
    text="\n\n".join(
        f"Paragraph {n}: officials in Seoul said on Tuesday that units had moved closer to "
        "the front line, according to intelligence gathered over several weeks." * 2
        for n in range(6)
    ),
    language="en",
    outlet="Test Wire",
    published=datetime(2025, 1, 7, 9, 30, tzinfo=UTC),
    author="Jane Reporter",
)


def page_html() -> bytes:
    related = [("https://news.example/world/other", "Another story entirely")]
    url = "https://news.example/world/troops-kursk"
    return render_page(ARTICLE, url, related, "https://news.example/").encode("utf-8")


def test_extracts_body_and_metadata_without_boilerplate() -> None:
    page = extract_page(page_html(), "https://news.example/world/troops-kursk?utm_source=rss")
    assert "Paragraph 0: officials in Seoul" in page.text
    assert "Paragraph 5" in page.text
    assert "cookie" not in page.text.lower()
    assert page.title == ARTICLE.title
    assert page.canonical_url == "https://news.example/world/troops-kursk"
    assert page.published is not None and page.published.date() == ARTICLE.published.date()


@pytest.mark.parametrize("body", [b"", b"\x00\x01\x02", b"<html><body></body></html>", b"%PDF-1.7"])
def test_pages_without_text_are_extract_errors(body: bytes) -> None:
    with pytest.raises(ExtractError) as caught:
        extract_page(body, "https://news.example/empty")
    assert "https://news.example/empty" in str(caught.value)


def test_pool_kills_an_overrunning_worker_and_keeps_working() -> None:
    async def scenario() -> str:
        pool = Sandbox(workers=1, timeout=30)
        try:
            [first] = pool._all
            pool.timeout = 0.0001  # no real page extracts this fast: the worker is killed
            with pytest.raises(ExtractError, match="longer than"):
                await pool.extract(page_html(), "https://news.example/a")
            assert not first.process.is_alive()
            assert pool._all[0] is not first
            pool.timeout = 60
            page = await pool.extract(page_html(), "https://news.example/b")
            return page.text
        finally:
            pool.close()

    assert "Paragraph 0: officials in Seoul" in asyncio.run(scenario())


def test_a_dead_worker_is_replaced() -> None:
    async def scenario() -> tuple[str, str]:
        pool = Sandbox(workers=1, timeout=30)
        try:
            [first] = pool._all
            first.process.kill()  # as the kernel would at the memory limit
            first.process.join()
            with pytest.raises(ExtractError) as died:
                await pool.extract(page_html(), "https://news.example/a")
            page = await pool.extract(page_html(), "https://news.example/b")
            return str(died.value), page.text
        finally:
            pool.close()

    error, text = asyncio.run(scenario())
    assert "killed its worker process" in error
    assert "Paragraph 0: officials in Seoul" in text


def test_close_lets_used_workers_exit_on_their_own() -> None:
    async def scenario() -> list[int | None]:
        pool = Sandbox(workers=2, timeout=30)
        await pool.extract(page_html(), "https://news.example/a")
        workers = list(pool._all)
        pool.close()
        return [worker.process.exitcode for worker in workers]

    # 0: each read the end of its socket and returned; -9 would mean it had to be killed.
    assert asyncio.run(scenario()) == [0, 0]
