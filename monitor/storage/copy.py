"""Copy every row of a monitor database into another one: SQLite → PostgreSQL, and back.

`copy_database` is what ``monitor db copy`` runs. In order, it

1. refuses when source and target are the same database, when the SQLite source does
   not exist, or while a daemon holds the SQLite source (`StoreLock`): a copy of a
   database that is being written misses the writes made meanwhile;
2. refuses unless the source is at the migrations' head revision, then migrates the
   target to the head;
3. in one target transaction: refuses if any of our tables in the target holds rows
   (or, with ``replace``, empties them), copies every table, parents before children,
   in batches of plain executemany INSERTs that keep every primary key, and on
   PostgreSQL moves each id sequence past the highest id copied;
4. counts each table's rows on both sides after the commit (`CopyReport.ok`).

The source is opened read-only (SQLite ``mode=ro``; PostgreSQL ``READ ONLY``), in one
snapshot, and never written. Values travel as Python objects through the tables'
SQLAlchemy types, so JSON stays JSON and bytes stay bytes; every datetime is made
timezone-aware UTC, as SQLite hands them back naive (see `as_utc`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from monitor.errors import AlreadyRunningError, CopyError
from monitor.storage.copy_tables import (
    BATCH_ROWS,
    Progress,
    TablePlan,
    copy_table,
    plan_tables,
    reset_sequences,
)
from monitor.storage.engine import MIGRATIONS, create_store_engine, current_revision, upgrade
from monitor.storage.lock import StoreLock


@dataclass(frozen=True, slots=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


@dataclass
class CopyReport:
    source: str  # URLs with any password hidden
    target: str
    revision: str
    replaced: bool
    seconds: float = 0.0
    tables: list[TableCount] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(count.ok for count in self.tables)

    @property
    def rows(self) -> int:
        return sum(count.target for count in self.tables)


def shown(url: str) -> str:
    """``url`` with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def head_revision() -> str:
    """The revision the migrations end at: the schema this code reads and writes."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    if len(heads) != 1:
        raise CopyError(f"the migrations in {MIGRATIONS} have {len(heads)} heads, not one")
    return str(heads[0])


def copy_database(
    source_url: str,
    target_url: str,
    *,
    replace: bool = False,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[Progress], None] | None = None,
) -> CopyReport:
    """Copy every row of our tables from ``source_url`` to ``target_url``; see the module."""
    started = time.monotonic()
    source_parsed, target_parsed = _parse(source_url, "--from"), _parse(target_url, "--to")
    if _same_database(source_parsed, target_parsed):
        raise CopyError(
            f"the source and the target are the same database ({shown(source_url)}); "
            "--from defaults to database.url in the settings (or MONITOR_DATABASE__URL): "
            "name the database to copy from with --from"
        )
    _require_sqlite_file(source_parsed, source_url)
    with ExitStack() as stack:
        stack.enter_context(_locked(source_url, "source"))
        stack.enter_context(_locked(target_url, "target"))
        source = _source_engine(source_parsed)
        stack.callback(source.dispose)
        target = create_store_engine(target_url)
        stack.callback(target.dispose)

        head = head_revision()
        _check_source_revision(source, source_url, head)
        _migrate_target(target, target_url)
        report = CopyReport(shown(source_url), shown(target_url), head, replace)

        counts: dict[str, int] = {}
        try:
            plans = plan_tables(source, target)
            with _snapshot(source) as reading, _write_transaction(target) as writing:
                _empty_target(writing, plans, target_url, replace)
                for plan in plans:
                    total = reading.scalar(select(func.count()).select_from(plan.source)) or 0
                    counts[plan.name] = int(total)
                    copy_table(reading, writing, plan, int(total), batch_rows, progress)
                if target.dialect.name == "postgresql":
                    reset_sequences(writing, plans)
        except CopyError:
            raise
        except SQLAlchemyError as exc:
            raise CopyError(
                f"copying into {shown(target_url)} failed, nothing was written: "
                f"{getattr(exc, 'orig', None) or exc}"
            ) from exc

        with target.connect() as connection:
            for plan in plans:
                copied = connection.scalar(select(func.count()).select_from(plan.target)) or 0
                report.tables.append(TableCount(plan.name, counts[plan.name], int(copied)))
    report.seconds = time.monotonic() - started
    return report


# --- refusals ------------------------------------------------------------------


def _parse(url: str, option: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise CopyError(
            f"{option} {url!r} is not a database URL; use sqlite:///path/to/monitor.db or "
            "postgresql://user@host/dbname"
        ) from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise CopyError(
            f"{option} {shown(url)}: only SQLite (sqlite:///path) and PostgreSQL "
            "(postgresql://user@host/dbname) databases are supported"
        )
    return parsed


def _same_database(a: URL, b: URL) -> bool:
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        if a.database in (None, "", ":memory:") or b.database in (None, "", ":memory:"):
            return False
        return Path(a.database or "").resolve() == Path(b.database or "").resolve()

    def where(url: URL) -> tuple[Any, ...]:
        query = tuple(sorted((k, str(v)) for k, v in url.query.items()))
        return (url.host or "localhost", url.port or 5432, url.database, query)

    return where(a) == where(b)


def _require_sqlite_file(parsed: URL, url: str) -> None:
    if parsed.get_backend_name() != "sqlite":
        return
    if parsed.database in (None, "", ":memory:"):
        raise CopyError(f"--from {shown(url)} is an in-memory database: there is nothing to copy")
    if not Path(parsed.database or "").is_file():
        raise CopyError(
            f"there is no database file at {Path(parsed.database or '').resolve()} "
            f"(from {shown(url)}); check --from, or database.url in the settings"
        )


@contextmanager
def _locked(url: str, role: str) -> Iterator[None]:
    """Hold a SQLite database's daemon lock for the whole copy, so no daemon can start."""
    lock = StoreLock.for_url(url)
    try:
        lock.__enter__()
    except AlreadyRunningError:
        pid = ""
        if lock.path is not None:
            try:
                pid = lock.path.read_text(encoding="utf-8").strip()
            except OSError:
                pid = ""
        holder = f"a monitor daemon (pid {pid})" if pid else "a monitor daemon"
        raise CopyError(
            f"{holder} is using the {role} database {shown(url)}; stop it first "
            "(Ctrl-C, or kill the process), then run the copy again: a copy of a database "
            "that is being written would miss every write made during the copy"
        ) from None
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def _check_source_revision(source: Engine, url: str, head: str) -> None:
    try:
        revision = current_revision(source)
    except SQLAlchemyError as exc:
        raise CopyError(
            f"cannot read the source database {shown(url)}: {getattr(exc, 'orig', None) or exc}"
        ) from exc
    if revision == head:
        return
    if revision is None:
        raise CopyError(
            f"the source {shown(url)} is not a monitor database (it has no schema revision); "
            "check --from, or database.url in the settings"
        )
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if revision in known:
        raise CopyError(
            f"the source {shown(url)} is at schema revision {revision}, not {head}: upgrade it "
            f"first with `MONITOR_DATABASE__URL={shown(url)} monitor db upgrade` (or plain "
            "`monitor db upgrade` when it is your database.url), then copy again"
        )
    raise CopyError(
        f"the source {shown(url)} is at schema revision {revision}, which this version of "
        f"monitor (head {head}) does not know: copy it with the version that wrote it"
    )


def _migrate_target(target: Engine, url: str) -> None:
    from alembic.util.exc import CommandError

    try:
        upgrade(target)
    except CommandError as exc:
        raise CopyError(
            f"cannot migrate the target {shown(url)}: {exc}; it may have been written by a "
            "newer version of monitor"
        ) from exc
    except SQLAlchemyError as exc:
        raise CopyError(
            f"cannot open or migrate the target {shown(url)}: {getattr(exc, 'orig', None) or exc}"
        ) from exc


def _empty_target(writing: Connection, plans: Sequence[TablePlan], url: str, replace: bool) -> None:
    """Refuse a target that holds rows, or (``replace``) delete them, children first."""
    if replace:
        for plan in reversed(plans):
            writing.execute(delete(plan.target))
        return
    filled = [
        f"{plan.name} ({rows:,} rows)"
        for plan in plans
        if (rows := int(writing.scalar(select(func.count()).select_from(plan.target)) or 0))
    ]
    if filled:
        raise CopyError(
            f"the target {shown(url)} already holds rows: {', '.join(filled)}; nothing was "
            "copied. Copy into an empty database, or add --replace to delete those rows first "
            "(in the same transaction as the copy)"
        )


# --- engines and transactions ------------------------------------------------------


def _source_engine(parsed: URL) -> Engine:
    """The source, read-only: SQLite opened with ``mode=ro``, PostgreSQL as usual."""
    if parsed.get_backend_name() != "sqlite":
        return create_store_engine(parsed.render_as_string(hide_password=False))
    path = Path(parsed.database or "").resolve()

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
        connection.isolation_level = None  # transactions begin where `_begin` says
        return connection

    engine = create_engine("sqlite://", creator=connect)
    event.listen(engine, "begin", _begin)
    return engine


def _begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


@contextmanager
def _snapshot(source: Engine) -> Iterator[Connection]:
    """One read transaction over every table: a consistent view of the source."""
    options: dict[str, Any] = {}
    if source.dialect.name == "postgresql":
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with source.connect().execution_options(**options) as connection, connection.begin():
        yield connection


@contextmanager
def _write_transaction(target: Engine) -> Iterator[Connection]:
    with target.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
        yield connection


# --- what to copy --------------------------------------------------------------------
