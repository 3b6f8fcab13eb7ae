"""News sites on disk for the benchmarks' static web (`testkit.static_web`): heavy
article pages behind RSS 2.0 feeds of 20–50 items, spread over outlets, one loopback
host each.

They are made of what the tests' sites (`testkit.sites`) are made of: `SiteArticle`
(`testkit.articles`), the one page renderer with the heavy furniture
(`testkit.heavy_pages`) and the one feed writer (`testkit.syndication`). URLs embed host
and port, so the port is chosen before the site is written (`static_web.reserve_port`)
and the site served on it. The same articles and seed give the same files.

    .venv/bin/python -m testkit.news_site [--articles 300] [--hosts 8] [--server auto]

generates a site in a temporary directory, prints its page sizes, and measures the
server backends on it.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from testkit.articles import SiteArticle, article_sources
from testkit.heavy_pages import render_news_page
from testkit.page_filler import headline, sentence
from testkit.static_web import Web, loopback_hosts, reserve_port, start_web
from testkit.syndication import FeedDoc, render_feed

TRACKING = "?utm_source=rss&utm_medium=feed"
RELATED = 12  # links to other stories of the outlet on each page
SUMMARY_CHARS = 400  # a feed entry's summary: the first paragraph, cut as CMSs cut it


@dataclass
class FeedFile:
    path: str  # under the document root
    host: int  # index into the site's hosts
    items: list[tuple[SiteArticle, str, str]] = field(default_factory=list)  # article, guid, link


@dataclass
class NewsSite:
    """Articles published as pages behind RSS feeds, spread over outlets (hosts)."""

    root: Path
    hosts: list[str]
    pages: list[tuple[str, int]] = field(default_factory=list)  # (path, host) per article
    feeds: list[FeedFile] = field(default_factory=list)

    def file(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def page_url(self, web: Web, index: int) -> str:
        path, host = self.pages[index]
        return web.url(path, host)

    def feed_url(self, web: Web, feed: FeedFile) -> str:
        return web.url(feed.path, feed.host)


def build_news_site(
    root: Path,
    web_hosts: Sequence[str],
    port: int,
    articles: Sequence[SiteArticle],
    *,
    items_per_feed: tuple[int, int] = (20, 50),
    seed: int = 7,
) -> NewsSite:
    """Pages for ``articles`` and RSS feeds of 20–50 items linking to them.

    Article ``i`` belongs to outlet ``i % hosts``; each outlet's articles are cut into
    feeds of a random size in ``items_per_feed``. The site must be served on ``port``.
    """
    site = NewsSite(root=Path(root), hosts=list(web_hosts))
    bases = [f"http://{host}:{port}" for host in web_hosts]
    by_outlet = _place_pages(site, articles)
    _write_pages(site, articles, bases, by_outlet, seed)
    _write_feeds(site, articles, bases, by_outlet, items_per_feed, seed)
    return site


def _place_pages(site: NewsSite, articles: Sequence[SiteArticle]) -> dict[int, list[int]]:
    """Give each article its page path and outlet; the article indexes of each outlet."""
    by_outlet: dict[int, list[int]] = {}
    for index, article in enumerate(articles):
        outlet = index % len(site.hosts)
        path = f"/o{outlet}/news/{article.published:%Y/%m/%d}/a{index:06d}.html"
        site.pages.append((path, outlet))
        by_outlet.setdefault(outlet, []).append(index)
    return by_outlet


def _write_pages(
    site: NewsSite,
    articles: Sequence[SiteArticle],
    bases: Sequence[str],
    by_outlet: dict[int, list[int]],
    seed: int,
) -> None:
    """Each article's page, linking to the next `RELATED` stories of its outlet."""
    for index, article in enumerate(articles):
        path, outlet = site.pages[index]
        siblings = by_outlet[outlet]
        position = siblings.index(index)
        neighbours = (siblings[(position + step) % len(siblings)] for step in range(1, RELATED + 1))
        related = [
            (bases[outlet] + site.pages[other][0], articles[other].title)
            for other in neighbours
            if other != index
        ]
        home = f"{bases[outlet]}/o{outlet}/"
        html = render_news_page(article, bases[outlet] + path, home, related, seed * 7919 + index)
        write_file(site.file(path), html)


def _write_feeds(
    site: NewsSite,
    articles: Sequence[SiteArticle],
    bases: Sequence[str],
    by_outlet: dict[int, list[int]],
    items_per_feed: tuple[int, int],
    seed: int,
) -> None:
    """Cut each outlet's articles, in order, into feeds of random sizes."""
    rng = random.Random(seed)
    for outlet, indexes in sorted(by_outlet.items()):
        start = 0
        while start < len(indexes):
            size = rng.randint(*items_per_feed)
            chunk = indexes[start : start + size]
            start += size
            feed = FeedFile(f"/o{outlet}/feeds/f{len(site.feeds):05d}.xml", outlet)
            feed.items = [
                (
                    articles[index],
                    f"urn:bench:{seed}:{index}",
                    bases[outlet] + site.pages[index][0] + TRACKING,
                )
                for index in chunk
            ]
            site.feeds.append(feed)
            publish_feed(site, feed, bases[outlet])


def publish_feed(site: NewsSite, feed: FeedFile, base: str, *, bump: bool = False) -> None:
    """Write ``feed`` (its items newest first); ``bump``: see `write_file`."""
    doc = FeedDoc(
        format="rss2",
        url=base + feed.path,
        title=f"Outlet {feed.host} — section {feed.path.rsplit('/', 1)[-1]}",
        home=f"{base}/o{feed.host}/",
        items=sorted(feed.items, key=lambda item: item[0].published, reverse=True),
        summary_chars=SUMMARY_CHARS,
    )
    body, _content_type = render_feed(doc)
    write_file(site.file(feed.path), body, bump=bump)


def publish_poll_feeds(
    site: NewsSite,
    hosts: Sequence[str],
    port: int,
    count: int,
    pages: Sequence[tuple[str, int]],
    *,
    seed: int,
    tag: str,
) -> list[FeedFile]:
    """``count`` RSS feeds of 20-50 items each, spread over ``hosts``, whose items link to
    ``pages`` ((path, host) of article pages already on the site).

    One in ten is served under /nv/ (no ETag, conditional requests ignored). GUIDs are
    ``urn:<tag>:<feed>:<item>``; titles and summaries are filler, not the pages'."""
    rng = random.Random(seed)
    newest = datetime(2025, 3, 1, tzinfo=UTC)
    feeds = []
    for index in range(count):
        host = index % len(hosts)
        prefix = "/nv" if index % 10 == 9 else ""
        feed = FeedFile(f"{prefix}/p{host}/feeds/{index:05d}.xml", host)
        for item in range(rng.randint(20, 50)):
            page_path, page_host = pages[(index + item) % len(pages)]
            guid = f"urn:{tag}:{index}:{item}"
            entry = SiteArticle(
                id=guid,
                title=headline(rng),
                text=" ".join(sentence(rng, rng.randint(10, 20)) for _ in range(2)),
                language="en",
                outlet=f"Outlet {host}",
                published=newest - timedelta(hours=item, minutes=index % 60),
                author="Staff reporter",
            )
            feed.items.append((entry, guid, f"http://{hosts[page_host]}:{port}{page_path}"))
        publish_feed(site, feed, f"http://{hosts[host]}:{port}")
        feeds.append(feed)
    return feeds


def iter_pages(site: NewsSite) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of every article page, in article order."""
    for path, _host in site.pages:
        yield path, site.file(path).read_bytes()


def write_file(path: Path, data: bytes | str, *, bump: bool = False) -> None:
    """Write atomically; ``bump`` moves the mtime forward so validators change for sure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    old_mtime = path.stat().st_mtime if bump and path.exists() else None
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(raw)
    os.replace(temporary, path)
    if old_mtime is not None:
        later = max(time.time(), old_mtime + 2)
        os.utime(path, (later, later))


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate a news site; compare the servers.")
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--server", default="auto", choices=("auto", "nginx", "python"))
    args = parser.parse_args()
    hosts = loopback_hosts(args.hosts)
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)
        port = reserve_port(hosts)
        started = time.perf_counter()
        site = build_news_site(root, hosts, port, article_sources(args.articles))
        sizes = sorted(len(body) for _, body in iter_pages(site))
        print(
            f"{len(site.pages)} pages (median {sizes[len(sizes) // 2] / 1000:.0f} KB, "
            f"min {sizes[0] / 1000:.0f}, max {sizes[-1] / 1000:.0f}), {len(site.feeds)} feeds "
            f"in {time.perf_counter() - started:.1f} s"
        )
        web = start_web(root, hosts, args.server, port)
        try:
            print(f"chose {web.backend}; requests/s: {web.rates}")
        finally:
            web.close()


if __name__ == "__main__":
    main()
