"""The furniture of a real news site's article page, laid on the one page renderer.

`render_news_page` is `testkit.pages.render_page` given the `Furniture` drawn here: pages
shaped like those of the scrapinghub article-extraction-benchmark (median 114 KB, ~785
elements, ~135 links, ~24 KB of inline script): a head full of meta, preload and script
tags, inline CSS and a data layer, ad slots, a mega-menu, a trending bar, share buttons,
a figure, inline ads, related-story cards, most read, reader comments, footer link
columns and a front-end framework's state blob. The amount follows a log-normal spread
by seed, so sizes range from about 50 KB to 300 KB around that median. The benchmarks'
figures depend on that weight: change it only on purpose.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from html import escape

from testkit.articles import SiteArticle
from testkit.page_filler import (
    SECTIONS,
    SUBSECTIONS,
    WORDS,
    ad_slot,
    css,
    headline,
    js,
    sentence,
    state_blob,
    svg,
)
from testkit.pages import Furniture, render_page


def render_news_page(
    article: SiteArticle,
    url: str,
    home: str,
    related: Sequence[tuple[str, str]],
    seed: int,
) -> str:
    """A heavy news-site page around ``article``; ``related`` are (url, title) links.

    ``seed`` fixes the furniture: the same seed, the same page.
    """
    furniture = _NewsFurniture(article, url, home, related, seed).furniture()
    return render_page(article, url, list(related), home, furniture=furniture)


class _NewsFurniture:
    """Draws the furniture piece by piece from one generator; the order of the pieces
    is the order of the draws, so keep it when adding one."""

    def __init__(
        self,
        article: SiteArticle,
        url: str,
        home: str,
        related: Sequence[tuple[str, str]],
        seed: int,
    ) -> None:
        self.rng = random.Random(seed)
        self.scale = min(3.0, max(0.4, math.exp(self.rng.gauss(0.0, 0.45))))
        self.article, self.url, self.related, self.seed = article, url, related, seed
        self.home = home.rstrip("/") + "/"
        self.outlet = escape(article.outlet)
        self.script_bytes = int(24000 * self.scale)

    def furniture(self) -> Furniture:
        head = self.head()
        body_start = self.body_start()
        masthead = self.masthead()
        before_main = self.trending()
        breadcrumbs = self.breadcrumbs()
        article_header = self.share_tools()
        lead = self.lead_image()
        story_footer = self.story_footer()
        related = self.cards()
        after_related = self.most_read() + "\n" + self.comments()
        after_main = self.bottom_ads()
        site_footer = self.site_footer()
        return Furniture(
            head=head,
            microdata=True,
            jsonld=self.jsonld(),
            body_start=body_start,
            cookie_banner=_COOKIE_BANNER,
            masthead=masthead,
            before_main=before_main,
            breadcrumbs=breadcrumbs,
            article_header=article_header,
            lead=lead,
            after_paragraph=self.in_story(),
            story_footer=story_footer,
            related=related,
            after_related=after_related,
            newsletter=_NEWSLETTER,
            after_main=after_main,
            site_footer=site_footer,
            body_end=self.body_end(),
        )

    def link(self, path: str, text: str, cls: str = "") -> str:
        klass = f' class="{cls}"' if cls else ""
        track = self.rng.randint(1, 999)
        return f'<a{klass} href="{self.home}{path}" data-track="nav-{track}">{text}</a>'

    # --- <head> ---------------------------------------------------------------------

    def head(self) -> str:
        rng, home, article = self.rng, self.home, self.article
        title, published = escape(article.title), article.published.isoformat()
        paragraphs = article.paragraphs
        lede = escape(paragraphs[0][:240] if paragraphs else "")
        lines = [
            '<meta name="robots" content="index, follow, max-image-preview:large">',
            f'<meta property="og:image" content="{home}img/{self.seed}/social.jpg">',
            '<meta name="twitter:card" content="summary_large_image">',
            f'<meta name="twitter:title" content="{title}">',
            f'<meta name="twitter:description" content="{lede}">',
            f'<meta property="article:modified_time" content="{published}">',
            f'<meta property="article:section" content="{rng.choice(SECTIONS)}">',
        ]
        lines += [
            f'<meta property="article:tag" content="{rng.choice(WORDS)}">'
            for _ in range(rng.randint(3, 9))
        ]
        cdn = self.outlet.lower().replace(" ", "")
        lines += [f'<link rel="preconnect" href="https://cdn{n}.{cdn}.example">' for n in range(3)]
        lines += [
            f'<link rel="preload" as="font" href="{home}static/font-{n}.woff2" crossorigin>'
            for n in range(rng.randint(2, 5))
        ]
        lines.append(
            f'<link rel="stylesheet" href="{home}static/site.{rng.randint(1000, 9999)}.css">'
        )
        lines.append(
            f"<style>{css(rng, int(rng.choice((0, 1200, 4000, 12000)) * self.scale))}</style>"
        )
        return "\n".join([*lines, *self.head_scripts()])

    def head_scripts(self) -> list[str]:
        rng, home = self.rng, self.home
        data_layer = {
            "page": {"type": "article", "section": rng.choice(SECTIONS), "id": self.seed},
            "ads": {f"slot{n}": {"sizes": [[300, 250], [728, 90]], "pos": n} for n in range(8)},
        }
        lines = [f"<script>window.dataLayer=[{json.dumps(data_layer)}];</script>"]
        lines += [
            f'<script async src="{home}static/bundle-{n}.{rng.randint(1, 9999)}.js"></script>'
            for n in range(rng.randint(3, 7))
        ]
        lines.append(f"<script>{js(rng, self.script_bytes // 2)}</script>")
        return lines

    def jsonld(self) -> dict[str, object]:
        """What a news CMS adds to the plain page's NewsArticle."""
        article, home = self.article, self.home
        paragraphs = article.paragraphs
        return {
            "description": paragraphs[0][:240] if paragraphs else "",
            "dateModified": article.published.isoformat(),
            "publisher": {
                "@type": "Organization",
                "name": article.outlet,
                "logo": {"@type": "ImageObject", "url": f"{home}static/logo.png"},
            },
            "image": [f"{home}img/{self.seed}/{n}.jpg" for n in range(3)],
        }

    # --- above the article ----------------------------------------------------------

    def body_start(self) -> str:
        return "\n".join(
            [
                '<div id="page" class="page-wrapper"><div class="container"><div class="row">',
                *(ad_slot(self.rng, f"top-{n}") for n in range(self.rng.randint(2, 5))),
                '<a class="skip-link" href="#main">Skip to content</a>',
            ]
        )

    def masthead(self) -> str:
        rng, home, scale = self.rng, self.home, self.scale
        logo = self.link("", f'<img src="{home}static/logo.svg" alt="{self.outlet}">', "logo")
        menu = []
        for section in SECTIONS:
            count = rng.randint(2, int(3 + 3 * min(scale, 1.0)))
            subs = "".join(
                f'<li class="menu-item">{self.link(f"{section.lower()}/{s.lower()}/", s)}</li>'
                for s in rng.sample(SUBSECTIONS, count)
            )
            menu.append(
                f'<li class="menu-item has-children">{self.link(section.lower() + "/", section)}'
                f'<ul class="sub-menu">{subs}</ul></li>'
            )
        return "\n".join(
            [
                '<div class="ad-slot ad-leaderboard" data-slot="top" '
                'data-sizes="728x90,970x250"><div class="ad-label">Advertisement</div></div>',
                f'<header class="site-header"><div class="container">{logo}',
                f'<nav class="main-nav" aria-label="Main"><ul class="menu">{"".join(menu)}</ul>',
                "</nav>",
                f'<form class="search" action="{home}search" role="search">'
                '<input type="search" name="q" placeholder="Search"><button>Go</button></form>'
                '<div class="account"><a href="#">Sign in</a> <a href="#" class="btn">'
                "Subscribe</a></div></div></header>",
            ]
        )

    def trending(self) -> str:
        rng = self.rng
        items = "".join(
            f"<li>{self.link(f'topic/{rng.choice(WORDS)}', escape(headline(rng)[:40]))}</li>"
            for _ in range(rng.randint(4, 8))
        )
        return f'<div class="trending"><span>Trending:</span><ul>{items}</ul></div>'

    def breadcrumbs(self) -> str:
        home, world = self.link("", "Home"), self.link("world/", "World")
        where = escape(self.rng.choice(SUBSECTIONS))
        return f'<div class="breadcrumbs">{home} › {world} › <span>{where}</span></div>'

    # --- the article's own furniture ------------------------------------------------

    def share_tools(self) -> str:
        share = "".join(
            f'<li><a class="share-{net}" href="#" rel="nofollow">{svg(self.rng)}'
            f"{net.title()}</a></li>"
            for net in ("facebook", "twitter", "whatsapp", "email", "linkedin")
        )
        return f'<ul class="share-tools">{share}</ul>'

    def lead_image(self) -> str:
        image = f"{self.home}img/{self.seed}/0"
        alt = escape(headline(self.rng))
        caption = escape(sentence(self.rng, 12))
        return (
            f'<figure class="lead-image"><img src="{image}.jpg" '
            f'srcset="{image}-640.jpg 640w, {image}-1280.jpg 1280w" '
            f'alt="{alt}" width="1280" height="720" loading="eager">'
            f"<figcaption>{caption} Photo: Agency</figcaption></figure>"
        )

    def in_story(self) -> dict[int, str]:
        """An ad after the second paragraph and a "read more" link after the third."""
        inside = {
            1: '<div class="ad-slot ad-inline" data-slot="inline-1"><div class="ad-label">'
            "Advertisement</div></div>"
        }
        if self.related:
            other_url, other_title = self.related[0]
            inside[2] = (
                f'<aside class="read-more"><span>Read more:</span> '
                f'<a href="{escape(other_url)}">{escape(other_title)}</a></aside>'
            )
        return inside

    def story_footer(self) -> str:
        rng = self.rng
        tags = "".join(
            f"<li>{self.link(f'tag/{w}', w)}</li>" for w in rng.sample(WORDS, rng.randint(3, 7))
        )
        return (
            f'<footer class="story-footer"><ul class="tags">{tags}</ul>'
            '<p class="corrections">Spotted a mistake? '
            + self.link("corrections", "Report it")
            + "</p></footer>"
        )

    # --- below the article ----------------------------------------------------------

    def cards(self) -> str:
        rng, home, seed = self.rng, self.home, self.seed
        pool = list(self.related) or [(self.url, self.article.title)]
        cards = []
        for n in range(int(rng.randint(8, 14) * self.scale)):
            other_url, other_title = (
                pool[n % len(pool)]
                if n < len(pool)
                else (f"{home}news/{seed}-{n}.html", headline(rng))
            )
            teaser = escape(sentence(rng, rng.randint(14, 24)))
            cards.append(
                f'<li class="card"><div class="card-inner"><a class="card-link" '
                f'href="{escape(other_url)}"><div class="card-media"><img src="{home}img/{seed}/'
                f'r{n}.jpg" alt="" loading="lazy" width="320" height="180"></div>'
                f'<h3 class="card-title">{escape(other_title)}</h3></a>'
                f'<p class="card-teaser">{teaser}</p>'
                f'<div class="card-meta">{svg(rng, 6)}<span class="section">'
                f"{rng.choice(SECTIONS)}</span> "
                f"<time>{rng.randint(1, 23)} hours ago</time></div></div></li>"
            )
        return (
            f'<section class="related"><h2>More on this story</h2><ul>{"".join(cards)}</ul>\n'
            "</section>"
        )

    def most_read(self) -> str:
        items = "".join(
            f'<li><span class="rank">{n + 1}</span>'
            f"{self.link(f'news/mr-{self.seed}-{n}.html', headline(self.rng))}</li>"
            for n in range(10)
        )
        return f'<aside class="most-read"><h2>Most read</h2><ol>{items}</ol></aside>'

    def comments(self) -> str:
        rng = self.rng
        comments = []
        for n in range(int(rng.choice((0, 3, 6, 10, 15)) * self.scale)):
            text = " ".join(sentence(rng, rng.randint(8, 20)) for _ in range(rng.randint(1, 4)))
            comments.append(
                f'<li class="comment" id="c{n}"><div class="comment-header"><span class="comment-'
                f'author">reader{rng.randint(1, 9999)}</span> <time>{rng.randint(1, 59)} minutes '
                f'ago</time></div><div class="comment-body"><p>{escape(text)}</p></div>'
                f'<div class="comment-actions"><button>Reply</button><button>Like '
                f"({rng.randint(0, 99)})</button></div></li>"
            )
        return (
            f'<section id="comments" class="comments"><h2>Comments ({len(comments)})</h2>'
            f'<ol class="comment-list">{"".join(comments)}</ol></section>'
        )

    def bottom_ads(self) -> str:
        slots = (ad_slot(self.rng, f"bottom-{n}") for n in range(self.rng.randint(2, 5)))
        return "\n".join([*slots, "</div></div></div>"])  # closes the wrapper of body_start

    def site_footer(self) -> str:
        rng = self.rng
        columns = []
        for section in SECTIONS[:3]:
            subs = rng.sample(SUBSECTIONS, int(rng.randint(4, 8) * min(self.scale, 1.0)) or 1)
            items = "".join(
                f"<li>{self.link(f'{section.lower()}/{s.lower()}/', s)}</li>" for s in subs
            )
            columns.append(f'<div class="footer-col"><h4>{section}</h4><ul>{items}</ul></div>')
        legal = "".join(
            f"<li>{self.link(p.lower().replace(' ', '-'), p)}</li>"
            for p in ("About us", "Contact", "Privacy policy", "Terms of use", "Cookies", "Jobs")
        )
        return (
            f'<footer class="site-footer"><div class="footer-cols">{"".join(columns)}</div>'
            f'<ul class="legal">{legal}</ul><p>© 2025 {self.outlet}. All rights reserved.</p>'
            "</footer>"
        )

    def body_end(self) -> str:
        rng = self.rng
        return "\n".join(
            [
                f"<script>{js(rng, self.script_bytes - self.script_bytes // 2)}</script>",
                state_blob(rng, self.article, int(40000 * self.scale)),
                '<noscript><img height="1" width="1" style="display:none" '
                f'src="{self.home}pixel.gif?id={self.seed}"></noscript>',
            ]
        )


_COOKIE_BANNER = (
    '<div id="cookie-consent" class="cmp-banner" role="dialog" aria-live="polite">'
    "<p>We and our partners use cookies to store and access information on your device, "
    "measure audiences and show personalised ads and content.</p>"
    '<button type="button" class="cmp-accept">Accept all</button>'
    '<button type="button" class="cmp-settings">Manage preferences</button></div>'
)
_NEWSLETTER = (
    '<div class="newsletter"><h3>The morning briefing</h3><p>The stories that matter, '
    'in your inbox every weekday.</p><form><input type="email" placeholder="Email address">'
    "<button>Sign up</button></form></div>"
    '<div class="ad-slot ad-mpu" data-slot="sidebar"><div class="ad-label">Advertisement'
    "</div></div>"
)
