"""Alerts: the pure decision (score, burst, rate limit) and one alert mail end to end."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from monitor.digest.alerts import TopicActivity, check_alerts, decide
from monitor.digest.run import Digests
from monitor.settings import AlertSettings, SubscriberSettings
from monitor.storage import digests as db
from monitor.storage.store import Store
from testkit.sites import SiteArticle, build_site
from testkit.smtp import LocalSMTP, plain_text
from testkit.webserver import LocalWeb
from tests.support.digest_data import digest_config, sample_items, stored_samples
from tests.test_cli_e2e import monitor, write_feeds

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


# Placeholders some systems write for "no date" and "never": a zone shift of either one
# used to overflow, so one such entry stopped the alert, and `poll --once` exited 1.
IMPOSSIBLE_DATES = (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
ZONE_SUBSCRIBERS = "".join(
    f"  - name: {name}\n    email: {name}@desk.test\n    topics: [nk-troops]\n"
    f"    timezone: {zone}\n    alerts:\n      - topic: nk-troops\n        min_score: 0.01\n"
    for name, zone in (("kiritimati", "Pacific/Kiritimati"), ("baker", "Etc/GMT+12"))
)


def test_impossible_entry_dates_stop_no_alert_in_any_zone(
    config_dir: Path, web: LocalWeb, devset_articles: list[SiteArticle], database_url: str
) -> None:
    labelled = [a for a in devset_articles if "nk-troops" in a.topics][:2]
    dated = [replace(a, published=d) for a, d in zip(labelled, IMPOSSIBLE_DATES, strict=True)]
    site = build_site(web, dated, feeds=2, formats=("rss2", "atom"))
    write_feeds(config_dir, site.feed_urls)
    with LocalSMTP() as smtp:
        digest_config(config_dir, database_url, smtp.port, extra=ZONE_SUBSCRIBERS)
        result = monitor(config_dir, "poll", "--once", "--json")
        assert result.returncode == 0, result.stderr[-3000:]
        assert json.loads(result.stdout)["articles_matched"] == 2
        alerted = {message["To"].addresses[0].username for message in smtp.parsed()}
    assert alerted == {"kiritimati", "baker"}
    listing = monitor(config_dir, "articles", "--json")
    assert listing.returncode == 0, listing.stderr[-3000:]
    published = [json.loads(line)["published"] for line in listing.stdout.splitlines()]
    assert len(published) == 2
    assert not {(p or "")[:4] for p in published} & {"0001", "9999"}  # unknown, or the page's
    atom = monitor(config_dir, "export", "atom", "--topic", "nk-troops")
    assert atom.returncode == 0, atom.stderr[-3000:]


def test_one_subscribers_failed_alert_does_not_stop_the_others(
    config_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compose = Digests.compose

    def failing_for_ana(
        self: Digests, subscriber: SubscriberSettings, *args: Any, **kwargs: Any
    ) -> EmailMessage:
        if subscriber.name == "ana":  # the one fault injected: a bug in composing for one
            raise RuntimeError("template broke")
        return compose(self, subscriber, *args, **kwargs)

    monkeypatch.setattr(Digests, "compose", failing_for_ana)
    with LocalSMTP() as smtp:
        alert = "    alerts:\n      - topic: nk-troops\n        min_score: 4\n"
        config = digest_config(config_dir, database_url, smtp.port, extra=alert + ZONE_SUBSCRIBERS)
        store = Store.open(database_url)
        try:
            stored_samples(store)
            assert asyncio.run(check_alerts(store, config, ["nk-troops"])) == 2
        finally:
            store.close()
        alerted = {message["To"].addresses[0].username for message in smtp.parsed()}
    assert alerted == {"kiritimati", "baker"}
