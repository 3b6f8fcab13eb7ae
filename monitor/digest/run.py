"""The outbox flow: select unsent items, record the message with them, send, mark.

1. `Digests.enqueue` selects what the subscriber has not received, composes the
   message and records it (exact bytes, Message-ID) with its items in one
   transaction. Items are unique per (subscriber, article): never in two digests.
2. `Digests.deliver` claims due messages for a lease, sends each, and marks it sent
   once the server accepted it. A temporary failure (down, 4xx, timeout, dropped)
   is retried with a doubling backoff; a permanent one (5xx) is marked failed, logged,
   its items freed for the next digest and reported in that digest's footer.

A crash at any point loses nothing: a message recorded and not marked sent is sent
again when its lease runs out, with the same bytes and so the same Message-ID.

Cancelled (a stopping daemon, worker or `digest send`), a delivery records the outcome
of the message in flight when the server already has it whole (`send_message` waits for
its answer), gives back the lease of every other claimed message so a restart sends it
at once, and then re-raises the cancellation.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP

from monitor import metrics
from monitor.config import Config
from monitor.digest.compose import Content, Envelope, Footer, Kind, Recipient, compose
from monitor.digest.group import Selection, select_stories
from monitor.digest.send import send_message
from monitor.errors import DeliveryError, UnknownSubscriberError
from monitor.log import get_logger
from monitor.models import FeedProblem, Lease, NewMessage, QueuedMessage, utcnow
from monitor.settings import SmtpSettings, SubscriberSettings
from monitor.storage import digests as db
from monitor.storage.store import Store

log = get_logger("monitor.digest")
Sender = Callable[[SmtpSettings, bytes, str, list[str]], Awaitable[None]]


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    leased: list[Lease] = field(default_factory=list)
    """Due messages of the subscriber held by another attempt (with ``deliver(name)``)."""


class Digests:
    """Digest and outbox work for every configured subscriber, on one store."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        sender: Sender = send_message,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.config = config
        self.sender = sender
        self.clock = clock
        self.topic_names = {t.id: t.name or t.id for t in config.topics}

    @property
    def subscribers(self) -> list[SubscriberSettings]:
        return list(self.config.settings.subscribers)

    def subscriber(self, name: str) -> SubscriberSettings:
        for subscriber in self.subscribers:
            if subscriber.name == name:
                return subscriber
        known = ", ".join(s.name for s in self.subscribers) or "none configured"
        raise UnknownSubscriberError(f"no subscriber {name!r} (known: {known})")

    # --- composing ----------------------------------------------------------

    def select(self, subscriber: SubscriberSettings, now: datetime) -> Selection:
        since = now - timedelta(days=self.config.settings.digest.lookback_days)
        items = db.unsent_items(
            self.store, subscriber.name, subscriber.topics, subscriber.min_score, since
        )
        copies = db.also_in(self.store, sorted({i.article_id for i in items}))
        return select_stories(
            items, subscriber.topics, self.topic_names, copies, subscriber.max_stories
        )

    def footer(self, subscriber: SubscriberSettings, selection: Selection, now: datetime) -> Footer:
        hours = self.config.settings.digest.feed_failing_hours
        problems = db.feed_problems(self.store)
        brief = [p for p in problems if _briefly_failing(p, now, timedelta(hours=hours))]
        return Footer(
            feed_problems=tuple(p for p in problems if p not in brief),
            failures=tuple(db.unreported_failures(self.store, subscriber.name)),
            briefly_failing=len(brief),
            failing_hours=hours,
        )

    def compose(
        self,
        subscriber: SubscriberSettings,
        kind: Kind,
        selection: Selection,
        footer: Footer,
        now: datetime,
        headline: str = "",
    ) -> EmailMessage:
        recipient = Recipient(
            subscriber.name, subscriber.email, subscriber.timezone, subscriber.format
        )
        envelope = Envelope(
            message_id=self.new_message_id(kind),
            sender=self.config.settings.smtp.from_address,
            now=now,
            unsubscribe=self.config.settings.digest.unsubscribe,
        )
        return compose(Content(kind, recipient, selection, footer, headline), envelope)

    def preview(self, name: str) -> EmailMessage:
        """The digest ``name`` would get now; nothing is recorded or sent."""
        subscriber, now = self.subscriber(name), self.clock()
        selection = self.select(subscriber, now)
        kind: Kind = "digest" if selection.story_count else "empty"
        return self.compose(
            subscriber, kind, selection, self.footer(subscriber, selection, now), now
        )

    def stories_waiting(self, name: str) -> int:
        """How many stories the next digest of ``name`` would carry, were it sent now."""
        return self.select(self.subscriber(name), self.clock()).story_count

    def sends_empty(self, name: str) -> bool:
        """Whether ``name``'s scheduled digest is sent when there is nothing new."""
        subscriber = self.subscriber(name)
        default = self.config.settings.digest.send_empty
        return default if subscriber.send_empty is None else subscriber.send_empty

    def new_message_id(self, kind: str) -> str:
        domain = self.config.settings.smtp.from_address.rpartition("@")[2] or "localhost"
        return f"<{kind}.{uuid.uuid4().hex}@{domain}>"

    # --- the outbox ---------------------------------------------------------

    def enqueue(self, name: str, *, send_empty: bool = False) -> int | None:
        """Record the subscriber's next digest with its items; its outbox id, or None."""
        subscriber = self.subscriber(name)
        for _ in range(3):
            try:
                return self._enqueue_once(subscriber, send_empty)
            except db.ItemsTaken:  # another process took some items first: select again
                continue
        return None

    def _enqueue_once(self, subscriber: SubscriberSettings, send_empty: bool) -> int | None:
        now = self.clock()
        selection = self.select(subscriber, now)
        if not selection.story_count and not send_empty:
            return None
        footer = self.footer(subscriber, selection, now)
        kind: Kind = "digest" if selection.story_count else "empty"
        message = self.compose(subscriber, kind, selection, footer, now)
        outbox_id = db.record_outbox(
            self.store,
            NewMessage(
                subscriber=subscriber.name,
                kind=kind,
                message_id=str(message["Message-ID"]),
                recipient=subscriber.email,
                subject=str(message["Subject"]),
                message=message.as_bytes(policy=SMTP),
                items=selection.items,
            ),
            now,
            report_failures=[failure.id for failure in footer.failures],
        )
        log.info(
            "digest.recorded",
            subscriber=subscriber.name,
            outbox=outbox_id,
            stories=selection.story_count,
            articles=len(selection.items),
        )
        return outbox_id

    async def deliver(self, subscriber: str | None = None) -> DeliveryReport:
        """Send every due message in the outbox (of one subscriber, or all)."""
        report = DeliveryReport()
        now = self.clock()
        smtp = self.config.settings.smtp
        lease = timedelta(seconds=smtp.timeout * 4 + 60)
        claimed = db.claim_due(self.store, now, lease, subscriber)
        for index, queued in enumerate(claimed):
            try:
                outcome = await self._attempt(queued)
            except asyncio.CancelledError:  # this one was abandoned before the server had it
                self._release(claimed[index:])
                raise
            setattr(report, outcome, getattr(report, outcome) + 1)
            if _cancelling():  # recorded what the server answered; now stop
                self._release(claimed[index + 1 :])
                raise asyncio.CancelledError
        if subscriber is not None:
            report.leased = db.leases(self.store, subscriber, self.clock())
        return report

    def _release(self, claimed: list[QueuedMessage]) -> None:
        if claimed:
            db.release(self.store, [queued.id for queued in claimed], self.clock())
            log.warning(
                "digest.released",
                outbox=[queued.id for queued in claimed],
                reason="stopping before the server accepted them; due again at once",
            )

    async def _attempt(self, queued: QueuedMessage) -> str:
        bound = log.bind(subscriber=queued.subscriber, outbox=queued.id, kind=queued.kind)
        smtp = self.config.settings.smtp
        try:
            await self.sender(smtp, queued.message, smtp.from_address, [queued.recipient])
        except DeliveryError as exc:
            if not exc.temporary:
                db.mark_failed(self.store, queued.id, str(exc))
                metrics.MAILS_FAILED.inc()
                bound.error("digest.refused", error=str(exc), attempts=queued.attempts)
                return "failed"
            retry_at = self.clock() + self.backoff(queued.attempts)
            db.mark_retry(self.store, queued.id, str(exc), retry_at)
            bound.warning("digest.retrying", error=str(exc), retry_at=retry_at.isoformat())
            return "retrying"
        db.mark_sent(self.store, queued.id, self.clock())
        metrics.MAILS_SENT.inc()
        bound.info("digest.sent", message_id=queued.message_id, attempts=queued.attempts)
        return "sent"

    def backoff(self, attempts: int) -> timedelta:
        digest = self.config.settings.digest
        seconds = digest.retry_seconds * 2 ** min(max(attempts - 1, 0), 20)
        return timedelta(seconds=min(seconds, digest.retry_max_seconds))

    async def run(self, name: str, *, scheduled: bool = True) -> DeliveryReport:
        """A subscriber's digest now: record it (if there is anything) and deliver."""
        send_empty = self.sends_empty(name) and scheduled  # an unknown name raises here
        self.enqueue(name, send_empty=send_empty)
        return await self.deliver(name)


def _cancelling() -> bool:
    """Whether this task was cancelled while a send it could not abandon finished."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _briefly_failing(problem: FeedProblem, now: datetime, failing_for: timedelta) -> bool:
    """Failing, but not for long enough to be named in a digest: a passing outage."""
    if problem.health != "failing":
        return False
    return problem.since is None or now - problem.since < failing_for
