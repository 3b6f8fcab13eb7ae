"""Delivery through a real SMTP server on loopback: faults lose nothing and double nothing.

Each test records digests in a real database (SQLite, and PostgreSQL where it runs),
sends them to an aiosmtpd server that refuses (451, 550), stalls or drops the
connection on demand, and checks what arrived and what the outbox says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import Config
from monitor.digest.run import Digests
from monitor.digest.send import send_message
from monitor.models import FeedState, NewMessage, utcnow
from monitor.settings import SmtpSettings
from monitor.storage import digests as db
from monitor.storage.store import Store
from testkit.smtp import LocalSMTP, free_port, plain_text
from tests.support.digest_data import SAMPLES, digest_config, stored_samples


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def smtp() -> Iterator[LocalSMTP]:
    with LocalSMTP() as server:
        yield server


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


@pytest.fixture
def config(config_dir: Path, store_url: str, smtp: LocalSMTP) -> Config:
    return digest_config(config_dir, store_url, smtp.port)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def digests(store: Store, config: Config, clock: Clock) -> Digests:
    stored_samples(store)
    return Digests(store, config, clock=clock)


def run(digests: Digests) -> None:
    asyncio.run(digests.run("ana", scheduled=False))


def deliver(digests: Digests) -> None:
    asyncio.run(digests.deliver())


def counts(store: Store) -> dict[str, int]:
    return db.outbox_counts(store, "ana")


def test_a_digest_arrives_once_and_is_not_sent_again(
    digests: Digests, smtp: LocalSMTP, store: Store
) -> None:
    run(digests)
    [message] = smtp.parsed()
    assert message["To"].addresses[0].addr_spec == "ana@desk.test"
    assert counts(store) == {"sent": 1}
    run(digests)  # nothing new: no mail
    deliver(digests)
    assert len(smtp.received) == 1
    assert counts(store) == {"sent": 1}


def test_only_new_stories_go_in_the_next_digest(
    digests: Digests, smtp: LocalSMTP, store: Store
) -> None:
    run(digests)
    stored_samples(store, (replace(SAMPLES[0], key="kursk-2"),))
    run(digests)
    _, second = smtp.parsed()
    text = plain_text(second)
    assert "news.example/kursk-2" in text
    assert "news.example/treaty" not in text and "1 new story" in text


@pytest.mark.parametrize("fault", ["451", "stall", "drop"])
def test_temporary_failures_are_retried_until_the_server_accepts(
    digests: Digests, smtp: LocalSMTP, store: Store, clock: Clock, fault: str
) -> None:
    smtp.handler.stall_seconds = 4
    smtp.fail_next(fault, fault)
    run(digests)
    assert smtp.received == []
    assert counts(store) == {"pending": 1}
    deliver(digests)  # not due yet: the backoff holds it back
    assert smtp.attempts == 1
    clock.advance(seconds=61)
    deliver(digests)  # second fault: backoff doubles
    assert smtp.attempts == 2 and smtp.received == []
    clock.advance(seconds=61)
    deliver(digests)
    assert smtp.attempts == 2
    clock.advance(seconds=61)
    deliver(digests)
    assert len(smtp.received) == 1
    assert counts(store) == {"sent": 1}
    run(digests)  # the items were in the retried digest: nothing new
    assert len(smtp.received) == 1


def test_a_server_that_is_down_gets_the_digest_when_it_comes_back(
    config_dir: Path, store: Store, store_url: str, clock: Clock
) -> None:
    port = free_port()
    config = digest_config(config_dir, store_url, port)
    stored_samples(store)
    digests = Digests(store, config, clock=clock)
    run(digests)
    assert counts(store) == {"pending": 1}
    with LocalSMTP(port=port) as smtp:
        clock.advance(minutes=2)
        deliver(digests)
        assert len(smtp.received) == 1
    assert counts(store) == {"sent": 1}


@pytest.mark.parametrize("fault", ["550", "rcpt550"])
def test_a_permanent_refusal_is_recorded_and_reported_in_the_next_digest(
    digests: Digests, smtp: LocalSMTP, store: Store, clock: Clock, fault: str
) -> None:
    smtp.fail_next(fault)
    run(digests)
    assert smtp.received == []
    assert counts(store) == {"failed": 1}
    [failure] = db.unreported_failures(store, "ana")
    assert "550" in failure.error
    clock.advance(minutes=10)
    deliver(digests)
    assert smtp.received == []  # a refused message is not retried
    run(digests)  # its stories are free again, and the footer says what happened
    [message] = smtp.parsed()
    text = plain_text(message)
    assert "was refused by the mail server" in text and "550" in text
    assert "news.example/kursk" in text
    assert db.unreported_failures(store, "ana") == []
    run(digests)
    assert len(smtp.received) == 1


class Crash(BaseException):
    """The process dying: not an Exception, so nothing handles it."""


def test_a_crash_after_the_server_accepted_resends_with_the_same_message_id(
    store: Store, config: Config, smtp: LocalSMTP, clock: Clock
) -> None:
    stored_samples(store)

    async def send_then_die(
        settings: SmtpSettings, message: bytes, sender: str, to: list[str]
    ) -> None:
        await send_message(settings, message, sender, to)
        raise Crash

    dying = Digests(store, config, sender=send_then_die, clock=clock)
    with pytest.raises(Crash):
        run(dying)
    assert len(smtp.received) == 1 and counts(store) == {"pending": 1}

    restarted = Digests(store, config, clock=clock)
    deliver(restarted)  # still leased to the dead process: not yet
    assert len(smtp.received) == 1
    clock.advance(minutes=5)
    deliver(restarted)
    first, second = smtp.parsed()
    assert first["Message-ID"] == second["Message-ID"]
    assert smtp.received[0] == smtp.received[1]
    assert counts(store) == {"sent": 1}
    deliver(restarted)
    run(restarted)
    assert len(smtp.received) == 2


def test_a_crash_before_sending_loses_nothing(
    store: Store, config: Config, smtp: LocalSMTP, clock: Clock
) -> None:
    stored_samples(store)
    Digests(store, config, clock=clock).enqueue("ana")  # recorded, then the process died
    assert smtp.received == [] and counts(store) == {"pending": 1}
    restarted = Digests(store, config, clock=clock)
    run(restarted)  # nothing new to record, but the recorded digest goes out
    [message] = smtp.parsed()
    assert "news.example/kursk" in plain_text(message)
    assert counts(store) == {"sent": 1}


def test_items_are_never_recorded_in_two_digests(digests: Digests, store: Store) -> None:
    outbox = digests.enqueue("ana")
    assert outbox is not None
    taken = db.unsent_items(store, "ana", ["nk-troops"], 0, utcnow() - timedelta(days=1))
    assert taken == []
    clash = NewMessage("ana", "digest", "<x@test>", "ana@desk.test", "s", b"m", [(1, "t")])
    with pytest.raises(db.ItemsTaken):
        db.record_outbox(store, clash, utcnow())
    assert counts(store) == {"pending": 1}  # the clashing message was rolled back whole
    assert digests.enqueue("ana") is None


def test_a_message_is_claimed_by_one_sender_at_a_time(digests: Digests, store: Store) -> None:
    digests.enqueue("ana")
    now = utcnow()
    first = db.claim_due(store, now, timedelta(minutes=5))
    second = db.claim_due(store, now, timedelta(minutes=5))
    assert len(first) == 1 and second == []
    assert db.claim_due(store, now + timedelta(minutes=6), timedelta(minutes=5))


def test_preview_records_and_sends_nothing(digests: Digests, smtp: LocalSMTP, store: Store) -> None:
    message = digests.preview("ana")
    assert "news.example/kursk" in plain_text(message)
    assert counts(store) == {} and smtp.received == []


def test_the_footer_never_calls_feeds_healthy_while_one_is_failing(
    digests: Digests, store: Store, clock: Clock
) -> None:
    """A feed failing for an hour is not named (a passing outage), but the footer no
    longer says that every feed is healthy; past the threshold it is named."""
    feed = store.feeds()[0]
    started = clock.now - timedelta(hours=1)
    failing = FeedState(health="failing", consecutive_failures=3, failing_since=started)
    store.save_feed_poll(feed.id, replace(failing, last_error="HTTP 503"), keep_validators=True)
    text = plain_text(digests.preview("ana"))
    assert "All feeds are healthy." not in text
    assert "1 feed has been failing for less than 24 hours: `monitor feeds list`" in text
    clock.advance(hours=24)
    text = plain_text(digests.preview("ana"))
    assert "Feeds failing for more than 24 hours:" in text and "HTTP 503" in text
    assert "failing for less than" not in text
