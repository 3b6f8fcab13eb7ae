"""Alerts: a short mail at once when a topic has news that cannot wait for the digest.

Two triggers, per subscriber and topic (`AlertSettings`): a story whose score reaches
``min_score``, or a burst of coverage, the last ``burst_hours`` holding
``burst_factor`` times the topic's usual rate (and at least ``burst_min_articles``).
At most one alert per subscriber and topic every ``min_interval_minutes``; a story
is alerted once. `decide` is pure; `check_alerts` is the hook the pipeline calls
after storing matched articles. Alerts go through the same outbox as digests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.policy import SMTP
from typing import Literal

from monitor.config import Config
from monitor.digest.compose import Footer
from monitor.digest.group import select_stories
from monitor.digest.run import Digests
from monitor.errors import StorageError
from monitor.log import get_logger
from monitor.models import NewMessage, StoredItem, utcnow
from monitor.settings import AlertSettings, SubscriberSettings
from monitor.storage import digests as db
from monitor.storage.store import Store

log = get_logger("monitor.digest.alerts")
MAX_ALERT_STORIES = 5


@dataclass(frozen=True, slots=True)
class TopicActivity:
    """What the store knows about one topic, for one subscriber's alert."""

    items: tuple[StoredItem, ...]  # matched originals of the last ``burst_hours``
    alerted: frozenset[str]  # keys already alerted
    last_alert_at: datetime | None
    recent: int  # matched articles in the last ``burst_hours``
    baseline: int  # matched articles in the ``baseline_days`` before that


@dataclass(frozen=True, slots=True)
class AlertDecision:
    kind: Literal["score", "burst"]
    keys: tuple[str, ...]
    items: tuple[StoredItem, ...]
    headline: str


def decide(alert: AlertSettings, activity: TopicActivity, now: datetime) -> AlertDecision | None:
    """Whether to alert now, and about what."""
    pause = timedelta(minutes=alert.min_interval_minutes)
    if activity.last_alert_at is not None and now - activity.last_alert_at < pause:
        return None
    if alert.min_score is not None:
        hot = [i for i in activity.items if i.score >= alert.min_score]
        fresh = [i for i in hot if story_key(i) not in activity.alerted]
        if fresh:
            best = max(i.score for i in fresh)
            keys = tuple(dict.fromkeys(story_key(i) for i in fresh))
            headline = f"a story scored {best:.1f} (alert from {alert.min_score:g})"
            return AlertDecision("score", keys, tuple(fresh), headline)
    return _burst(alert, activity, now)


def _burst(alert: AlertSettings, activity: TopicActivity, now: datetime) -> AlertDecision | None:
    if alert.burst_factor is None:
        return None
    baseline_hours = alert.baseline_days * 24
    usual = activity.baseline * alert.burst_hours / baseline_hours
    if activity.recent < max(alert.burst_min_articles, alert.burst_factor * usual):
        return None
    key = f"burst:{now:%Y-%m-%dT%H}"
    if key in activity.alerted:
        return None
    hours = f"{alert.burst_hours:g}"
    headline = f"{activity.recent} articles in {hours} hours (usual: {usual:.1f})"
    return AlertDecision("burst", (key,), activity.items, headline)


def story_key(item: StoredItem) -> str:
    return f"story:{item.story_id}"


class Alerts:
    def __init__(self, digests: Digests) -> None:
        self.digests = digests
        self.store = digests.store

    def activity(self, name: str, alert: AlertSettings, now: datetime) -> TopicActivity:
        window = now - timedelta(hours=alert.burst_hours)
        items = [i for i in db.topic_items(self.store, alert.topic, 500) if i.fetched_at >= window]
        keys = [story_key(i) for i in items] + [f"burst:{now:%Y-%m-%dT%H}"]
        recent = db.topic_volume(self.store, alert.topic, window)
        since = window - timedelta(days=alert.baseline_days)
        baseline = db.topic_volume(self.store, alert.topic, since) - recent
        return TopicActivity(
            items=tuple(items),
            alerted=frozenset(db.alerted_keys(self.store, name, alert.topic, keys)),
            last_alert_at=db.last_alert_at(self.store, name, alert.topic),
            recent=recent,
            baseline=baseline,
        )

    def enqueue(
        self, subscriber: SubscriberSettings, alert: AlertSettings, decision: AlertDecision
    ) -> int | None:
        now = self.digests.clock()
        copies = db.also_in(self.store, sorted({i.article_id for i in decision.items}))
        names = self.digests.topic_names
        selection = select_stories(decision.items, [alert.topic], names, copies, MAX_ALERT_STORIES)
        message = self.digests.compose(
            subscriber, "alert", selection, Footer(), now, headline=decision.headline
        )
        new = NewMessage(
            subscriber=subscriber.name,
            kind="alert",
            message_id=str(message["Message-ID"]),
            recipient=subscriber.email,
            subject=str(message["Subject"]),
            message=message.as_bytes(policy=SMTP),
        )
        return db.record_alert(self.store, new, alert.topic, decision.kind, decision.keys, now)

    async def check(self, topics: Iterable[str] | None = None) -> int:
        """Queue and send every alert due now; how many were queued.

        A failure for one subscriber is logged with its name and does not stop the others
        (nor, through `check_alerts`, the poll that called it)."""
        wanted = set(topics) if topics is not None else None
        queued = 0
        now = self.digests.clock()
        for subscriber in self.digests.subscribers:
            for alert in subscriber.alerts:
                if wanted is not None and alert.topic not in wanted:
                    continue
                try:
                    queued += await self._check_one(subscriber, alert, now)
                except StorageError:
                    raise  # the database: the caller records it on the feed
                except Exception as exc:
                    log.error(
                        "alert.failed",
                        subscriber=subscriber.name,
                        topic=alert.topic,
                        error=f"{type(exc).__name__}: {exc}",
                    )
        return queued

    async def _check_one(
        self, subscriber: SubscriberSettings, alert: AlertSettings, now: datetime
    ) -> int:
        decision = decide(alert, self.activity(subscriber.name, alert, now), now)
        if decision is None or self.enqueue(subscriber, alert, decision) is None:
            return 0
        log.info(
            "alert.queued",
            subscriber=subscriber.name,
            topic=alert.topic,
            kind=decision.kind,
            headline=decision.headline,
        )
        await self.digests.deliver(subscriber.name)
        return 1


async def check_alerts(store: Store, config: Config, topics: Sequence[str] | None = None) -> int:
    """The pipeline's hook, after storing matched articles: alert whoever needs it now."""
    if not any(s.alerts for s in config.settings.subscribers):
        return 0
    return await Alerts(Digests(store, config, clock=utcnow)).check(topics)
