"""The one article model of the generated webs, and where its articles come from.

Tests (`testkit.sites`, on the in-process `LocalWeb`) and benchmarks (`testkit.news_site`,
on disk behind the static server) render the same `SiteArticle` with the same page
renderer (`testkit.pages`) and feed writer (`testkit.syndication`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from testkit.prose import Prose

TOPIC_LABELS = {"troops": "nk-troops", "pact": "nk-russia-pact"}
"""Dev-set label → topic id in ``config/topics.yaml``."""

_REPO = Path(__file__).resolve().parents[1]
DEVSET_PATHS = (
    _REPO / "tests" / "data" / "topic-devset.jsonl",
    _REPO.parent / "shared" / "data" / "topic-devset.jsonl",
)


@dataclass(frozen=True)
class SiteArticle:
    id: str
    title: str
    text: str  # paragraphs separated by blank lines
    language: str
    outlet: str
    published: datetime
    author: str = ""
    topics: tuple[str, ...] = ()  # topic ids the article is labelled with (dev set only)

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.text.split("\n\n") if p.strip()]


def load_devset_articles(path: str | Path | None = None) -> list[SiteArticle]:
    """Read a topic dev-set JSONL file (by default the repository's copy, else shared/)."""
    if path is None:
        path = next((p for p in DEVSET_PATHS if p.exists()), DEVSET_PATHS[0])
    articles = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        row = json.loads(line)
        day = date.fromisoformat(row["published"])
        # Spread the day's articles over the working day so the order is stable.
        published = datetime.combine(day, time(6, tzinfo=UTC)) + timedelta(minutes=7 * number)
        articles.append(
            SiteArticle(
                id=row["id"],
                title=row["title"],
                text=row["text"],
                language=row["language"],
                outlet=row["outlet"],
                published=published,
                author=_AUTHORS[number % len(_AUTHORS)],
                topics=tuple(topic for label, topic in TOPIC_LABELS.items() if row.get(label)),
            )
        )
    return articles


_AUTHORS = (
    "Mina Park",
    "Oleg Sorokin",
    "Hanna Kovalenko",
    "Claire Dubois",
    "Jonas Weber",
    "Lucía Herrera",
    "Kenji Sato",
    "Sarah Mitchell",
    "Ji-hoon Lee",
    "Daniel Brooks",
)


def synthetic_articles(n: int, seed: int = 0) -> list[SiteArticle]:
    """``n`` distinct English articles of 2–5 KB about nothing the seed topics cover."""
    prose = Prose(seed)
    start = datetime(2025, 1, 6, 5, 0, tzinfo=UTC)
    articles = []
    for number in range(n):
        title = prose.unique_title()
        articles.append(
            SiteArticle(
                id=f"syn-{seed}-{number:04d}",
                title=title,
                text=prose.article_text(),
                language="en",
                outlet=prose.outlet(),
                published=start + timedelta(minutes=37 * number),
                author=_AUTHORS[(number + seed) % len(_AUTHORS)],
            )
        )
    return articles


def article_sources(count: int, seed: int = 7) -> list[SiteArticle]:
    """``count`` articles: the topic dev set first (so some match the shipped topics),
    then synthetic ones."""
    devset = load_devset_articles()
    return (devset + synthetic_articles(max(0, count - len(devset)), seed=seed))[:count]
