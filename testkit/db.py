"""Read a test's database from outside the application: SQLite or PostgreSQL by URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """The rows of one query, on a connection of its own that is closed afterwards.

    Raises `sqlalchemy.exc.DBAPIError` subclasses as the driver does, e.g. while the
    daemon has not created the tables yet.
    """
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()
