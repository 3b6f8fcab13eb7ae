"""Article pages shaped like a real outlet's: boilerplate around one <article>.

The chrome (navigation, header, related links, footer, cookie banner) is there so
that text extraction has something to throw away; the article body is the only
run of long paragraphs on the page.

`render_page` is the one page renderer. Alone it draws the plain page the tests use;
given a `Furniture` it places heavier furniture in named places of the same page, or
puts it in place of the plain piece (`testkit.heavy_pages` builds the furniture of a
real news site's page, for the benchmarks).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from testkit.articles import SiteArticle

_SECTIONS = ("World", "Politics", "Business", "Asia", "Europe", "Opinion", "Sport", "Culture")

Alternate = tuple[str, str, str]  # feed url, title, content type


@dataclass(frozen=True)
class Furniture:
    """HTML around the article, by where it goes on the page. A field left empty adds
    nothing; one of the optional fields, when given, replaces that plain piece."""

    head: str = ""  # end of <head>: meta, preloads, styles, scripts
    # schema.org microdata on the article; extractors take its articleBody as the text
    microdata: bool = False
    jsonld: Mapping[str, object] = field(default_factory=dict)  # over the NewsArticle's
    body_start: str = ""  # first in <body>, before the cookie banner
    cookie_banner: str | None = None
    masthead: str | None = None  # the site header: logo, navigation, search
    before_main: str = ""
    breadcrumbs: str | None = None
    article_header: str = ""  # after the byline
    lead: str = ""  # between the article's header and its body
    after_paragraph: Mapping[int, str] = field(default_factory=dict)  # by paragraph index
    story_footer: str | None = None
    related: str | None = None  # the related stories; `related_list` draws the plain one
    after_related: str = ""
    newsletter: str | None = None
    after_main: str = ""
    site_footer: str | None = None
    body_end: str = ""  # last in <body>


PLAIN = Furniture()


def render_page(
    article: SiteArticle,
    url: str,
    related: list[tuple[str, str]],
    home: str,
    feeds: Sequence[Alternate] = (),
    furniture: Furniture = PLAIN,
) -> str:
    """The page of ``article`` at ``url``; ``related`` is (url, title) of other stories."""
    home = home.rstrip("/") + "/"
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{escape(article.language)}">',
        "<head>",
        _head(article, url, home, feeds, furniture),
        "</head>",
        '<body class="article-page">',
        furniture.body_start,
        _choose(furniture.cookie_banner, _COOKIE_BANNER),
        _choose(furniture.masthead, _masthead(article, home)),
        furniture.before_main,
        "<main>",
        _choose(furniture.breadcrumbs, _BREADCRUMBS.format(home=escape(home))),
        _article(article, home, furniture),
        _choose(furniture.related, related_list(related)),
        furniture.after_related,
        _choose(furniture.newsletter, _NEWSLETTER),
        "</main>",
        furniture.after_main,
        _choose(furniture.site_footer, _site_footer(article, home)),
        furniture.body_end,
        "</body>",
        "</html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _choose(given: str | None, plain: str) -> str:
    return plain if given is None else given


def _byline_author(article: SiteArticle) -> str:
    return article.author or f"{article.outlet} staff"


def _head(
    article: SiteArticle, url: str, home: str, feeds: Sequence[Alternate], furniture: Furniture
) -> str:
    title, outlet, link = escape(article.title), escape(article.outlet), escape(url)
    author = escape(_byline_author(article))
    published = escape(article.published.isoformat())
    paragraphs = article.paragraphs
    lede = escape(paragraphs[0][:200] if paragraphs else "")
    jsonld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title,
        "datePublished": article.published.isoformat(),
        "author": [{"@type": "Person", "name": _byline_author(article)}],
        "publisher": {"@type": "Organization", "name": article.outlet},
        "mainEntityOfPage": url,
        "inLanguage": article.language,
        **furniture.jsonld,
    }
    lines = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title} | {outlet}</title>",
        f'<link rel="canonical" href="{link}">',
        f'<meta name="description" content="{lede}">',
        f'<meta name="author" content="{author}">',
        '<meta property="og:type" content="article">',
        f'<meta property="og:site_name" content="{outlet}">',
        f'<meta property="og:url" content="{link}">',
        f'<meta property="og:title" content="{title}">',
        f'<meta property="og:description" content="{lede}">',
        f'<meta property="article:published_time" content="{published}">',
        f'<meta property="article:author" content="{author}">',
        f'<link rel="stylesheet" href="{escape(home)}static/site.css">',
        _alternates(feeds),
        f'<script type="application/ld+json">{script_json(jsonld)}</script>',
    ]
    if furniture.head:
        lines.append(furniture.head)
    return "\n".join(lines)


def script_json(value: object) -> str:
    """JSON to inline in a <script> element."""
    # "</" inside a script element would end it early.
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


_COOKIE_BANNER = """<div id="cookie-consent" class="cookie-banner" role="dialog">
  <p>We use cookies and similar technologies to improve your experience, measure audiences
  and show you personalised content. You can change your choice at any time.</p>
  <button type="button">Accept all</button> <button type="button">Manage settings</button>
</div>"""


def _masthead(article: SiteArticle, home: str) -> str:
    link = escape(home)
    nav = "".join(f'<li><a href="{link}{s.lower()}/">{s}</a></li>' for s in _SECTIONS)
    return f"""<header class="site-header">
  <a class="logo" href="{link}">{escape(article.outlet)}</a>
  <nav class="main-nav" aria-label="Sections"><ul>{nav}</ul></nav>
  <form class="search" action="{link}search"><input name="q" placeholder="Search"></form>
</header>"""


_BREADCRUMBS = (
    '<div class="breadcrumbs"><a href="{home}">Home</a> › <a href="{home}world/">World</a></div>'
)


_MICRODATA = (  # on the article, its headline and its body
    ' itemscope itemtype="https://schema.org/NewsArticle"',
    ' itemprop="headline"',
    ' itemprop="articleBody"',
)


def _article(article: SiteArticle, home: str, furniture: Furniture) -> str:
    link = escape(home)
    author = _byline_author(article)
    published = escape(article.published.isoformat())
    when = escape(article.published.strftime("%d %B %Y, %H:%M UTC"))
    body = []
    for number, paragraph in enumerate(article.paragraphs):
        body.append(f"    <p>{escape(paragraph)}</p>")
        if number in furniture.after_paragraph:
            body.append(furniture.after_paragraph[number])
    scope, prop, body_prop = _MICRODATA if furniture.microdata else ("", "", "")
    lines = [
        f'<article class="story"{scope}>',
        "  <header>",
        f'    <h1 class="headline"{prop}>{escape(article.title)}</h1>',
        f'    <p class="byline">By <a rel="author" href="{link}authors/'
        f'{escape(slug(author, "staff"))}">{escape(author)}</a>',
        f'      · <time datetime="{published}">{when}</time></p>',
        *([furniture.article_header] if furniture.article_header else []),
        "  </header>",
        *([furniture.lead] if furniture.lead else []),
        f'  <div class="story-body"{body_prop}>',
        *(body or [""]),
        "  </div>",
        _choose(
            furniture.story_footer,
            f'  <footer class="story-tags">Filed under: <a href="{link}world/">World</a></footer>',
        ),
        "</article>",
    ]
    return "\n".join(lines)


def related_list(related: Sequence[tuple[str, str]]) -> str:
    """The plain page's related stories: a list of links."""
    items = "".join(
        f'<li><a href="{escape(link)}">{escape(title)}</a></li>' for link, title in related
    )
    return f'<aside class="related">\n  <h2>Related</h2>\n  <ul>{items}</ul>\n</aside>'


_NEWSLETTER = """<div class="newsletter"><p>Get the morning briefing in your inbox.</p>
  <form><input type="email" placeholder="Email address"><button>Sign up</button></form></div>"""


def _site_footer(article: SiteArticle, home: str) -> str:
    link, outlet = escape(home), escape(article.outlet)
    return f"""<footer class="site-footer">
  <ul><li><a href="{link}about">About us</a></li><li><a href="{link}contact">Contact</a></li>
  <li><a href="{link}privacy">Privacy policy</a></li><li><a href="{link}terms">Terms of use</a></li>
  <li><a href="{link}cookies">Cookie settings</a></li></ul>
  <p>© 2025 {outlet}. All rights reserved. Reproduction without permission is prohibited.</p>
</footer>"""


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
