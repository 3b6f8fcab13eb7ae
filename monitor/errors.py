"""The exception tree of `monitor`.

Every error carries the resource it is about (a URL, a file, a topic id) so that
``str(error)`` says what went wrong, where, and — for configuration — how to fix it::

    MonitorError
    ├── ConfigError              the config files or environment are wrong (exit 2)
    │   └── TopicQueryError      one topic's query does not parse or names an unknown list
    ├── FetchError               an HTTP request failed (url, status, reason)
    │   ├── BlockedURLError      the URL or an address it resolves to is not allowed
    │   └── ResponseTooLargeError the decoded body went past the size cap
    ├── FeedParseError           the bytes fetched are not a usable feed
    ├── ExtractError             no article text could be extracted from a page
    ├── InvalidURLError          a string is not an http(s) URL that can be canonicalised
    ├── StorageError             the database refused or is unreachable
    │   └── DatabaseFileError    the SQLite file itself is unusable: waiting will not help
    │       ├── DatabaseDamagedError  not a database, or its pages are corrupt
    │       ├── DatabaseMissingError  no file at the path, and the command does not create one
    │       └── DatabaseReplacedError the file was deleted or replaced under a running store
    └── AlreadyRunningError      another daemon holds the same store

Foreign exceptions (aiohttp, feedparser, SQLAlchemy) are wrapped at the module
boundary with ``raise ... from``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.text import counted


class MonitorError(Exception):
    """Base class of every error this package raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the configuration.

    ``where`` is a file (and line, when known); ``key`` a dotted path such as
    ``feeds[3].interval``; ``message`` says what is expected.
    """

    where: str
    key: str
    message: str

    def __str__(self) -> str:
        key = f" {self.key}:" if self.key else ""
        return f"{self.where}:{key} {self.message}"


class ConfigError(MonitorError):
    """The configuration has one or more problems; all are listed."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{counted(len(problems), 'configuration problem')}:\n{lines}")


class TopicQueryError(MonitorError):
    """A topic's query cannot be compiled.

    ``position`` is a 0-based character offset into the query as written,
    or ``None`` when the problem is not at one place (e.g. an empty query).
    """

    def __init__(self, topic_id: str, message: str, position: int | None = None) -> None:
        self.topic_id = topic_id
        self.message = message
        self.position = position
        at = f" at position {position}" if position is not None else ""
        super().__init__(f"topic {topic_id!r}: {message}{at}")


class FetchError(MonitorError):
    """An HTTP request did not give a usable response.

    ``transient``: the failure was on the way (a timeout, a connection refused or
    dropped, a name that did not resolve), not in what the server answered; asking
    again later may work. `monitor.pipeline.fetch.is_transient` adds the statuses.
    """

    def __init__(
        self,
        url: str,
        reason: str,
        status: int | None = None,
        retry_after: float | None = None,
        *,
        transient: bool = False,
    ) -> None:
        self.url = url
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.transient = transient
        status_part = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"fetching {url} failed{status_part}: {reason}")


class BlockedURLError(FetchError):
    """The URL's scheme or address is outside what the egress policy allows."""


class ResponseTooLargeError(FetchError):
    """The decoded response body exceeded the configured cap."""


class FeedParseError(MonitorError):
    """The fetched document is not a feed, or too broken to yield entries."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url} is not a usable feed: {reason}")


class ExtractError(MonitorError):
    """No article text could be extracted from a page.

    ``transient``: the extraction ran out of time (a stalled or overloaded host can do
    that to any page), as opposed to a page that has no text or breaks the extractor.
    """

    def __init__(self, url: str, reason: str, *, transient: bool = False) -> None:
        self.url = url
        self.reason = reason
        self.transient = transient
        super().__init__(f"extracting {url} failed: {reason}")


class InvalidURLError(MonitorError):
    """A string from a feed or a page is not an absolute http(s) URL with a host."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        shown = url if len(url) <= 200 else url[:200] + "…"
        super().__init__(f"not a usable URL {shown!r}: {reason}")


class StorageError(MonitorError):
    """The database could not be read or written."""


class DatabaseFileError(StorageError):
    """The SQLite file cannot be used as it is; an operator has to act.

    Unlike a locked or unreachable database, retrying does not help, so the daemon stops
    instead of waiting, and every message says what to do.
    """

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(message)


class DatabaseDamagedError(DatabaseFileError):
    """The file is not a SQLite database, or SQLite found corrupt pages in it."""

    def __init__(self, path: Path, reason: str) -> None:
        self.reason = reason
        super().__init__(
            path,
            f"the database file {path} is damaged ({reason}). Stop monitor, then either "
            f"restore the latest backup (made with `monitor db backup`), or salvage what is "
            f'left: sqlite3 {path} ".recover" | sqlite3 {path}.recovered, and move '
            f"{path}.recovered to {path}. Delete {path}-wal and {path}-shm before starting "
            "again: SQLite would apply them to the new file",
        )


class DatabaseMissingError(DatabaseFileError):
    """There is no file at the configured path, and this command only uses an existing one."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            path,
            f"the database file {path} does not exist. Check database.url in the settings "
            "(or MONITOR_DATABASE__URL), restore the file from a backup, or create a new "
            "database with `monitor db upgrade` or `monitor run`",
        )


class DatabaseReplacedError(DatabaseFileError):
    """The file the store opened is no longer the one at its path: deleted, or replaced.

    SQLite would go on writing into the unlinked file, and all of it would vanish when
    the process exits; so writes stop, and what the store held is saved beside the path.
    ``rescued_to`` is that copy, or None while saving it fails (``rescue_error`` says why).
    """

    def __init__(
        self, path: Path, *, deleted: bool, rescued_to: Path | None, rescue_error: str | None
    ) -> None:
        self.deleted = deleted
        self.rescued_to = rescued_to
        self.rescue_error = rescue_error
        happened = "deleted" if deleted else "replaced by another file"
        if rescued_to is not None:
            keep = "" if deleted else " (or keep the file now there)"
            saved = (
                f"Everything stored until then is saved in {rescued_to}: stop monitor, delete "
                f"{path}-wal and {path}-shm, move {rescued_to} to {path}{keep}, and start again"
            )
        else:
            saved = (
                f"Saving what it held beside {path} failed ({rescue_error}); it is tried "
                "again before later writes. Fix the cause (disk space, permissions on the "
                "folder) and do not stop monitor until it says where it saved the copy"
            )
        super().__init__(
            path,
            f"the database file {path} was {happened} while monitor was using it; nothing "
            f"more is written to it. {saved}",
        )


class AlreadyRunningError(MonitorError):
    """Another daemon already holds the lock on the same store."""


class OPMLError(MonitorError):
    """An OPML document is not well-formed, or not OPML at all."""

    def __init__(
        self, source: str, reason: str, line: int | None = None, column: int | None = None
    ) -> None:
        self.source = source
        self.reason = reason
        self.line = line
        self.column = column
        where = f"{source}, line {line}" if line else source
        where += f", column {column}" if line and column else ""
        super().__init__(f"{where}: {reason}")


class UnknownSubscriberError(MonitorError, LookupError):
    """No subscriber of that name is configured."""


class DeliveryError(MonitorError):
    """The mail server did not accept a message."""

    def __init__(self, reason: str, *, temporary: bool, code: int | None = None) -> None:
        self.reason = reason
        self.temporary = temporary
        self.code = code
        kind = "temporary" if temporary else "permanent"
        code_part = f" {code}" if code is not None else ""
        super().__init__(f"SMTP delivery failed ({kind}{code_part}): {reason}")


class CopyError(StorageError):
    """The copy was refused or failed; the message says what, where and what to do."""


class SignatureError(MonitorError, ValueError):
    """Bytes that are not a signature this code can read."""


class LabelError(MonitorError, ValueError):
    """A labelled record is missing a field or has one of the wrong type."""


class SourceError(MonitorError, ValueError):
    """A CLDR source names no territory CLDR knows."""


class TermError(MonitorError, ValueError):
    """A term cannot be compiled; ``offset`` is where in the written term."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class DecodingError(MonitorError):
    """The body does not decode with its declared Content-Encoding (the fetcher raises
    it as a `FetchError` naming it)."""
