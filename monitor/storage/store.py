"""The only code that holds database sessions.

Every write is idempotent: rows are inserted with ON CONFLICT DO NOTHING on
their natural keys, and one article's rows (article, matches, entry) are
written in one transaction, so a crash and restart re-does work without
losing or duplicating it.
"""

from __future__ import annotations

from monitor.storage.feeds import FeedQueries
from monitor.storage.reads import CommandReads


class Store(FeedQueries, CommandReads):
    """The one store: its feeds (`storage.feeds`), articles (`storage.articles`) and the
    commands' reads (`storage.reads`, over the articles), over one engine (`storage.session`)."""
