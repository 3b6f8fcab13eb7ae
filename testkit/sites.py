"""Whole news sites on a `LocalWeb`: feeds in three formats linking to realistic pages.

`build_site` publishes every article as an HTML page and spreads the articles over
``feeds`` feeds (RSS 2.0, RSS 1.0/RDF and Atom in turn). The returned `Site` knows
which article lives at which URL and in which feed, so a test can check that the
pipeline stored exactly the right ones, and it can change the site between passes:
publish more articles, or give an entry a new GUID while its article stays.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC

from testkit.articles import SiteArticle
from testkit.pages import Alternate, render_home, render_page, slug
from testkit.syndication import CONTENT_TYPES, FeedDoc, render_feed
from testkit.webserver import LocalWeb

FORMATS = ("rss2", "rss1", "atom")


@dataclass(frozen=True)
class SiteEntry:
    article_id: str
    guid: str
    link: str  # as it appears in the feed (tracking parameters included)


@dataclass
class SiteFeed:
    index: int
    format: str
    path: str
    url: str
    title: str
    entries: list[SiteEntry] = field(default_factory=list)

    @property
    def article_ids(self) -> list[str]:
        return [entry.article_id for entry in self.entries]


@dataclass
class Site:
    """What was published where. Change it only through its methods, which republish."""

    web: LocalWeb
    prefix: str
    tracking: bool
    feeds: list[SiteFeed]
    articles: list[SiteArticle] = field(default_factory=list)  # in publication order
    pages: dict[str, str] = field(default_factory=dict)  # article id → canonical URL
    _by_id: dict[str, SiteArticle] = field(default_factory=dict, init=False, repr=False)
    _feed_of: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    @property
    def feed_urls(self) -> list[str]:
        return [feed.url for feed in self.feeds]

    @property
    def home_url(self) -> str:
        """The front page: latest stories, every feed declared with <link rel=alternate>."""
        return self.web.url(self.prefix + "/")

    @property
    def alternates(self) -> list[Alternate]:
        return [(f.url, f.title, CONTENT_TYPES[f.format]) for f in self.feeds]

    def url_of(self, article_id: str) -> str:
        """The canonical URL of an article's page."""
        return self.pages[article_id]

    def feed_of(self, article_id: str) -> SiteFeed:
        return self.feeds[self._feed_of[article_id]]

    def entry_of(self, article_id: str) -> SiteEntry:
        return next(e for e in self.feed_of(article_id).entries if e.article_id == article_id)

    def article_at(self, url: str) -> SiteArticle:
        """The article whose page is at ``url`` (query string ignored)."""
        bare = url.split("?", 1)[0]
        return self._by_id[next(i for i, u in self.pages.items() if u == bare)]

    def article(self, article_id: str) -> SiteArticle:
        return self._by_id[article_id]

    def add_articles(self, articles: Iterable[SiteArticle], feed: int | None = None) -> None:
        """Publish more articles: pages first, then feed entries (newest on top).

        Without ``feed`` they are spread over the feeds, continuing the round robin.
        """
        touched: set[int] = set()
        added: list[str] = []
        for article in articles:
            if article.id in self._by_id:
                raise ValueError(f"article {article.id!r} is already on the site")
            index = feed if feed is not None else len(self.articles) % len(self.feeds)
            self.articles.append(article)
            self._by_id[article.id] = article
            self.pages[article.id] = self.web.url(self._page_path(article))
            self._feed_of[article.id] = index
            link = self.pages[article.id] + (
                "?utm_source=rss&utm_medium=feed" if self.tracking else ""
            )
            self.feeds[index].entries.append(SiteEntry(article.id, _guid(article.id), link))
            touched.add(index)
            added.append(article.id)
        self._publish_pages(added)
        for index in touched:
            self._publish_feed(self.feeds[index])
        self._publish_home()

    def change_guid(self, article_id: str, guid: str | None = None) -> str:
        """Give an article's feed entry a new GUID (link and page unchanged); returns it."""
        feed = self.feed_of(article_id)
        new = guid or _guid(article_id + "#republished")
        feed.entries = [
            replace(e, guid=new) if e.article_id == article_id else e for e in feed.entries
        ]
        self._publish_feed(feed)
        return new

    def republish(self) -> None:
        """Serve every feed and the front page again from the current records."""
        for feed in self.feeds:
            self._publish_feed(feed)
        self._publish_home()

    def remove_entry(self, article_id: str) -> None:
        """Drop an article's entry from its feed; the page stays online."""
        feed = self.feed_of(article_id)
        feed.entries = [e for e in feed.entries if e.article_id != article_id]
        self._publish_feed(feed)

    def _page_path(self, article: SiteArticle) -> str:
        day = article.published.astimezone(UTC)
        return f"{self.prefix}/news/{day:%Y/%m/%d}/{slug(article.title, article.id)}.html"

    def _publish_pages(self, new: list[str]) -> None:
        """Serve the new articles' pages; pages already online stay byte for byte."""
        ids = [article.id for article in self.articles]
        for article_id in new:
            position = ids.index(article_id)
            article = self._by_id[article_id]
            related = [ids[(position + step) % len(ids)] for step in (-1, -2, -3)]
            links = [
                (self.pages[other], self._by_id[other].title)
                for other in dict.fromkeys(related)
                if other != article_id
            ]
            html = render_page(
                article, self.pages[article_id], links, self.home_url, self.alternates
            )
            self.web.route(self.pages[article_id], html)

    def _publish_home(self) -> None:
        newest = sorted(self.articles, key=lambda a: a.published, reverse=True)[:30]
        latest = [(self.pages[a.id], a.title) for a in newest]
        name = "Local News Network"
        self.web.route(self.home_url, render_home(name, self.home_url, latest, self.alternates))

    def _publish_feed(self, feed: SiteFeed) -> None:
        items = sorted(
            ((self._by_id[e.article_id], e) for e in feed.entries),
            key=lambda pair: pair[0].published,
            reverse=True,
        )
        doc = FeedDoc(
            format=feed.format,
            url=feed.url,
            title=feed.title,
            home=self.web.url(self.prefix + "/"),
            items=[(a, e.guid, e.link) for a, e in items],
        )
        body, content_type = render_feed(doc)
        self.web.route(feed.path, body, content_type=content_type)


def build_site(
    web: LocalWeb,
    articles: Sequence[SiteArticle],
    *,
    feeds: int,
    formats: Sequence[str] = FORMATS,
    prefix: str = "",
    tracking: bool = False,
) -> Site:
    """Publish ``articles`` on ``web`` behind ``feeds`` feeds, formats taken in turn.

    ``prefix`` (e.g. ``"/outlet-a"``) keeps several sites apart on one server;
    ``tracking`` adds ``utm_*`` parameters to feed links, as many outlets do, so the
    link in the feed differs from the page's canonical URL.
    """
    if feeds < 1:
        raise ValueError("a site needs at least one feed")
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ValueError(f"formats must be drawn from {FORMATS}, got {list(formats)}")
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    extension = {"rss2": "xml", "rss1": "rdf", "atom": "atom"}
    site_feeds = []
    for index in range(feeds):
        kind = formats[index % len(formats)]
        path = f"{prefix}/feeds/feed-{index}.{extension[kind]}"
        title = f"Local News Network — section {index + 1}"
        site_feeds.append(SiteFeed(index, kind, path, web.url(path), title))
    site = Site(web=web, prefix=prefix, tracking=tracking, feeds=site_feeds)
    site.add_articles(articles)
    site.republish()
    return site


def _guid(key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'monitor-test:' + key)}"
