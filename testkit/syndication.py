"""Feed documents in the three formats outlets still publish: RSS 2.0, RSS 1.0 and Atom.

Each is written the way common publishing software writes it (RSS 2.0 with the
summary as HTML in CDATA and ``dc:creator``; RDF with ``rdf:about`` as identity;
Atom with ``published``/``updated``), so parser quirks show up as they would live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape as html_escape
from xml.sax.saxutils import escape, quoteattr

from testkit.articles import SiteArticle

CONTENT_TYPES = {
    "rss2": "application/rss+xml; charset=utf-8",
    "rss1": "application/rdf+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
}


@dataclass(frozen=True)
class FeedDoc:
    format: str
    url: str  # where the feed itself is served
    title: str
    home: str
    items: list[tuple[SiteArticle, str, str]]  # (article, guid, link), newest first
    summary_chars: int = 0  # an entry's summary: its first paragraph, cut here if not 0


def render_feed(doc: FeedDoc) -> tuple[bytes, str]:
    """The feed's bytes (UTF-8) and its Content-Type."""
    render = {"rss2": _rss2, "rss1": _rss1, "atom": _atom}[doc.format]
    return render(doc).encode("utf-8"), CONTENT_TYPES[doc.format]


def _language(doc: FeedDoc) -> str | None:
    languages = {article.language for article, _, _ in doc.items}
    return languages.pop() if len(languages) == 1 else None


def _newest(doc: FeedDoc) -> datetime:
    if not doc.items:
        return datetime(2025, 1, 1, tzinfo=UTC)
    return max(article.published for article, _, _ in doc.items)


def _summary(doc: FeedDoc, article: SiteArticle) -> str:
    paragraphs = article.paragraphs
    first = paragraphs[0] if paragraphs else ""
    return first[: doc.summary_chars] if doc.summary_chars else first


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _author(article: SiteArticle) -> str:
    return article.author or f"{article.outlet} staff"


def _rss2(doc: FeedDoc) -> str:
    language = _language(doc)
    items = []
    for article, guid, link in doc.items:
        permalink = "true" if guid == link else "false"
        items.append(
            f"""    <item>
      <title>{escape(article.title)}</title>
      <link>{escape(link)}</link>
      <guid isPermaLink="{permalink}">{escape(guid)}</guid>
      <pubDate>{format_datetime(article.published.astimezone(UTC), usegmt=True)}</pubDate>
      <dc:creator>{escape(_author(article))}</dc:creator>
      <category>World</category>
      <description>{_cdata("<p>" + html_escape(_summary(doc, article)) + "</p>")}</description>
    </item>"""
        )
    lang = f"\n    <language>{escape(language)}</language>" if language else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" \
xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>{escape(doc.title)}</title>
    <link>{escape(doc.home)}</link>
    <atom:link href={quoteattr(doc.url)} rel="self" type="application/rss+xml"/>
    <description>Latest stories</description>{lang}
    <lastBuildDate>{format_datetime(_newest(doc).astimezone(UTC), usegmt=True)}</lastBuildDate>
    <generator>LocalWeb test site</generator>
{chr(10).join(items)}
  </channel>
</rss>
"""


def _rss1(doc: FeedDoc) -> str:
    language = _language(doc)
    seq = "\n".join(f"        <rdf:li rdf:resource={quoteattr(link)}/>" for _, _, link in doc.items)
    items = []
    for article, _, link in doc.items:
        # RSS 1.0 has no GUID: rdf:about (the link) is the identity.
        items.append(
            f"""  <item rdf:about={quoteattr(link)}>
    <title>{escape(article.title)}</title>
    <link>{escape(link)}</link>
    <description>{escape(_summary(doc, article))}</description>
    <dc:date>{article.published.isoformat()}</dc:date>
    <dc:creator>{escape(_author(article))}</dc:creator>
    <dc:language>{escape(article.language)}</dc:language>
  </item>"""
        )
    lang = f"\n    <dc:language>{escape(language)}</dc:language>" if language else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" \
xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about={quoteattr(doc.url)}>
    <title>{escape(doc.title)}</title>
    <link>{escape(doc.home)}</link>
    <description>Latest stories</description>{lang}
    <dc:date>{_newest(doc).isoformat()}</dc:date>
    <items>
      <rdf:Seq>
{seq}
      </rdf:Seq>
    </items>
  </channel>
{chr(10).join(items)}
</rdf:RDF>
"""


def _atom(doc: FeedDoc) -> str:
    language = _language(doc)
    entries = []
    for article, guid, link in doc.items:
        entries.append(
            f"""  <entry>
    <id>{escape(guid)}</id>
    <title type="text">{escape(article.title)}</title>
    <link rel="alternate" type="text/html" href={quoteattr(link)}/>
    <published>{article.published.isoformat()}</published>
    <updated>{article.published.isoformat()}</updated>
    <author><name>{escape(_author(article))}</name></author>
    <summary type="html">{escape("<p>" + html_escape(_summary(doc, article)) + "</p>")}</summary>
  </entry>"""
        )
    lang = f" xml:lang={quoteattr(language)}" if language else ""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"{lang}>
  <id>{escape(doc.url)}</id>
  <title>{escape(doc.title)}</title>
  <updated>{_newest(doc).isoformat()}</updated>
  <link rel="self" type="application/atom+xml" href={quoteattr(doc.url)}/>
  <link rel="alternate" type="text/html" href={quoteattr(doc.home)}/>
  <generator>LocalWeb test site</generator>
{chr(10).join(entries)}
</feed>
"""
