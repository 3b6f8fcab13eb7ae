"""Article pages shaped like a real outlet's: boilerplate around one <article>.

The chrome (navigation, header, related links, footer, cookie banner) is there so
that text extraction has something to throw away; the article body is the only
run of long paragraphs on the page.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from testkit.articles import SiteArticle

_SECTIONS = ("World", "Politics", "Business", "Asia", "Europe", "Opinion", "Sport", "Culture")

_PAGE = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} | {outlet}</title>
<link rel="canonical" href="{url}">
<meta name="description" content="{lede}">
<meta name="author" content="{author}">
<meta property="og:type" content="article">
<meta property="og:site_name" content="{outlet}">
<meta property="og:url" content="{url}">
<meta property="og:title" content="{title}">
<meta property="og:description" content="{lede}">
<meta property="article:published_time" content="{published}">
<meta property="article:author" content="{author}">
<link rel="stylesheet" href="{home}static/site.css">
{alternates}
<script type="application/ld+json">{jsonld}</script>
</head>
<body class="article-page">
<div id="cookie-consent" class="cookie-banner" role="dialog">
  <p>We use cookies and similar technologies to improve your experience, measure audiences
  and show you personalised content. You can change your choice at any time.</p>
  <button type="button">Accept all</button> <button type="button">Manage settings</button>
</div>
<header class="site-header">
  <a class="logo" href="{home}">{outlet}</a>
  <nav class="main-nav" aria-label="Sections"><ul>{nav}</ul></nav>
  <form class="search" action="{home}search"><input name="q" placeholder="Search"></form>
</header>
<main>
<div class="breadcrumbs"><a href="{home}">Home</a> › <a href="{home}world/">World</a></div>
<article class="story">
  <header>
    <h1 class="headline">{title}</h1>
    <p class="byline">By <a rel="author" href="{home}authors/{author_slug}">{author}</a>
      · <time datetime="{published}">{published_human}</time></p>
  </header>
  <div class="story-body">
{paragraphs}
  </div>
  <footer class="story-tags">Filed under: <a href="{home}world/">World</a></footer>
</article>
<aside class="related">
  <h2>Related</h2>
  <ul>{related}</ul>
</aside>
<div class="newsletter"><p>Get the morning briefing in your inbox.</p>
  <form><input type="email" placeholder="Email address"><button>Sign up</button></form></div>
</main>
<footer class="site-footer">
  <ul><li><a href="{home}about">About us</a></li><li><a href="{home}contact">Contact</a></li>
  <li><a href="{home}privacy">Privacy policy</a></li><li><a href="{home}terms">Terms of use</a></li>
  <li><a href="{home}cookies">Cookie settings</a></li></ul>
  <p>© 2025 {outlet}. All rights reserved. Reproduction without permission is prohibited.</p>
</footer>
</body>
</html>
"""


Alternate = tuple[str, str, str]  # feed url, title, content type


def render_page(
    article: SiteArticle,
    url: str,
    related: list[tuple[str, str]],
    home: str,
    feeds: Sequence[Alternate] = (),
) -> str:
    """The page of ``article`` at ``url``; ``related`` is (url, title) of other stories."""
    home = home.rstrip("/") + "/"
    author = article.author or f"{article.outlet} staff"
    published = article.published.isoformat()
    paragraphs = article.paragraphs
    jsonld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title,
        "datePublished": published,
        "author": [{"@type": "Person", "name": author}],
        "publisher": {"@type": "Organization", "name": article.outlet},
        "mainEntityOfPage": url,
        "inLanguage": article.language,
    }
    return _PAGE.format(
        lang=escape(article.language),
        title=escape(article.title),
        outlet=escape(article.outlet),
        url=escape(url),
        home=escape(home),
        lede=escape(paragraphs[0][:200] if paragraphs else ""),
        author=escape(author),
        author_slug=escape(slug(author, "staff")),
        published=escape(published),
        published_human=escape(article.published.strftime("%d %B %Y, %H:%M UTC")),
        # "</" inside a script element would end it early.
        jsonld=json.dumps(jsonld, ensure_ascii=False).replace("</", "<\\/"),
        nav="".join(f'<li><a href="{escape(home)}{s.lower()}/">{s}</a></li>' for s in _SECTIONS),
        paragraphs="\n".join(f"    <p>{escape(p)}</p>" for p in paragraphs),
        related="".join(
            f'<li><a href="{escape(link)}">{escape(title)}</a></li>' for link, title in related
        ),
        alternates=_alternates(feeds),
    )


def _alternates(feeds: Sequence[Alternate]) -> str:
    return "\n".join(
        f'<link rel="alternate" type="{escape(kind.split(";")[0])}" title="{escape(title)}" '
        f'href="{escape(url)}">'
        for url, title, kind in feeds
    )


_HOME = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{name}</title>
{alternates}
</head>
<body>
<header><a class="logo" href="{home}">{name}</a></header>
<main><h1>Latest news</h1><ul>{items}</ul></main>
<footer><p>Follow us: <a href="{first_feed}">RSS</a></p>
<p>© 2025 {name}. All rights reserved.</p></footer>
</body>
</html>
"""


def render_home(
    name: str, home: str, latest: list[tuple[str, str]], feeds: Sequence[Alternate]
) -> str:
    """A front page: the latest stories, with the feeds declared in its head."""
    return _HOME.format(
        name=escape(name),
        home=escape(home),
        alternates=_alternates(feeds),
        items="".join(f'<li><a href="{escape(u)}">{escape(t)}</a></li>' for u, t in latest),
        first_feed=escape(feeds[0][0] if feeds else home),
    )


def slug(title: str, fallback: str) -> str:
    """An ASCII URL slug for ``title`` ending in ``fallback`` (the article id)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_title.lower())[:8]
    return "-".join([*words, fallback]) if words else fallback
