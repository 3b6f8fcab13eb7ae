"""Commands of the distributed path: `worker`, `scheduler`, and `health` for orchestrators."""

# Libraries are imported inside the commands that use them: monitor/cli/__init__.py says why.
from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Any

import click

from monitor.cli.context import EXIT_CONFIG, CliContext, metrics_option, pass_context
from monitor.errors import ConfigError, StorageError


@click.command()
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 500),
    default=None,
    help="Tasks run at once (default: workers.concurrency in the settings).",
)
@metrics_option
@pass_context
def worker(ctx: CliContext, concurrency: int | None, metrics_listen: str | None) -> None:
    """Run a worker: poll feeds, ingest pages and send mail queued in PostgreSQL."""
    config, matcher = ctx.config(), ctx.matcher()
    ctx.setup_logging()
    from monitor.runtime.workers.process import run_worker

    concurrency = concurrency or config.settings.workers.concurrency
    work = run_worker(config, matcher, concurrency=concurrency, metrics_listen=metrics_listen)
    _run_or_exit(work)


@click.command()
@metrics_option
@pass_context
def scheduler(ctx: CliContext, metrics_listen: str | None) -> None:
    """Run a scheduler: queue due feeds and digests (any number may run at once)."""
    config = ctx.config()
    ctx.setup_logging()
    from monitor.runtime.workers.process import run_scheduler

    _run_or_exit(run_scheduler(config, metrics_listen=metrics_listen))


def _run_or_exit(work: Coroutine[Any, Any, None]) -> None:
    import asyncio

    try:
        asyncio.run(work)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from exc
    except StorageError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from exc


@click.command()
@click.option(
    "--url",
    default=None,
    help="Health endpoint to ask (default: /healthz on metrics.listen, if set).",
)
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds to wait.")
@pass_context
def health(ctx: CliContext, url: str | None, timeout: float) -> None:
    """Exit 0 if this host's process (or, without one, the database) is healthy, else 1.

    For an orchestrator's health check: with metrics.listen set it asks the running
    process's /healthz (its loop turns and its database answers); otherwise it checks
    that the database answers and is at the current schema revision.
    """
    config = ctx.config()
    listen = config.settings.metrics.listen
    if url is None and listen is not None:
        host, _, port = listen.rpartition(":")
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host
        url = f"http://{host}:{port}/healthz"
    healthy, report = _ask(url, timeout) if url else _database_health(ctx)
    click.echo(json.dumps(report))
    raise SystemExit(0 if healthy else 1)


def _ask(url: str, timeout: float) -> tuple[bool, dict[str, object]]:
    import urllib.error
    import urllib.request

    # No proxy: the process asked is on this host, whatever the environment says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return True, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
        except ValueError:
            body = {}
        return False, {"status": "unhealthy", "http_status": exc.code, **body}
    except (OSError, ValueError) as exc:
        return False, {"status": "unreachable", "url": url, "error": str(exc)}


def _database_health(ctx: CliContext) -> tuple[bool, dict[str, object]]:
    from monitor.storage.engine import create_store_engine, current_revision, head_revision

    try:
        # A health check must not create the database it is asked about.
        engine = create_store_engine(ctx.config().settings.database.url, create=False)
    except StorageError as exc:
        return False, {"status": "unhealthy", "database": str(exc)}
    try:
        revision = current_revision(engine)
    except Exception as exc:  # any failure to connect is the answer
        return False, {"status": "unhealthy", "database": f"unreachable: {exc}"}
    finally:
        engine.dispose()
    head = head_revision()
    if revision != head:
        return False, {
            "status": "unhealthy",
            "database": f"at revision {revision}, expected {head}: run `monitor db upgrade`",
        }
    return True, {"status": "ok", "database": "ok", "revision": revision}
