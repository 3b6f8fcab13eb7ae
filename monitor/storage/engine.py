"""Engine creation and migrations: SQLite tuned for one writer, PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url

from monitor.storage.sqlite_file import SqliteFile, sqlite_path

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_MS = 15_000
MIGRATION_LOCK = 0x6D6F6E6D  # any fixed key, the same in every process


PG_NETWORK_LIMITS = {
    "connect_timeout": "10",
    "tcp_user_timeout": "30000",
    "keepalives": "1",
    "keepalives_idle": "15",
    "keepalives_interval": "5",
    "keepalives_count": "3",
}
"""libpq parameters that bound how long a call waits on a PostgreSQL that went silent.

Without them a server that drops packets (rather than refusing) holds a connection
attempt or a query until the kernel gives up, minutes later: 10 s to connect, 30 s for
sent data to be acknowledged (``tcp_user_timeout``, ms), and keepalives to notice an idle
connection gone. Parameters of the same names in the database URL's query win."""


def pg_network_limits(query: Mapping[str, object]) -> dict[str, str]:
    """`PG_NETWORK_LIMITS` less those the URL sets itself."""
    return {key: value for key, value in PG_NETWORK_LIMITS.items() if key not in query}


def create_store_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and IMMEDIATE write transactions.

    A SQLite file is opened at once, through `SqliteFile`: without ``create``, a missing
    file is `DatabaseMissingError` and nothing is created.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # No pre-ping: it costs a round trip per checkout (14 % of a worker's time,
        # measured). A connection dropped by a server restart fails one operation,
        # which the pipeline records or the task engine retries; the pool then
        # replaces every connection of the lost server.
        return create_engine(
            parsed, pool_recycle=3600, connect_args=pg_network_limits(parsed.query)
        )
    path = sqlite_path(url)
    file = SqliteFile(path, create=create) if path is not None else None
    engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", partial(_sqlite_begin, file))
    if file is not None:
        file.watch(engine)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level so that SQLAlchemy's "begin" event decides the
    # transaction kind: pysqlite's own implicit BEGIN is DEFERRED, and a deferred
    # transaction that later writes can fail at once with "database is locked"
    # instead of waiting for the busy timeout.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(file: SqliteFile | None, connection: Any) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    if mode == "IMMEDIATE" and file is not None:
        # Every write transaction begins here: the one place to refuse writing into a
        # file that is no longer the one at the path.
        file.check()
    connection.exec_driver_sql(f"BEGIN {mode}")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply Alembic migrations up to ``revision`` on ``engine``'s database."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
        if connection.dialect.name == "postgresql":
            # Workers starting together would otherwise race to create the same tables.
            connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest migration this code ships."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()
