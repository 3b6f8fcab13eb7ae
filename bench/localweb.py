"""Generated news sites on disk for the benchmarks, served by `testkit.static_web`.

Pages: `render_news_page` builds a page shaped like a real news site's (measured on the
scrapinghub article-extraction-benchmark pages: median 114 KB, ~785 elements, ~135
links, ~24 KB of inline script): a head full of meta, preload and script tags, inline
CSS and JSON-LD, a mega-menu, a trending bar, the article (a few KB of real text from
the topic dev set or synthetic prose) with figure, inline ads and share buttons, lists
of related and most-read stories with teasers, reader comments, a newsletter box and a
footer of link columns. Sizes vary from page to page around that median.

    .venv/bin/python bench/localweb.py demo          # generate a site, compare the servers
"""

from __future__ import annotations

import argparse
import email.utils
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from testkit.static_web import Web, loopback_hosts, reserve_port, start_web  # noqa: E402

# --- content: pages ----------------------------------------------------------------


_WORDS = [
    "market",
    "policy",
    "city",
    "council",
    "election",
    "energy",
    "climate",
    "school",
    "health",
    "transport",
    "housing",
    "budget",
    "court",
    "police",
    "union",
    "river",
    "festival",
    "museum",
    "airport",
    "border",
    "trade",
    "bank",
    "football",
    "weather",
    "storm",
    "harvest",
    "industry",
    "research",
    "hospital",
    "minister",
    "village",
    "coast",
    "bridge",
    "rail",
    "theatre",
    "summit",
    "tourism",
    "fishing",
    "vaccine",
    "drought",
    "mayor",
    "strike",
    "ferry",
    "library",
    "startup",
    "pension",
    "tariff",
    "satellite",
    "volcano",
    "orchestra",
    "election",
    "campaign",
    "refinery",
    "harbour",
]
_SECTIONS = ("World", "Politics", "Business", "Tech", "Science", "Sport", "Culture", "Opinion")
_SUBSECTIONS = ("Asia", "Europe", "Americas", "Africa", "Middle East", "UK", "US", "Analysis")
_JS_WORDS = [
    "function",
    "var",
    "let",
    "const",
    "return",
    "if",
    "else",
    "for",
    "while",
    "new",
    "this",
    "typeof",
    "undefined",
    "null",
    "window",
    "document",
    "push",
    "length",
    "prototype",
    "call",
    "apply",
    "addEventListener",
    "querySelector",
    "getAttribute",
    "setTimeout",
    "Promise",
    "resolve",
    "then",
    "catch",
    "JSON",
    "parse",
    "stringify",
    "Object",
    "keys",
    "dataLayer",
    "gtag",
    "adSlot",
    "consent",
    "lazyLoad",
    "observer",
    "intersection",
    "viewport",
    "analytics",
]


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _title(rng: random.Random) -> str:
    return _sentence(rng, rng.randint(6, 11))[:-1]


def _js(rng: random.Random, size: int) -> str:
    """Minified-looking JavaScript of about ``size`` characters."""
    parts: list[str] = []
    length = 0
    while length < size:
        name = rng.choice(_JS_WORDS) + str(rng.randint(0, 999))
        body = ";".join(
            f"{rng.choice(_JS_WORDS)}.{rng.choice(_JS_WORDS)}({rng.randint(0, 9999)},"
            f'"{rng.choice(_JS_WORDS)}-{rng.randint(0, 99)}")'
            for _ in range(rng.randint(2, 6))
        )
        part = f"function {name}(a,b,c){{if(a&&b){{{body}}}return c||null}}"
        parts.append(part)
        length += len(part)
    return "".join(parts)


def _svg(rng: random.Random, points: int = 14) -> str:
    """An inline icon, as sites inline them: a path with a long ``d`` attribute."""
    d = "M" + " ".join(
        f"{rng.uniform(0, 24):.3f},{rng.uniform(0, 24):.3f} "
        f"C{rng.uniform(0, 24):.2f},{rng.uniform(0, 24):.2f}"
        for _ in range(points)
    )
    return (
        '<svg class="icon" width="24" height="24" viewBox="0 0 24 24" aria-hidden="true" '
        f'focusable="false"><g fill="none" fill-rule="evenodd"><path fill="currentColor" '
        f'd="{d}z"/></g></svg>'
    )


def _ad_slot(rng: random.Random, name: str) -> str:
    """An ad container: nested divs with data attributes and a sizing style."""
    sizes = rng.choice(("300x250,300x600", "728x90,970x250", "320x50,320x100"))
    return (
        f'<div class="ad-container ad-{name}" data-ad-unit="/1234/{name}" data-sizes="{sizes}" '
        f'data-refresh="30" style="min-height:{rng.randint(50, 600)}px"><div class="ad-inner">'
        f'<div class="ad-label" aria-hidden="true">Advertisement</div><div id="div-gpt-{name}-'
        f'{rng.randint(1000, 99999)}" class="gpt-slot" data-loaded="false"></div>'
        f'<div class="ad-fallback"><span class="ad-close">{_svg(rng, 4)}</span></div></div></div>'
    )


def _state_blob(rng: random.Random, article: PageArticle, size: int) -> str:
    """The JSON state a front-end framework inlines (``__NEXT_DATA__`` and the like)."""
    items = []
    length = 0
    while length < size:
        item = {
            "id": rng.randint(10**6, 10**7),
            "headline": _title(rng),
            "summary": _sentence(rng, rng.randint(12, 30)),
            "section": rng.choice(_SECTIONS),
            "image": {"url": f"/img/{rng.randint(1, 10**6)}.jpg", "width": 1280, "height": 720},
            "tags": rng.sample(_WORDS, 4),
        }
        items.append(item)
        length += len(json.dumps(item))
    state = {"props": {"pageProps": {"article": {"title": article.title}, "feed": items}}}
    blob = json.dumps(state, ensure_ascii=False).replace("</", "<\\/")
    return f'<script id="__NEXT_DATA__" type="application/json">{blob}</script>'


def _css(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    length = 0
    while length < size:
        part = (
            f".{rng.choice(_WORDS)}-{rng.randint(0, 99)} .{rng.choice(_WORDS)}"
            f"{{margin:{rng.randint(0, 24)}px {rng.randint(0, 24)}px;"
            f"color:#{rng.randint(0, 0xFFFFFF):06x};font-size:{rng.randint(10, 32)}px}}"
        )
        parts.append(part)
        length += len(part)
    return "".join(parts)


@dataclass(frozen=True)
class PageArticle:
    """What a page shows: the article and where it lives."""

    title: str
    text: str  # paragraphs separated by blank lines
    language: str
    outlet: str
    author: str
    published: datetime


def render_news_page(
    article: PageArticle,
    url: str,
    home: str,
    related: Sequence[tuple[str, str]],
    seed: int,
) -> str:
    """A page of a news site around ``article``; ``related`` are (url, title) links.

    ``seed`` fixes the chrome; its amount follows a log-normal spread, so page sizes
    range from about 50 KB to 300 KB with a median near 114 KB.
    """
    rng = random.Random(seed)
    scale = min(3.0, max(0.4, math.exp(rng.gauss(0.0, 0.45))))
    home = home.rstrip("/") + "/"
    title = escape(article.title)
    outlet = escape(article.outlet)
    author = escape(article.author)
    published = article.published.isoformat()
    paragraphs = [p.strip() for p in article.text.split("\n\n") if p.strip()]
    lede = escape(paragraphs[0][:240] if paragraphs else "")

    def link(path: str, text: str, cls: str = "") -> str:
        klass = f' class="{cls}"' if cls else ""
        return f'<a{klass} href="{home}{path}" data-track="nav-{rng.randint(1, 999)}">{text}</a>'

    head: list[str] = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title} | {outlet}</title>",
        f'<link rel="canonical" href="{escape(url)}">',
        f'<meta name="description" content="{lede}">',
        f'<meta name="author" content="{author}">',
        '<meta name="robots" content="index, follow, max-image-preview:large">',
        '<meta property="og:type" content="article">',
        f'<meta property="og:site_name" content="{outlet}">',
        f'<meta property="og:url" content="{escape(url)}">',
        f'<meta property="og:title" content="{title}">',
        f'<meta property="og:description" content="{lede}">',
        f'<meta property="og:image" content="{home}img/{seed}/social.jpg">',
        '<meta name="twitter:card" content="summary_large_image">',
        f'<meta name="twitter:title" content="{title}">',
        f'<meta name="twitter:description" content="{lede}">',
        f'<meta property="article:published_time" content="{published}">',
        f'<meta property="article:modified_time" content="{published}">',
        f'<meta property="article:author" content="{author}">',
        f'<meta property="article:section" content="{rng.choice(_SECTIONS)}">',
    ]
    head += [
        f'<meta property="article:tag" content="{rng.choice(_WORDS)}">'
        for _ in range(rng.randint(3, 9))
    ]
    head += [
        f'<link rel="preconnect" href="https://cdn{n}.{outlet.lower().replace(" ", "")}.example">'
        for n in range(3)
    ]
    head += [
        f'<link rel="preload" as="font" href="{home}static/font-{n}.woff2" crossorigin>'
        for n in range(rng.randint(2, 5))
    ]
    head.append(f'<link rel="stylesheet" href="{home}static/site.{rng.randint(1000, 9999)}.css">')
    head.append(f"<style>{_css(rng, int(rng.choice((0, 1200, 4000, 12000)) * scale))}</style>")
    jsonld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title,
        "description": paragraphs[0][:240] if paragraphs else "",
        "datePublished": published,
        "dateModified": published,
        "author": [{"@type": "Person", "name": article.author}],
        "publisher": {
            "@type": "Organization",
            "name": article.outlet,
            "logo": {"@type": "ImageObject", "url": f"{home}static/logo.png"},
        },
        "image": [f"{home}img/{seed}/{n}.jpg" for n in range(3)],
        "mainEntityOfPage": url,
        "inLanguage": article.language,
    }
    head.append(
        '<script type="application/ld+json">'
        + json.dumps(jsonld, ensure_ascii=False).replace("</", "<\\/")
        + "</script>"
    )
    data_layer = {
        "page": {"type": "article", "section": rng.choice(_SECTIONS), "id": seed},
        "ads": {f"slot{n}": {"sizes": [[300, 250], [728, 90]], "pos": n} for n in range(8)},
    }
    head.append(f"<script>window.dataLayer=[{json.dumps(data_layer)}];</script>")
    script_bytes = int(24000 * scale)
    for n in range(rng.randint(3, 7)):
        head.append(f'<script async src="{home}static/bundle-{n}.{rng.randint(1, 9999)}.js">')
        head[-1] += "</script>"
    head.append(f"<script>{_js(rng, script_bytes // 2)}</script>")

    body: list[str] = [
        '<div id="page" class="page-wrapper"><div class="container"><div class="row">',
        *(_ad_slot(rng, f"top-{n}") for n in range(rng.randint(2, 5))),
        '<a class="skip-link" href="#main">Skip to content</a>',
        '<div id="cookie-consent" class="cmp-banner" role="dialog" aria-live="polite">'
        "<p>We and our partners use cookies to store and access information on your device, "
        "measure audiences and show personalised ads and content.</p>"
        '<button type="button" class="cmp-accept">Accept all</button>'
        '<button type="button" class="cmp-settings">Manage preferences</button></div>',
        '<div class="ad-slot ad-leaderboard" data-slot="top" data-sizes="728x90,970x250">'
        '<div class="ad-label">Advertisement</div></div>',
        '<header class="site-header"><div class="container">'
        + link("", f'<img src="{home}static/logo.svg" alt="{outlet}">', "logo"),
    ]
    menu = []
    for section in _SECTIONS:
        subs = "".join(
            f'<li class="menu-item">{link(f"{section.lower()}/{s.lower()}/", s)}</li>'
            for s in rng.sample(_SUBSECTIONS, rng.randint(2, int(3 + 3 * min(scale, 1.0))))
        )
        menu.append(
            f'<li class="menu-item has-children">{link(section.lower() + "/", section)}'
            f'<ul class="sub-menu">{subs}</ul></li>'
        )
    body.append(f'<nav class="main-nav" aria-label="Main"><ul class="menu">{"".join(menu)}</ul>')
    body.append("</nav>")
    body.append(
        f'<form class="search" action="{home}search" role="search">'
        '<input type="search" name="q" placeholder="Search"><button>Go</button></form>'
        '<div class="account"><a href="#">Sign in</a> <a href="#" class="btn">Subscribe</a></div>'
        "</div></header>"
    )
    trending = "".join(
        f"<li>{link(f'topic/{rng.choice(_WORDS)}', escape(_title(rng)[:40]))}</li>"
        for _ in range(rng.randint(4, 8))
    )
    body.append(
        f'<div class="trending"><span>Trending:</span><ul>{trending}</ul></div><main id="main">'
    )
    body.append(
        '<div class="breadcrumbs">'
        + link("", "Home")
        + " › "
        + link("world/", "World")
        + f" › <span>{escape(rng.choice(_SUBSECTIONS))}</span></div>"
    )
    share = "".join(
        f'<li><a class="share-{net}" href="#" rel="nofollow">{_svg(rng)}{net.title()}</a></li>'
        for net in ("facebook", "twitter", "whatsapp", "email", "linkedin")
    )
    article_parts = [
        '<article class="story" itemscope itemtype="https://schema.org/NewsArticle">',
        f'<header class="story-header"><h1 class="headline" itemprop="headline">{title}</h1>',
        f'<p class="byline">By <a rel="author" href="{home}authors/{seed}">{author}</a> · '
        f'<time datetime="{published}">{article.published:%d %B %Y, %H:%M} UTC</time></p>',
        f'<ul class="share-tools">{share}</ul></header>',
        f'<figure class="lead-image"><img src="{home}img/{seed}/0.jpg" '
        f'srcset="{home}img/{seed}/0-640.jpg 640w, {home}img/{seed}/0-1280.jpg 1280w" '
        f'alt="{escape(_title(rng))}" width="1280" height="720" loading="eager">'
        f"<figcaption>{escape(_sentence(rng, 12))} Photo: Agency</figcaption></figure>",
        '<div class="story-body" itemprop="articleBody">',
    ]
    for number, paragraph in enumerate(paragraphs):
        article_parts.append(f"<p>{escape(paragraph)}</p>")
        if number == 1:
            article_parts.append(
                '<div class="ad-slot ad-inline" data-slot="inline-1"><div class="ad-label">'
                "Advertisement</div></div>"
            )
        if number == 2 and related:
            other_url, other_title = related[0]
            article_parts.append(
                f'<aside class="read-more"><span>Read more:</span> '
                f'<a href="{escape(other_url)}">{escape(other_title)}</a></aside>'
            )
    tags = "".join(f"<li>{link(f'tag/{w}', w)}</li>" for w in rng.sample(_WORDS, rng.randint(3, 7)))
    article_parts += [
        "</div>",
        f'<footer class="story-footer"><ul class="tags">{tags}</ul>',
        '<p class="corrections">Spotted a mistake? '
        + link("corrections", "Report it")
        + "</p></footer>",
        "</article>",
    ]
    body += article_parts

    cards = []
    pool = list(related) or [(url, article.title)]
    for n in range(int(rng.randint(8, 14) * scale)):
        other_url, other_title = (
            pool[n % len(pool)]
            if n < len(pool)
            else (
                f"{home}news/{seed}-{n}.html",
                _title(rng),
            )
        )
        cards.append(
            f'<li class="card"><div class="card-inner"><a class="card-link" '
            f'href="{escape(other_url)}"><div class="card-media"><img src="{home}img/{seed}/'
            f'r{n}.jpg" alt="" loading="lazy" width="320" height="180"></div>'
            f'<h3 class="card-title">{escape(other_title)}</h3></a>'
            f'<p class="card-teaser">{escape(_sentence(rng, rng.randint(14, 24)))}</p>'
            f'<div class="card-meta">{_svg(rng, 6)}<span class="section">'
            f"{rng.choice(_SECTIONS)}</span> "
            f"<time>{rng.randint(1, 23)} hours ago</time></div></div></li>"
        )
    body.append(f'<section class="related"><h2>More on this story</h2><ul>{"".join(cards)}</ul>')
    body.append("</section>")
    most_read = "".join(
        f'<li><span class="rank">{n + 1}</span>{link(f"news/mr-{seed}-{n}.html", _title(rng))}</li>'
        for n in range(10)
    )
    body.append(f'<aside class="most-read"><h2>Most read</h2><ol>{most_read}</ol></aside>')
    comments = []
    for n in range(int(rng.choice((0, 3, 6, 10, 15)) * scale)):
        text = " ".join(_sentence(rng, rng.randint(8, 20)) for _ in range(rng.randint(1, 4)))
        comments.append(
            f'<li class="comment" id="c{n}"><div class="comment-header"><span class="comment-'
            f'author">reader{rng.randint(1, 9999)}</span> <time>{rng.randint(1, 59)} minutes '
            f'ago</time></div><div class="comment-body"><p>{escape(text)}</p></div>'
            f'<div class="comment-actions"><button>Reply</button><button>Like '
            f"({rng.randint(0, 99)})</button></div></li>"
        )
    body.append(
        f'<section id="comments" class="comments"><h2>Comments ({len(comments)})</h2>'
        f'<ol class="comment-list">{"".join(comments)}</ol></section>'
    )
    body.extend(
        (
            '<div class="newsletter"><h3>The morning briefing</h3><p>The stories that matter, '
            'in your inbox every weekday.</p><form><input type="email" placeholder="Email address">'
            "<button>Sign up</button></form></div>"
            '<div class="ad-slot ad-mpu" data-slot="sidebar"><div class="ad-label">Advertisement'
            "</div></div></main>",
            *(_ad_slot(rng, f"bottom-{n}") for n in range(rng.randint(2, 5))),
            "</div></div></div>",
        )
    )
    columns = []
    for section in _SECTIONS[:3]:
        items = "".join(
            f"<li>{link(f'{section.lower()}/{s.lower()}/', s)}</li>"
            for s in rng.sample(_SUBSECTIONS, int(rng.randint(4, 8) * min(scale, 1.0)) or 1)
        )
        columns.append(f'<div class="footer-col"><h4>{section}</h4><ul>{items}</ul></div>')
    body.append(
        f'<footer class="site-footer"><div class="footer-cols">{"".join(columns)}</div>'
        '<ul class="legal">'
        + "".join(
            f"<li>{link(p.lower().replace(' ', '-'), p)}</li>"
            for p in ("About us", "Contact", "Privacy policy", "Terms of use", "Cookies", "Jobs")
        )
        + f"</ul><p>© 2025 {outlet}. All rights reserved.</p></footer>"
    )
    body.append(f"<script>{_js(rng, script_bytes - script_bytes // 2)}</script>")
    body.append(_state_blob(rng, article, int(40000 * scale)))
    body.append(
        '<noscript><img height="1" width="1" style="display:none" '
        f'src="{home}pixel.gif?id={seed}"></noscript>'
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(article.language)}">\n<head>\n'
        + "\n".join(head)
        + '\n</head>\n<body class="article-page">\n'
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# --- content: whole sites ----------------------------------------------------------


@dataclass
class FeedFile:
    path: str  # under the document root
    host: int  # index into Web.hosts
    items: list[tuple[str, str, str, str, datetime]]  # title, link, guid, summary, published


def render_rss(title: str, home: str, self_url: str, feed: FeedFile) -> bytes:
    """RSS 2.0 as common publishing software writes it (summary as HTML in CDATA)."""
    items = []
    for item_title, link, guid, summary, published in sorted(
        feed.items, key=lambda item: item[4], reverse=True
    ):
        items.append(
            f"""    <item>
      <title>{escape(item_title, quote=False)}</title>
      <link>{escape(link, quote=False)}</link>
      <guid isPermaLink="false">{escape(guid, quote=False)}</guid>
      <pubDate>{email.utils.format_datetime(published, usegmt=True)}</pubDate>
      <dc:creator>Staff reporter</dc:creator>
      <category>World</category>
      <description><![CDATA[<p>{escape(summary, quote=False)}</p>]]></description>
    </item>"""
        )
    newest = max((item[4] for item in feed.items), default=datetime(2025, 1, 1, tzinfo=UTC))
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" \
xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>{escape(title, quote=False)}</title>
    <link>{escape(home, quote=False)}</link>
    <atom:link href="{escape(self_url)}" rel="self" type="application/rss+xml"/>
    <description>Latest stories</description>
    <language>en</language>
    <lastBuildDate>{email.utils.format_datetime(newest, usegmt=True)}</lastBuildDate>
    <generator>bench localweb</generator>
{chr(10).join(items)}
  </channel>
</rss>
"""
    return text.encode("utf-8")


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


@dataclass
class NewsSite:
    """Articles published as pages behind RSS feeds, spread over outlets (hosts)."""

    root: Path
    hosts: list[str]
    pages: list[tuple[str, int]] = field(default_factory=list)  # (path, host) per article
    feeds: list[FeedFile] = field(default_factory=list)
    labels: list[tuple[str, ...]] = field(default_factory=list)  # topics of each article

    def file(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def page_url(self, web: Web, index: int) -> str:
        path, host = self.pages[index]
        return web.url(path, host)

    def feed_url(self, web: Web, feed: FeedFile) -> str:
        return web.url(feed.path, feed.host)


def article_sources(count: int, seed: int = 7) -> list[PageArticle]:
    """The topic dev set first (so some articles match the shipped topics), then
    synthetic articles, ``count`` in all; each with the topics it is labelled with."""
    from testkit.articles import load_devset_articles, synthetic_articles

    devset = load_devset_articles()
    chosen = devset + synthetic_articles(max(0, count - len(devset)), seed=seed)
    return [
        PageArticle(a.title, a.text, a.language, a.outlet, a.author or "Staff", a.published)
        for a in chosen[:count]
    ]


def build_news_site(
    root: Path,
    web_hosts: Sequence[str],
    port: int,
    articles: Sequence[PageArticle],
    *,
    items_per_feed: tuple[int, int] = (20, 50),
    seed: int = 7,
) -> NewsSite:
    """Pages for ``articles`` and RSS feeds of 20–50 items linking to them.

    Article ``i`` belongs to outlet ``i % hosts``; each outlet's articles are cut into
    feeds of a random size in ``items_per_feed``. URLs embed the host and ``port``,
    so the site must be served on that port (see `testkit.static_web.reserve_port`).
    """
    rng = random.Random(seed)
    site = NewsSite(root=Path(root), hosts=list(web_hosts))
    outlets = len(web_hosts)
    base = [f"http://{host}:{port}" for host in web_hosts]
    by_outlet: dict[int, list[int]] = {}
    for index, article in enumerate(articles):
        outlet = index % outlets
        path = f"/o{outlet}/news/{article.published:%Y/%m/%d}/a{index:06d}.html"
        site.pages.append((path, outlet))
        by_outlet.setdefault(outlet, []).append(index)
    for index, article in enumerate(articles):
        path, outlet = site.pages[index]
        siblings = by_outlet[outlet]
        position = siblings.index(index)
        related = [
            (base[outlet] + site.pages[other][0], articles[other].title)
            for other in (siblings[(position + step) % len(siblings)] for step in range(1, 13))
            if other != index
        ]
        html = render_news_page(
            article, base[outlet] + path, f"{base[outlet]}/o{outlet}/", related, seed * 7919 + index
        )
        write_file(site.file(path), html)
    for outlet, indexes in sorted(by_outlet.items()):
        start = 0
        while start < len(indexes):
            size = rng.randint(*items_per_feed)
            chunk = indexes[start : start + size]
            start += size
            feed = FeedFile(f"/o{outlet}/feeds/f{len(site.feeds):05d}.xml", outlet, [])
            for index in chunk:
                a = articles[index]
                paragraphs = [p for p in a.text.split("\n\n") if p.strip()]
                summary = paragraphs[0][:400] if paragraphs else a.title
                link = base[outlet] + site.pages[index][0] + "?utm_source=rss&utm_medium=feed"
                feed.items.append(
                    (a.title, link, f"urn:bench:{seed}:{index}", summary, a.published)
                )
            site.feeds.append(feed)
            publish_feed(site, feed, base[outlet])
    return site


def publish_feed(site: NewsSite, feed: FeedFile, base: str, *, bump: bool = False) -> None:
    body = render_rss(
        f"Outlet {feed.host} — section {feed.path.rsplit('/', 1)[-1]}",
        f"{base}/o{feed.host}/",
        base + feed.path,
        feed,
    )
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
    ``urn:<tag>:<feed>:<item>``."""
    rng = random.Random(seed)
    base = datetime(2025, 3, 1, tzinfo=UTC)
    feeds = []
    for index in range(count):
        host = index % len(hosts)
        prefix = "/nv" if index % 10 == 9 else ""
        feed = FeedFile(f"{prefix}/p{host}/feeds/{index:05d}.xml", host, [])
        for item in range(rng.randint(20, 50)):
            page_path, page_host = pages[(index + item) % len(pages)]
            feed.items.append(
                (
                    _title(rng),
                    f"http://{hosts[page_host]}:{port}{page_path}",
                    f"urn:{tag}:{index}:{item}",
                    " ".join(_sentence(rng, rng.randint(10, 20)) for _ in range(2)),
                    base - timedelta(hours=item, minutes=index % 60),
                )
            )
        publish_feed(site, feed, f"http://{hosts[host]}:{port}")
        feeds.append(feed)
    return feeds


def iter_pages(site: NewsSite) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of every article page, in article order."""
    for path, _host in site.pages:
        yield path, (site.root / path.lstrip("/")).read_bytes()


# --- command line ------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="generate a site and compare the server backends")
    demo.add_argument("--articles", type=int, default=300)
    demo.add_argument("--hosts", type=int, default=8)
    demo.add_argument("--server", default="auto", choices=("auto", "nginx", "python"))
    _demo(parser.parse_args())


if __name__ == "__main__":
    main()
