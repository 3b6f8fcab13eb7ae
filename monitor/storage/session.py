"""The store's connection and sessions: opening, migrating, checking the file, and
turning driver errors into `StorageError` (`StoreBase`, which each part of `Store`
extends)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session

from monitor.errors import DatabaseDamagedError, DatabaseFileError, StorageError
from monitor.storage.engine import create_store_engine, upgrade
from monitor.storage.sqlite_file import SqliteFile, damage_of
from monitor.storage.tables import ArticleRow, EntryRow, MatchRow


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class StoreBase:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.file = SqliteFile.of(engine)
        self.on_file_error: Callable[[DatabaseFileError], None] | None = None
        """Told of every failure that only an operator can mend (a damaged, missing or
        replaced file), as well as raised: the daemon stops on it rather than fail each
        poll alike."""
        self._writer = engine.execution_options(sqlite_begin="IMMEDIATE")
        self._new_article = (
            self._insert(ArticleRow)
            .on_conflict_do_nothing(index_elements=["canonical_url"])
            .returning(ArticleRow.id)
        )
        self._new_match = self._insert(MatchRow).on_conflict_do_nothing()
        self._new_entry = self._insert(EntryRow).on_conflict_do_nothing(
            index_elements=["feed_id", "key"]
        )

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, create: bool = True) -> Self:
        """The store at ``url``, migrated unless ``migrate`` is false. Commands that only
        use a database pass ``create=False``: a missing SQLite file is then
        `DatabaseMissingError`, rather than a new empty database where the old one was."""
        store = cls(create_store_engine(url, create=create))
        if migrate:
            store.upgrade()
        return store

    def upgrade(self) -> None:
        with self._failures("migration"):
            upgrade(self.engine)

    def check_integrity(self) -> None:
        """Raise `DatabaseDamagedError` unless SQLite's quick check finds a sound file.

        It reads every page (about 0.5 s a gigabyte when cached, measured): worth it when
        the daemon starts, not on every command, which meet damage when they read it."""
        if self.file is None:
            return
        with self._failures("integrity check"), self.engine.connect() as connection:
            problems = [str(row[0]) for row in connection.exec_driver_sql("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise DatabaseDamagedError(self.file.path, "; ".join(problems))

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """Raise `StorageError` unless the database answers."""
        with self.reading() as session:
            session.execute(select(1))

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read session; a locked or broken database is a `StorageError`, like writes."""
        with self._failures("read"), Session(self.engine) as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE)."""
        with self._failures("write"), Session(self._writer) as session, session.begin():
            yield session

    # The per-article and per-feed calls use plain connections: building an ORM session
    # costs more than the query itself (measured: 1.5-2.5 ms a lookup on SQLite).

    @contextmanager
    def connected(self) -> Iterator[Connection]:
        """`reading`, without the ORM: rows, not mapped objects."""
        with self._failures("read"), self.engine.connect() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """`writing`, without the ORM."""
        with self._failures("write"), self._writer.begin() as connection:
            yield connection

    @contextmanager
    def _failures(self, what: str) -> Iterator[None]:
        """Driver errors as `StorageError`; a file only an operator can mend also goes
        to `on_file_error`. Other errors (a constraint broken: a bug) pass unchanged."""
        try:
            yield
        except DatabaseFileError as exc:
            self._file_failed(exc)
            raise
        except DatabaseError as exc:
            reason = damage_of(exc)
            if reason is not None and self.file is not None:
                damaged = DatabaseDamagedError(self.file.path, reason)
                self._file_failed(damaged)
                raise damaged from exc
            if not isinstance(exc, OperationalError):
                raise
            raise StorageError(f"database {what} failed: {exc.orig}") from exc

    def _file_failed(self, exc: DatabaseFileError) -> None:
        if self.on_file_error is not None:
            self.on_file_error(exc)

    def _insert(self, table: Any) -> Any:
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table)


def chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
