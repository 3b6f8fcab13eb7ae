"""The task engine (procrastinate on PostgreSQL): connection, schema, task registry.

Why procrastinate: it keeps its jobs in the PostgreSQL database we already need, so
a deployment is PostgreSQL plus our processes and nothing else; it has queueing
locks (one waiting job per key), locks (one running job per key), periodic tasks
deferred once however many processes run them, worker heartbeats with stalled-job
retry, and graceful shutdown that puts unfinished jobs back. Celery, Dramatiq, RQ,
arq and Huey would each add a broker (Redis or RabbitMQ) to run and back up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import procrastinate
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from monitor.errors import ConfigError, ConfigProblem
from monitor.settings import WorkersSettings
from monitor.storage.engine import PG_NETWORK_LIMITS

QUEUE_SCHEDULE = "schedule"
QUEUE_POLL = "poll"
QUEUE_PAGE = "page"
QUEUE_MAIL = "mail"
WORKER_QUEUES = (QUEUE_POLL, QUEUE_PAGE, QUEUE_MAIL)
SCHEDULER_QUEUES = (QUEUE_SCHEDULE,)

# Transient failures (a database restart, a lock timeout) are retried with backoff:
# 2, 4, 8 … seconds, ten times in all, then the job is left failed for an operator.
RETRY = procrastinate.RetryStrategy(max_attempts=10, exponential_wait=2)

TaskFunction = Callable[..., Awaitable[Any]]


def conninfo(database_url: str) -> str:
    """The libpq connection string for a SQLAlchemy PostgreSQL URL (options kept)."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() != "postgresql":
        problem = ConfigProblem(
            "settings",
            "database.url",
            f"workers need PostgreSQL, but this is {parsed.get_backend_name()}: set it (or "
            "MONITOR_DATABASE__URL) to postgresql://user@host/dbname, or run the "
            "single-process daemon with `monitor run`",
        )
        raise ConfigError([problem])
    # Keyword by keyword, as SQLAlchemy hands them to psycopg: a rendered URI would not
    # survive the trip (SQLAlchemy writes a space in ``options`` as "+", libpq keeps it).
    params: dict[str, str | int | None] = {
        **PG_NETWORK_LIMITS,
        "host": parsed.host,
        "port": parsed.port,
        "dbname": parsed.database,
        "user": parsed.username,
        "password": parsed.password,
    }
    for key, value in parsed.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


def build_app(
    database_url: str,
    tasks: dict[str, tuple[TaskFunction, str]],
    *,
    pool_size: int = 4,
) -> procrastinate.App:
    """A procrastinate app with ``tasks`` (name → (function, queue)) registered."""
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(database_url), min_size=1, max_size=max(pool_size, 2)
    )
    app = procrastinate.App(connector=connector)
    for name, (function, queue) in tasks.items():
        app.task(name=name, queue=queue, pass_context=True, retry=RETRY)(function)
    return app


def add_periodic(app: procrastinate.App, name: str, cron: str) -> None:
    """Have ``name`` deferred on ``cron`` (a sixth column is seconds) — once per tick,
    however many scheduler processes run."""
    app.periodic(cron=cron, periodic_id="")(app.tasks[name])


async def ensure_schema(app: procrastinate.App) -> None:
    """Create procrastinate's tables on first start; a second process racing us is fine."""
    if await _schema_present(app):
        return
    try:
        await app.schema_manager.apply_schema_async()
    except Exception:
        if not await _schema_present(app):  # not the other process's doing: a real error
            raise


async def _schema_present(app: procrastinate.App) -> bool:
    row = await app.connector.execute_query_one_async(
        "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"
    )
    return bool(row["present"])


def worker_options(settings: WorkersSettings) -> dict[str, Any]:
    return {
        "update_heartbeat_interval": settings.heartbeat_seconds,
        "stalled_worker_timeout": settings.stalled_after_seconds,
        "shutdown_graceful_timeout": settings.shutdown_grace_seconds,
        "fetch_job_polling_interval": 2.0,
        "delete_jobs": "successful",
    }
