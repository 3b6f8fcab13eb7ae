"""When a page that failed for a transient reason is fetched again: a pure decision.

The first retry waits ``page_retry_minutes``, each later one ``page_retry_factor``
times longer (5, 15, 45, 135 minutes by default), at most ``page_retries`` times and
never later than ``page_retry_window_hours`` after the first attempt. After that the
article keeps its feed summary as text, and the reason, for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.settings import PollingSettings


def next_page_retry(
    retries_done: int, first_attempt: datetime, now: datetime, polling: PollingSettings
) -> datetime | None:
    """When to fetch the page again after ``retries_done`` retries; None: never again."""
    if retries_done >= polling.page_retries:
        return None
    wait = timedelta(minutes=polling.page_retry_minutes * polling.page_retry_factor**retries_done)
    when = now + wait
    if when > first_attempt + timedelta(hours=polling.page_retry_window_hours):
        return None
    return when


def check_every_seconds(polling: PollingSettings) -> int:
    """How often the daemon and the workers look for pages due again: every 30 s, or the
    first retry's wait if that is shorter (tests set it to 0: every second)."""
    return int(min(max(polling.page_retry_minutes * 60, 1), 30))


@dataclass
class RetryReport:
    """What one run of `Pipeline.retry_pages` did."""

    retried: int = 0
    recovered: int = 0  # the page arrived; its text replaced the summary
    matched: int = 0  # of those, matched to a topic
    failed: int = 0  # failed again, tried later
    gave_up: int = 0  # failed again, for good (a permanent failure, or the last retry)

    def count(self, outcome: str) -> None:
        self.retried += 1
        if outcome == "matched":
            self.matched += 1
            outcome = "recovered"
        setattr(self, outcome, getattr(self, outcome) + 1)
