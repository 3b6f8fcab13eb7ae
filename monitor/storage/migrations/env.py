"""Alembic environment: runs on the connection `monitor.storage.engine.upgrade` passes in."""

from __future__ import annotations

from alembic import context

from monitor.storage.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `monitor db upgrade`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
