"""Alerts: the pure decision (score, burst, rate limit) and one alert mail end to end."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.digest.alerts import TopicActivity, check_alerts, decide
from monitor.settings import AlertSettings
from monitor.storage import digests as db
from monitor.storage.store import Store
from tests.support.digest_data import digest_config, sample_items, stored_samples
from tests.support.smtp import LocalSMTP, plain_text

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def activity(**changes: object) -> TopicActivity:
    items, _ = sample_items()
    values: dict[str, object] = {
        "items": tuple(i for i in items if i.topic_id == "nk-troops"),
        "alerted": frozenset(),
        "last_alert_at": None,
        "recent": 2,
        "baseline": 14,
    }
    values.update(changes)
    return TopicActivity(**values)  # type: ignore[arg-type]


SCORE = AlertSettings(topic="nk-troops", min_score=4.0, burst_factor=None)
BURST = AlertSettings(topic="nk-troops", burst_factor=3, burst_hours=3, burst_min_articles=5)


def test_a_high_score_story_alerts_once() -> None:
    decision = decide(SCORE, activity(), NOW)
    assert decision is not None and decision.kind == "score"
    assert [i.title for i in decision.items] == ["North Korean troops reach the Kursk front"]
    again = activity(alerted=frozenset(decision.keys))
    assert decide(SCORE, again, NOW + timedelta(hours=2)) is None


def test_alerts_are_rate_limited() -> None:
    recent_alert = activity(last_alert_at=NOW - timedelta(minutes=30))
    assert decide(SCORE, recent_alert, NOW) is None
    assert decide(SCORE, recent_alert, NOW + timedelta(minutes=31)) is not None


@pytest.mark.parametrize(
    ("recent", "baseline", "alerts"),
    [
        (2, 14, False),  # usual 0.25 in 3 hours, 2 now: below the minimum of 5
        (6, 14, True),  # 6 against 0.25: a burst
        (6, 560, False),  # usual 10 in 3 hours: 6 is quiet
        (31, 560, True),  # 31 against 10: three times the usual
        (5, 0, True),  # a new topic: the minimum alone
    ],
)
def test_bursts_are_judged_against_the_usual_rate(recent: int, baseline: int, alerts: bool) -> None:
    decision = decide(BURST, activity(recent=recent, baseline=baseline), NOW)
    assert (decision is not None) == alerts
    if decision:
        assert decision.kind == "burst" and f"{recent} articles in 3 hours" in decision.headline


def test_an_alert_mail_goes_out_at_once_and_only_once(config_dir: Path, database_url: str) -> None:
    with LocalSMTP() as smtp:
        extra = "    alerts:\n      - topic: nk-troops\n        min_score: 4\n"
        config = digest_config(config_dir, database_url, smtp.port, extra=extra)
        store = Store.open(database_url)
        try:
            stored_samples(store)
            assert asyncio.run(check_alerts(store, config, ["nk-troops"])) == 1
            assert asyncio.run(check_alerts(store, config, ["nk-troops"])) == 0
            assert db.outbox_counts(store) == {"sent": 1}
        finally:
            store.close()
        [message] = smtp.parsed()
    assert message["X-Monitor-Kind"] == "alert"
    assert message["Subject"].startswith("[Alert] North Korean troops")
    text = plain_text(message)
    assert "North Korean troops reach the Kursk front" in text
    assert "北朝鮮兵" not in text  # below the alert's score
