"""Pure scheduling decisions: due, backoff, health, Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import FeedState
from monitor.pipeline.feeds import PollOutcome, after_poll, backoff, is_due
from monitor.pipeline.fetch import parse_retry_after

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=15)
CEILING = timedelta(hours=6)


def poll(state: FeedState, outcome: PollOutcome, now: datetime = NOW) -> FeedState:
    return after_poll(state, outcome, now, INTERVAL, CEILING, random.Random(1))


@pytest.mark.parametrize(
    ("failures", "low", "high"),
    [
        (1, timedelta(minutes=13.5), timedelta(minutes=16.5)),
        (2, timedelta(minutes=27), timedelta(minutes=33)),
        (4, timedelta(minutes=108), timedelta(minutes=132)),
        (30, CEILING * 0.9, CEILING * 1.1),
    ],
)
def test_backoff_doubles_up_to_the_ceiling(failures: int, low: timedelta, high: timedelta) -> None:
    delay = backoff(failures, INTERVAL, CEILING, random.Random(failures))
    assert low <= delay <= high


def test_success_resets_failures_and_schedules_next_interval() -> None:
    failing = FeedState(health="failing", consecutive_failures=5, failing_since=NOW)
    state = poll(failing, PollOutcome("fetched", 200, new_entries=3))
    assert state.health == "ok"
    assert state.consecutive_failures == 0
    assert state.next_poll_at == NOW + INTERVAL
    assert state.last_new_entry_at == NOW


def test_failures_back_off_and_never_stop() -> None:
    state = FeedState()
    for _ in range(50):
        state = poll(state, PollOutcome("failed", 500, "Internal Server Error"))
    assert state.health == "failing"
    assert state.consecutive_failures == 50
    assert state.next_poll_at is not None
    assert state.next_poll_at - NOW <= CEILING * 1.1
    assert not is_due(state, NOW)
    assert is_due(state, NOW + CEILING * 1.2)


def test_retry_after_pushes_the_next_poll_within_the_ceiling() -> None:
    state = poll(FeedState(), PollOutcome("failed", 429, "Too Many Requests", retry_after=3600))
    assert state.next_poll_at == NOW + timedelta(hours=1)
    state = poll(FeedState(), PollOutcome("failed", 503, "busy", retry_after=10 * 24 * 3600))
    assert state.next_poll_at == NOW + CEILING


def test_410_is_gone_at_once_and_404_only_after_days() -> None:
    assert poll(FeedState(), PollOutcome("failed", 410, "Gone")).health == "gone"
    state = poll(FeedState(), PollOutcome("failed", 404, "Not Found"))
    assert state.health == "failing"
    state = poll(state, PollOutcome("failed", 404, "Not Found"), NOW + timedelta(days=4))
    assert state.health == "gone"


def test_malformed_but_usable_feed_is_degraded() -> None:
    state = poll(FeedState(), PollOutcome("fetched", 200, degraded_reason="mismatched tag"))
    assert state.health == "degraded"
    assert state.last_error == "mismatched tag"


def test_feed_silent_for_long_is_stale() -> None:
    state = FeedState(health="ok", last_new_entry_at=NOW - timedelta(days=30))
    assert poll(state, PollOutcome("not_modified", 304)).health == "stale"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("99999999", 24 * 3600.0),
        ("Wed, 01 Jan 2025 12:30:00 GMT", 1800.0),
        ("Wed, 01 Jan 2025 11:00:00 GMT", None),
        ("-5", None),
        ("soon", None),
        ("²", None),
        ("٣٠", None),
        ("", None),
        (None, None),
        ("Wed, 99 Foo 2025", None),
    ],
)
def test_retry_after_forms(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_the_sql_due_rule_agrees_with_is_due(store_url: str) -> None:
    """`storage.schedule.is_due_clause` is the SQL form of `is_due`: one rule."""
    from monitor.models import FeedSpec
    from monitor.storage import schedule
    from monitor.storage.store import Store

    moments = [None, NOW - timedelta(days=1), NOW, NOW + timedelta(seconds=1), NOW + CEILING]
    store = Store.open(store_url)
    try:
        specs = [FeedSpec(url=f"https://feeds.example/{i}.xml") for i in range(len(moments))]
        store.sync_feeds(specs)
        states = []
        for record, moment in zip(store.feeds([s.url for s in specs]), moments, strict=True):
            state = FeedState(next_poll_at=moment)
            store.save_feed_poll(record.id, state)
            states.append(state)
        expected = sum(is_due(state, NOW) for state in states)
        assert schedule.feeds_due(store, NOW) == expected == 3
    finally:
        store.close()
