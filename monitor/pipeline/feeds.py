"""When is a feed due, and what is its health after a poll: pure decisions.

A feed is polled on its interval; after failures it backs off exponentially
(with jitter, up to a ceiling) but is never given up for good. A server's
Retry-After pushes the next poll later, within the ceiling.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.models import FeedState, Health, OutcomeKind

GONE_AFTER_404 = timedelta(days=3)
STALE_MIN = timedelta(days=3)
STALE_INTERVALS = 50
REDIRECT_CONFIRMATIONS = 3


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll found."""

    kind: OutcomeKind
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    new_entries: int = 0
    degraded_reason: str | None = None


def is_due(state: FeedState, now: datetime) -> bool:
    return state.next_poll_at is None or state.next_poll_at <= now


def backoff(
    failures: int, interval: timedelta, ceiling: timedelta, rng: random.Random
) -> timedelta:
    """Interval × 2^(failures-1), capped, with ±10% jitter so failing feeds spread out."""
    exponent = min(max(failures - 1, 0), 30)
    delay: timedelta = min(interval * (2**exponent), ceiling)
    return delay * rng.uniform(0.9, 1.1)


def after_poll(
    state: FeedState,
    outcome: PollOutcome,
    now: datetime,
    interval: timedelta,
    ceiling: timedelta,
    rng: random.Random | None = None,
) -> FeedState:
    """The feed's state once ``outcome`` is recorded, including when to poll next."""
    rng = rng or random.Random()
    if outcome.kind == "failed":
        return _after_failure(state, outcome, now, interval, ceiling, rng)
    last_new = now if outcome.new_entries else state.last_new_entry_at
    health: Health = "degraded" if outcome.degraded_reason else "ok"
    if _is_stale(last_new or state.last_success_at or now, now, interval):
        health = "stale"
    return replace(
        state,
        health=health,
        consecutive_failures=0,
        failing_since=None,
        last_success_at=now,
        last_new_entry_at=last_new,
        next_poll_at=now + interval,
        last_status=outcome.status,
        last_error=outcome.degraded_reason,
    )


def _after_failure(
    state: FeedState,
    outcome: PollOutcome,
    now: datetime,
    interval: timedelta,
    ceiling: timedelta,
    rng: random.Random,
) -> FeedState:
    failures = state.consecutive_failures + 1
    failing_since = state.failing_since or now
    delay = backoff(failures, interval, ceiling, rng)
    if outcome.retry_after is not None:
        delay = max(delay, min(timedelta(seconds=outcome.retry_after), ceiling))
    health: Health = "failing"
    if outcome.status == 410 or (
        outcome.status == 404 and state.last_status == 404 and now - failing_since >= GONE_AFTER_404
    ):
        health = "gone"
        delay = ceiling
    return replace(
        state,
        health=health,
        consecutive_failures=failures,
        failing_since=failing_since,
        next_poll_at=now + delay,
        last_status=outcome.status,
        last_error=outcome.error,
    )


def after_redirect(
    state: FeedState, target: str | None, confirmations: int = REDIRECT_CONFIRMATIONS
) -> FeedState:
    """Count a successful poll's permanent redirect (or its absence).

    The feed moves only once the same target has been seen ``confirmations`` polls in
    a row: one misconfigured response must not re-point a feed for good. A poll that
    is not redirected, or is redirected elsewhere, starts the count again.
    """
    if target is None or target == state.moved_to:
        return replace(state, redirect_target=None, redirect_count=0)
    count = state.redirect_count + 1 if target == state.redirect_target else 1
    if count >= confirmations:
        return replace(state, redirect_target=None, redirect_count=0, moved_to=target)
    return replace(state, redirect_target=target, redirect_count=count)


def _is_stale(last_new: datetime, now: datetime, interval: timedelta) -> bool:
    return now - last_new > max(STALE_MIN, interval * STALE_INTERVALS)
