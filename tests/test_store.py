"""Storage on real SQLite files and the real PostgreSQL server: idempotent writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import Article, DuplicateLink, FeedSpec, FeedState, TopicMatch
from monitor.storage.engine import current_revision
from monitor.storage.store import Store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


def article(url: str, *, matched: bool = True, text: str = "Body text.") -> Article:
    match = TopicMatch("nk-troops", matched=matched, score=3.5 if matched else 0.2)
    return Article(
        url=url,
        feed_url="https://feeds.example/rss",
        entry_key=f"link:{url}",
        title="Title",
        text=text,
        outlet="Example",
        published=datetime(2025, 1, 2, tzinfo=UTC),
        language="en",
        author=None,
        canonical_url=url,
        matches=(match,),
    )


def test_migrations_reach_head(store: Store) -> None:
    assert current_revision(store.engine) is not None


def test_sync_feeds_is_idempotent_and_refreshes_names(store: Store) -> None:
    store.sync_feeds([FeedSpec("https://a.example/rss", "A")])
    store.sync_feeds([FeedSpec("https://a.example/rss", "A renamed", "en", 600)])
    (record,) = store.feeds()
    assert (record.name, record.interval_seconds) == ("A renamed", 600)
    assert record.state.health == "new"


def test_save_article_twice_keeps_one_row(store: Store) -> None:
    store.sync_feeds([FeedSpec("https://feeds.example/rss")])
    feed = store.feeds()[0]
    first = store.save_article(feed.id, "k1", article("https://news.example/a"))
    again = store.save_article(feed.id, "k1", article("https://news.example/a"))
    other_entry = store.save_article(feed.id, "k2", article("https://news.example/a"))
    assert first == again == other_entry
    assert store.counts()["articles"] == 1
    assert store.counts()["entries"] == 2
    assert store.known_entry_keys(feed.id, ["k1", "k2", "k3"]) == {"k1", "k2"}
    (view,) = store.articles()
    assert view.topics == {"nk-troops": 3.5}
    assert view.published == datetime(2025, 1, 2, tzinfo=UTC)


def test_unmatched_articles_are_kept_but_listed_only_with_all(store: Store) -> None:
    store.sync_feeds([FeedSpec("https://feeds.example/rss")])
    feed = store.feeds()[0]
    store.save_article(feed.id, "k1", article("https://news.example/a", matched=False))
    assert store.articles() == []
    assert [v.url for v in store.articles(include_all=True)] == ["https://news.example/a"]


def test_duplicates_point_at_their_original(store: Store) -> None:
    store.sync_feeds([FeedSpec("https://feeds.example/rss")])
    feed = store.feeds()[0]
    original = store.save_article(feed.id, "k1", article("https://news.example/a"))
    link = DuplicateLink(original, "near", "near-duplicate of #1", 0.93)
    copy = store.save_article(feed.id, "k2", article("https://other.example/b"), duplicate=link)
    assert [v.id for v in store.articles()] == [original]
    copies = store.copies_of([original])[original]
    assert [(c.id, c.duplicate_kind, c.duplicate_reason) for c in copies] == [
        (copy, "near", "near-duplicate of #1")
    ]


def test_prune_drops_old_unmatched_text_only(store: Store) -> None:
    store.sync_feeds([FeedSpec("https://feeds.example/rss")])
    feed = store.feeds()[0]
    store.save_article(feed.id, "k1", article("https://news.example/old", matched=False))
    store.save_article(feed.id, "k2", article("https://news.example/kept", matched=True))
    later = datetime.now(UTC) + timedelta(days=31)
    assert len(store.prune(30, now=later)) == 1
    assert store.prune(30, now=later) == []
    assert store.by_canonical_url("https://news.example/old") is not None
    assert store.counts()["articles"] == 2


def test_feed_state_round_trip_keeps_utc(store: Store) -> None:
    store.sync_feeds([FeedSpec("https://feeds.example/rss")])
    feed = store.feeds()[0]
    when = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)
    state = FeedState(health="failing", consecutive_failures=2, next_poll_at=when, last_status=503)
    store.save_feed_poll(feed.id, state, etag='"abc"', keep_validators=False)
    record = store.feed("https://feeds.example/rss")
    assert record is not None
    assert record.state.next_poll_at == when
    assert (record.state.health, record.etag) == ("failing", '"abc"')
    store.save_feed_poll(feed.id, state, keep_validators=True)
    record = store.feed("https://feeds.example/rss")
    assert record is not None and record.etag == '"abc"'
