"""The raw material of heavy pages (`testkit.heavy_pages`): filler words and sentences,
minified-looking script, CSS, inline icons, ad containers, a front-end framework's state.

Every function draws from the generator it is given, so a seeded generator gives the
same material.
"""

from __future__ import annotations

import json
import random

from testkit.articles import SiteArticle
from testkit.pages import script_json

WORDS = """
market policy city council election energy climate school health transport housing
budget court police union river festival museum airport border trade bank football
weather storm harvest industry research hospital minister village coast bridge rail
theatre summit tourism fishing vaccine drought mayor strike ferry library startup
pension tariff satellite volcano orchestra election campaign refinery harbour
""".split()  # noqa: SIM905
SECTIONS = ("World", "Politics", "Business", "Tech", "Science", "Sport", "Culture", "Opinion")
SUBSECTIONS = ("Asia", "Europe", "Americas", "Africa", "Middle East", "UK", "US", "Analysis")
_JS_WORDS = """
function var let const return if else for while new this typeof undefined null window
document push length prototype call apply addEventListener querySelector getAttribute
setTimeout Promise resolve then catch JSON parse stringify Object keys dataLayer gtag
adSlot consent lazyLoad observer intersection viewport analytics
""".split()  # noqa: SIM905


def sentence(rng: random.Random, words: int) -> str:
    """Filler: ``words`` words of the furniture's vocabulary, capitalised, with a full stop."""
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def headline(rng: random.Random) -> str:
    return sentence(rng, rng.randint(6, 11))[:-1]


def js(rng: random.Random, size: int) -> str:
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


def svg(rng: random.Random, points: int = 14) -> str:
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


def ad_slot(rng: random.Random, name: str) -> str:
    """An ad container: nested divs with data attributes and a sizing style."""
    sizes = rng.choice(("300x250,300x600", "728x90,970x250", "320x50,320x100"))
    return (
        f'<div class="ad-container ad-{name}" data-ad-unit="/1234/{name}" data-sizes="{sizes}" '
        f'data-refresh="30" style="min-height:{rng.randint(50, 600)}px"><div class="ad-inner">'
        f'<div class="ad-label" aria-hidden="true">Advertisement</div><div id="div-gpt-{name}-'
        f'{rng.randint(1000, 99999)}" class="gpt-slot" data-loaded="false"></div>'
        f'<div class="ad-fallback"><span class="ad-close">{svg(rng, 4)}</span></div></div></div>'
    )


def state_blob(rng: random.Random, article: SiteArticle, size: int) -> str:
    """The JSON state a front-end framework inlines (``__NEXT_DATA__`` and the like)."""
    items = []
    length = 0
    while length < size:
        item = {
            "id": rng.randint(10**6, 10**7),
            "headline": headline(rng),
            "summary": sentence(rng, rng.randint(12, 30)),
            "section": rng.choice(SECTIONS),
            "image": {"url": f"/img/{rng.randint(1, 10**6)}.jpg", "width": 1280, "height": 720},
            "tags": rng.sample(WORDS, 4),
        }
        items.append(item)
        length += len(json.dumps(item))
    state = {"props": {"pageProps": {"article": {"title": article.title}, "feed": items}}}
    return f'<script id="__NEXT_DATA__" type="application/json">{script_json(state)}</script>'


def css(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    length = 0
    while length < size:
        part = (
            f".{rng.choice(WORDS)}-{rng.randint(0, 99)} .{rng.choice(WORDS)}"
            f"{{margin:{rng.randint(0, 24)}px {rng.randint(0, 24)}px;"
            f"color:#{rng.randint(0, 0xFFFFFF):06x};font-size:{rng.randint(10, 32)}px}}"
        )
        parts.append(part)
        length += len(part)
    return "".join(parts)
