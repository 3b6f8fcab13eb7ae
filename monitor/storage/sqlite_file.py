"""The SQLite file under a store: still the file it opened, undamaged, and copied safely.

SQLite works on an open file, not on a path. A file deleted or replaced under a running
process goes on taking its writes, and they vanish when the process exits; a command run
meanwhile finds nothing at the path and would create an empty database there. So an
engine opens its file through `SqliteFile`, which

- refuses a missing file unless the caller is one that creates databases;
- lets no later connection create a file (SQLite's ``mode=rw``), nor open a different one;
- before each write transaction compares the device and inode at the path with those of
  the file opened, and on a mismatch fails the write with `DatabaseReplacedError`, after
  saving what the old file holds beside the path. It can, because it keeps a connection
  of its own open on that file for as long as the engine lives.

Damage (a truncated file, pages of garbage, a file that is not a database) shows up as
SQLite's SQLITE_CORRUPT or SQLITE_NOTADB, whatever the statement; `damage_of` finds it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from monitor.errors import (
    DatabaseDamagedError,
    DatabaseMissingError,
    DatabaseReplacedError,
    StorageError,
)

SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26
RESCUE_RETRY_SECONDS = 60.0
"""After a failed rescue (a full disk, say), how long writes fail before it is tried again:
each attempt copies the whole file."""

_FILES: weakref.WeakKeyDictionary[Engine, SqliteFile] = weakref.WeakKeyDictionary()
# One copy per lost file, whichever of the process's engines on it finds it lost first.
_RESCUES: dict[tuple[int, int], Path] = {}
_RESCUE_LOCK = threading.Lock()


def sqlite_path(url: str) -> Path | None:
    """The absolute path of a SQLite file URL; None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(os.path.abspath(parsed.database))


def damage_of(exc: BaseException) -> str | None:
    """SQLite's own words when ``exc`` (or the driver error it wraps) says the file is
    damaged or not a database; None for any other error."""
    error = getattr(exc, "orig", None) or exc
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return str(error)
    return None


class SqliteFile:
    """One engine's SQLite file, opened once and watched while the engine lives."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        self._anchor = open_file(path, create=create)
        opened = _file_id(path)
        if opened is None:  # deleted between the two calls
            self._anchor.close()
            raise DatabaseMissingError(path)
        self._opened = opened
        self._deleted: bool | None = None  # set, for good, once the file is found gone
        self._rescued_to: Path | None = None
        self._rescue_error: str | None = None
        self._next_rescue = 0.0
        self._holds_wal = False

    @classmethod
    def of(cls, engine: Engine) -> SqliteFile | None:
        """The file under ``engine``; None for PostgreSQL or an in-memory database."""
        return _FILES.get(engine)

    def watch(self, engine: Engine) -> None:
        """Make ``engine``'s connections open only this file; closed with the engine.

        Call it after the listener that sets WAL mode: each connection then opens the
        anchor's write-ahead log too (`_hold_wal`)."""
        _FILES[engine] = self
        event.listen(engine, "do_connect", self._connect)
        event.listen(engine, "connect", self._hold_wal)
        event.listen(engine, "engine_disposed", lambda _engine: self._anchor.close())

    def _connect(
        self, _dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> None:
        self.check()
        cargs[0] = _uri(self.path, "rw")
        cparams["uri"] = True

    def _hold_wal(self, _dbapi_connection: Any, _record: Any) -> None:
        """Have the anchor open the write-ahead log while it is still at its path.

        The latest commits live in ``FILE-wal`` until a checkpoint; a rescue after
        ``rm FILE*`` has them only if the anchor holds that file open. A read does it,
        and SQLite keeps the log open until the connection closes."""
        if self._holds_wal:
            return
        with _RESCUE_LOCK:
            self._anchor.execute("PRAGMA schema_version").fetchone()
            self._holds_wal = True

    def check(self) -> None:
        """Raise `DatabaseReplacedError` unless the path still names the file opened.

        Once the file is found gone, it stays gone for this engine: a file put back at
        the path later is not the one this process has been writing.
        """
        current = _file_id(self.path)
        if self._deleted is None and current == self._opened:
            return
        with _RESCUE_LOCK:  # also keeps the anchor to one thread at a time
            if self._deleted is None:
                self._deleted = current is None
            if self._rescued_to is None and time.monotonic() >= self._next_rescue:
                self._rescue()
            raise DatabaseReplacedError(
                self.path,
                deleted=self._deleted,
                rescued_to=self._rescued_to,
                rescue_error=self._rescue_error,
            )

    def _rescue(self) -> None:
        """Save what the opened file holds beside the path, before the process lets go of it."""
        if self._opened in _RESCUES:
            self._rescued_to = _RESCUES[self._opened]
            return
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.rescued-{stamp}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_database(self._anchor, self.path, target, force=False)
        except (OSError, sqlite3.Error, StorageError) as exc:
            self._rescue_error = str(exc)
            self._next_rescue = time.monotonic() + RESCUE_RETRY_SECONDS
        else:
            self._rescued_to = _RESCUES[self._opened] = target


def open_file(path: Path, *, create: bool) -> sqlite3.Connection:
    """A driver connection on the file at ``path``; `DatabaseMissingError` if there is none
    and ``create`` is false (then nothing is created, not even the folder)."""
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise DatabaseMissingError(path)
    try:
        return sqlite3.connect(
            _uri(path, "rwc" if create else "rw"),
            uri=True,
            check_same_thread=False,
            isolation_level=None,
        )
    except sqlite3.OperationalError as exc:
        if not create and not path.exists():
            raise DatabaseMissingError(path) from exc
        raise StorageError(f"cannot open the database file {path}: {exc}") from exc


def backup_file(source: Path, dest: Path, *, force: bool) -> int:
    """Back the database at ``source`` up to ``dest`` (see `copy_database`); its size in bytes.

    The source is opened as the store opens it, so a missing file is `DatabaseMissingError`
    and a damaged one `DatabaseDamagedError`.
    """
    connection = open_file(source, create=False)
    try:
        copy_database(connection, source, dest, force=force)
    finally:
        connection.close()
    return dest.stat().st_size


def copy_database(source: sqlite3.Connection, source_path: Path, dest: Path, *, force: bool) -> int:
    """Copy the database of ``source`` to ``dest``; the number of pages copied.

    SQLite's online backup copies a consistent snapshot while other connections and
    processes go on writing (in WAL mode a reader never blocks the writer). The copy is
    made in a temporary file beside ``dest``, checked, and only then moved into place, so
    ``dest`` is never a partial or damaged copy. Without ``force`` an existing ``dest`` is
    left alone (`FileExistsError`), even one that appears while copying.
    """
    if dest.exists() and not force:
        raise FileExistsError(f"{dest} already exists")
    fd, temporary = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with contextlib.suppress(FileNotFoundError):  # a rescued file is gone from its path
            shutil.copymode(source_path, temporary)
        pages = _copy_into(source, source_path, Path(temporary))
        if force:
            os.replace(temporary, dest)
        else:
            os.link(temporary, dest)  # unlike a rename, fails if dest exists by now
    finally:
        Path(temporary).unlink(missing_ok=True)
    return pages


def _copy_into(source: sqlite3.Connection, source_path: Path, target: Path) -> int:
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        source.backup(copy)
        # One self-contained file: a rollback journal, not WAL files beside it.
        copy.execute("PRAGMA journal_mode=DELETE")
        problems = [row[0] for row in copy.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise DatabaseDamagedError(source_path, "; ".join(problems))
        return int(copy.execute("PRAGMA page_count").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        reason = damage_of(exc)
        if reason is None:
            raise
        raise DatabaseDamagedError(source_path, reason) from exc
    finally:
        copy.close()


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def _uri(path: Path, mode: str) -> str:
    return f"file:{quote(str(path))}?mode={mode}"
