"""The rows of `copy`: which tables, in which order, and each table copied in batches.

A plan per table the migrations define (`schema_tables`, parents before children); each
table is read in key order and written in batches of plain executemany INSERTs that
keep every primary key, with every datetime made timezone-aware UTC and, on
PostgreSQL, every string checked against its column's length first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import sqltypes

from monitor.errors import CopyError
from monitor.storage.engine import upgrade
from monitor.storage.tables import Base

BATCH_ROWS = 5_000
BATCH_BYTES = 32 * 1024 * 1024
"""A batch is flushed at this many bytes of text and binary values, whatever its rows."""

VERSION_TABLE = "alembic_version"


@dataclass(frozen=True, slots=True)
class Progress:
    """Rows of ``table`` written so far, out of ``total``; ``finished`` once per table."""

    table: str
    copied: int
    total: int
    finished: bool = False


@dataclass(frozen=True, slots=True)
class TablePlan:
    """One table to copy: how to read it from the source and write it to the target."""

    name: str
    source: Table
    target: Table
    columns: tuple[str, ...]
    datetimes: frozenset[str]
    limits: tuple[tuple[str, int | None], ...]  # string columns checked on PostgreSQL
    self_refs: tuple[str, ...]  # columns referring to this table's own key


def schema_tables() -> list[str]:
    """Every table the migrations create (bar Alembic's own), parents before children.

    The migrations are run on a scratch in-memory SQLite database, so a table that a
    migration adds without a class in ``tables.py`` is copied too.
    """
    scratch = create_engine("sqlite://", poolclass=StaticPool)
    try:
        upgrade(scratch)
        reflected = MetaData()
        reflected.reflect(scratch)
        return [t.name for t in reflected.sorted_tables if t.name != VERSION_TABLE]
    finally:
        scratch.dispose()


def plan_tables(source: Engine, target: Engine) -> list[TablePlan]:
    """A plan per table the migrations define, in their parents-first order."""
    source_tables = set(inspect(source).get_table_names())
    reflected_source, reflected_target = MetaData(), MetaData()
    plans = []
    for name in schema_tables():
        if name not in source_tables:
            raise CopyError(f"the source has no table {name!r} though it is at the head revision")
        declared = Base.metadata.tables.get(name)
        actual = {c["name"] for c in inspect(target).get_columns(name)}
        if declared is not None and actual <= set(declared.columns.keys()):
            read, write = declared, declared
        else:  # a table (or columns) only the migrations know: each side's own types
            read = Table(name, reflected_source, autoload_with=source)
            write = Table(name, reflected_target, autoload_with=target)
        plans.append(_plan(read, write, target.dialect.name == "postgresql"))
    return plans


def _plan(read: Table, write: Table, check_strings: bool) -> TablePlan:
    columns = tuple(c.name for c in write.columns)
    datetimes = frozenset(c.name for c in write.columns if isinstance(c.type, sqltypes.DateTime))
    limits = tuple(
        (c.name, c.type.length)
        for c in write.columns
        if check_strings and isinstance(c.type, String)
    )
    self_refs = tuple(
        c.name
        for c in write.columns
        if any(fk.column.table.name == write.name for fk in c.foreign_keys)
    )
    return TablePlan(write.name, read, write, columns, datetimes, limits, self_refs)


# --- copying -------------------------------------------------------------------------


def copy_table(
    reading: Connection,
    writing: Connection,
    plan: TablePlan,
    total: int,
    batch_rows: int,
    progress: Callable[[Progress], None] | None,
) -> None:
    key = _integer_key(plan.target)
    order = [plan.source.c[c.name] for c in plan.target.primary_key.columns] or [
        plan.source.c[name] for name in plan.columns
    ]
    query = select(*(plan.source.c[name] for name in plan.columns)).order_by(*order)
    result = reading.execution_options(yield_per=min(batch_rows, 1_000)).execute(query)
    insert = plan.target.insert()
    batch: list[dict[str, Any]] = []
    size = copied = 0
    deferred: list[dict[str, Any]] = []  # self-references to rows not yet written
    for values in result:
        row = dict(zip(plan.columns, values, strict=True))
        for name in plan.datetimes:
            row[name] = _utc(row[name])
        size += _check(plan, row)
        for name in plan.self_refs:
            ref = row[name]
            if ref is not None and (key is None or ref > row[key]):
                deferred.append({"_key": row[key] if key else None, "_col": name, "_ref": ref})
                row[name] = None
        batch.append(row)
        if len(batch) >= batch_rows or size >= BATCH_BYTES:
            writing.execute(insert, batch)
            copied += len(batch)
            batch, size = [], 0
            if progress:
                progress(Progress(plan.name, copied, total))
    if batch:
        writing.execute(insert, batch)
        copied += len(batch)
    _restore_self_refs(writing, plan, key, deferred)
    if progress:
        progress(Progress(plan.name, copied, total, finished=True))


def _integer_key(table: Table) -> str | None:
    """The name of a table's single integer primary key column, if it has one."""
    keys: list[Column[Any]] = list(table.primary_key.columns)
    if len(keys) == 1 and isinstance(keys[0].type, sqltypes.Integer):
        return keys[0].name
    return None


def _restore_self_refs(
    writing: Connection, plan: TablePlan, key: str | None, deferred: list[dict[str, Any]]
) -> None:
    """Set the references written as NULL because they pointed at a later row."""
    if not deferred:
        return
    if key is None:
        raise CopyError(
            f"table {plan.name} refers to itself but has no single integer key to "
            "restore those references by"
        )
    for name in plan.self_refs:
        rows = [{"_key": d["_key"], "_ref": d["_ref"]} for d in deferred if d["_col"] == name]
        if rows:
            statement = (
                update(plan.target)
                .where(plan.target.c[key] == bindparam("_key"))
                .values({name: bindparam("_ref")})
            )
            writing.execute(statement, rows)


def _utc(value: Any) -> Any:
    """Any datetime as an aware UTC one: SQLite's come back naive, PostgreSQL's in its zone."""
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _check(plan: TablePlan, row: dict[str, Any]) -> int:
    """Refuse values PostgreSQL would refuse (too long, NUL); return the row's rough size."""
    size = 0
    for value in row.values():
        if isinstance(value, str | bytes):
            size += len(value)
    for name, limit in plan.limits:
        value = row[name]
        if not isinstance(value, str):
            continue
        problem = None
        if limit is not None and len(value) > limit:
            problem = f"holds {len(value):,} characters, more than its {limit:,}"
        elif "\x00" in value:
            problem = "holds a NUL character, which PostgreSQL does not store in text"
        if problem:
            where = ", ".join(f"{c.name}={row[c.name]!r}" for c in plan.target.primary_key)
            raise CopyError(
                f"row {where} of table {plan.name}: column {name} {problem}; nothing was "
                "copied. Correct or delete that row in the source, then copy again"
            )
    return size


def reset_sequences(writing: Connection, plans: Sequence[TablePlan]) -> None:
    """Move each id sequence past the highest id copied, so new rows get fresh ids."""
    preparer = writing.dialect.identifier_preparer
    for plan in plans:
        key = _integer_key(plan.target)
        if key is None:
            continue
        sequence = writing.scalar(
            select(func.pg_get_serial_sequence(preparer.format_table(plan.target), key))
        )
        if sequence is None:
            continue
        highest = select(func.max(plan.target.c[key])).scalar_subquery()
        writing.execute(select(func.setval(sequence, func.coalesce(highest, 0) + 1, False)))
