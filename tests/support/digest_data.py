"""Matched articles stored straight into a store, for digest tests: stories, copies,
Korean, Russian and Japanese titles, and hostile strings from a "feed"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import Config, load_config
from monitor.models import Article, DuplicateLink, FeedSpec, StoredItem, TermHit, TopicMatch
from monitor.storage.store import Store

T0 = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
FEEDS = (
    FeedSpec("http://127.0.0.1:9/yonhap.xml", "Yonhap"),
    FeedSpec("http://127.0.0.1:9/tass.xml", "TASS"),
    FeedSpec("http://127.0.0.1:9/nhk.xml", "NHK"),
    FeedSpec("http://127.0.0.1:9/wire.xml", "Wire Service"),
)


@dataclass(frozen=True)
class Sample:
    key: str
    feed: int
    title: str
    text: str
    topic: str
    score: float
    terms: tuple[str, ...]
    hours: float  # published T0 + hours
    story: str | None = None  # key of the story's first article
    copy_of: str | None = None
    url: str | None = None


SAMPLES = (
    Sample(
        "kursk",
        0,
        "North Korean troops reach the Kursk front",
        "Seoul said on Tuesday that thousands of North Korean soldiers had arrived in the "
        "Kursk region, where they are being trained to fight alongside Russian units. "
        "Officials in Pyongyang did not comment.",
        "nk-troops",
        4.2,
        ("North Korea*", "Kursk", "Pyongyang"),
        1,
    ),
    Sample(
        "kursk-ko",
        0,
        "북한군, 쿠르스크 전선 도착",
        "국가정보원은 북한군 수천 명이 쿠르스크 지역에 도착했다고 밝혔다. 북한은 논평하지 않았다.",
        "nk-troops",
        3.1,
        ("북한",),
        2,
        story="kursk",
    ),
    Sample(
        "kursk-copy",
        3,
        "North Korean troops reach the Kursk front (wire)",
        "copy",
        "nk-troops",
        4.2,
        ("North Korea*",),
        1.5,
        copy_of="kursk",
    ),
    Sample(
        "treaty",
        1,
        "Договор о всеобъемлющем стратегическом партнёрстве с КНДР вступил в силу",
        "Договор между Россией и КНДР о всеобъемлющем стратегическом партнёрстве вступил в "
        "силу после обмена ратификационными грамотами в Пхеньяне.",
        "nk-russia-pact",
        3.6,
        ("КНДР", "Пхеньян*"),
        3,
    ),
    Sample(
        "nhk",
        2,
        "北朝鮮兵、ロシア西部に展開か",
        "韓国の情報機関は、北朝鮮の兵士がロシア西部のクルスク州に展開していると明らかにした。",
        "nk-troops",
        2.4,
        ("北朝鮮",),
        4,
    ),
    Sample(
        "hostile",
        3,
        '<script>alert("x")</script> Pyongyang & Moscow\r\nBcc: victim@example.org',
        "A report on Pyongyang <b>with</b> markup & ampersands and a\u0007BEL.",
        "nk-russia-pact",
        1.8,
        ("Pyongyang",),
        5,
        url="javascript:alert(1)",
    ),
)


def stored_samples(store: Store, samples: tuple[Sample, ...] = SAMPLES) -> dict[str, int]:
    """Store the samples (in order); their article ids by key."""
    store.sync_feeds(FEEDS)
    feed_ids = {record.url: record.id for record in store.feeds()}
    ids: dict[str, int] = {}
    for sample in samples:
        spec = FEEDS[sample.feed]
        match = TopicMatch(
            sample.topic,
            True,
            sample.score,
            tuple(TermHit(t, "body", 0, 1, t) for t in sample.terms),
        )
        url = sample.url or f"https://news.example/{sample.key}"
        article = Article(
            url=url,
            feed_url=spec.url,
            entry_key=sample.key,
            title=sample.title,
            text=sample.text,
            outlet=spec.name,
            published=T0 + timedelta(hours=sample.hours),
            language=None,
            author=None,
            canonical_url=f"https://news.example/{sample.key}",
            matches=(match,),
        )
        duplicate = None
        if sample.copy_of:
            duplicate = DuplicateLink(ids[sample.copy_of], "near", "test copy", 0.9)
        story = ids.get(sample.story) if sample.story else None
        ids[sample.key] = store.save_article(
            feed_ids[spec.url],
            sample.key,
            article,
            duplicate=duplicate,
            story_id=story,
            own_story=duplicate is None and story is None,
        )
    return ids


def digest_config(
    config_dir: Path, db_url: str, smtp_port: int, extra: str = "", schedule: str = "daily 07:30"
) -> Config:
    """The test config with one subscriber following both topics, mail to ``smtp_port``."""
    text = (config_dir / "monitor.yaml").read_text(encoding="utf-8")
    text = text.replace(text.split("database:\n")[1].split("\n")[0], f"  url: {db_url}")
    text += (
        f"smtp:\n  host: 127.0.0.1\n  port: {smtp_port}\n  timeout: 2\n"
        "  from_address: monitor@monitor.test\n"
        "subscribers:\n"
        "  - name: ana\n"
        "    email: ana@desk.test\n"
        "    topics: [nk-troops, nk-russia-pact]\n"
        f"    schedule: {schedule}\n"
        "    timezone: Asia/Seoul\n"
        f"{extra}"
    )
    (config_dir / "monitor.yaml").write_text(text, encoding="utf-8")
    return load_config(config_dir / "monitor.yaml")


def sample_items() -> tuple[list[StoredItem], dict[int, list[str]]]:
    """The samples as the store would give them back, without a store: (items, copies)."""
    ids = {sample.key: index + 1 for index, sample in enumerate(SAMPLES)}
    items: list[StoredItem] = []
    copies: dict[int, list[str]] = {}
    for sample in SAMPLES:
        if sample.copy_of:
            copies.setdefault(ids[sample.copy_of], []).append(FEEDS[sample.feed].name)
            continue
        published = T0 + timedelta(hours=sample.hours)
        items.append(
            StoredItem(
                article_id=ids[sample.key],
                topic_id=sample.topic,
                score=sample.score,
                terms=sample.terms,
                title=sample.title,
                url=sample.url or f"https://news.example/{sample.key}",
                outlet=FEEDS[sample.feed].name,
                published=published,
                fetched_at=published + timedelta(minutes=5),
                story_id=ids[sample.story or sample.key],
                text=sample.text,
            )
        )
    return items, copies
