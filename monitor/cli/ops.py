"""Operator commands: run the daemon, poll once, check the config, look after the database.

A `StorageError` from any of them is reported by `monitor.cli.MonitorGroup`.
"""

# Libraries are imported inside the commands that use them: monitor/cli/__init__.py says why.
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.context import EXIT_CONFIG, CliContext, metrics_option, pass_context
from monitor.errors import AlreadyRunningError, ConfigError
from monitor.text import counted

if TYPE_CHECKING:
    from monitor.config import Config


@click.command()
@metrics_option
@pass_context
def run(ctx: CliContext, metrics_listen: str | None) -> None:
    """Run the daemon: poll every feed on its schedule until SIGTERM or SIGINT."""
    config, matcher = ctx.config(), ctx.matcher()
    ctx.setup_logging()
    import asyncio

    from monitor.runtime.daemon import run_daemon

    try:
        asyncio.run(run_daemon(config, matcher, metrics_listen=metrics_listen))
    except AlreadyRunningError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from exc


@click.command()
@click.option(
    "--once", is_flag=True, help="One full pass over every feed, then exit (the default)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_context
def poll(ctx: CliContext, once: bool, as_json: bool) -> None:
    """Poll every feed once: fetch, extract, match, dedup, store; then print a summary.

    Exits 1 when every feed failed (0 when at least one was polled)."""
    started = time.monotonic()
    config, matcher = ctx.config(), ctx.matcher()
    ctx.setup_logging(quiet=as_json)
    import asyncio

    from monitor import jobs
    from monitor.runtime.resources import open_pipeline
    from monitor.storage.lock import StoreLock

    async def one_pass() -> dict[str, Any]:
        async with open_pipeline(config, matcher) as pipeline:
            # Pages left to retry by earlier passes first; this pass's failures wait for
            # their backoff, and so for a later pass.
            retried = await pipeline.retry_pages()
            with _progress(len(config.feeds), enabled=not as_json) as advance:
                summary = await pipeline.poll_all(on_feed_done=lambda _report: advance())
            if retried.matched or summary.articles_matched:
                await jobs.after_ingest(jobs.Work.of(pipeline))
        return {
            **summary.__dict__,
            "seconds": round(time.monotonic() - started, 3),  # the whole command's
            "pages_retried": retried.retried,
            "pages_recovered": retried.recovered,
        }

    try:
        with StoreLock.for_url(config.settings.database.url):
            result = asyncio.run(one_pass())
    except AlreadyRunningError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from exc
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        click.echo(
            f"{counted(result['feeds'], 'feed')} ({result['feeds_failed']} failed), "
            f"{counted(result['entries_new'], 'new entry', 'new entries')}, "
            f"{counted(result['articles_stored'], 'article')} stored, "
            f"{result['articles_matched']} matched, "
            f"{counted(result['duplicates'], 'duplicate')}, {result['seconds']:.1f} s"
        )
        for failure in result["failures"]:
            click.echo(f"  failed: {failure['feed']}: {failure['error']}")
    if result["feeds"] and result["feeds_failed"] == result["feeds"]:
        click.echo(
            f"error: every feed failed ({result['feeds']} of {result['feeds']}); see the "
            "reasons above, and `monitor feeds list` for each feed's last error",
            err=True,
        )
        raise SystemExit(1)


class _progress:
    """A rich progress bar on a terminal; nothing when piped or in JSON mode."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None
        self._moved: list[tuple[Any, Any]] = []

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda: None
        from rich.progress import Progress

        self._bar = Progress(transient=True)
        self._bar.__enter__()
        # Log lines go above the bar, not into it: rich redirects sys.stderr while the bar
        # is shown, but the log handlers hold the stream they were made with.
        self._moved = _log_streams_to(sys.stderr, sys.__stderr__)
        task = self._bar.add_task("polling feeds", total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            for handler, stream in self._moved:
                handler.setStream(stream)
            self._bar.__exit__(None, None, None)


def _log_streams_to(target: Any, original: Any) -> list[tuple[Any, Any]]:
    """Point the root logger's handlers that write to ``original`` at ``target``; the
    handlers moved, with the stream each had."""
    import logging

    moved = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is original:
            moved.append((handler, handler.setStream(target)))
    return moved


@click.command()
@pass_context
def check(ctx: CliContext) -> None:
    """Validate all configuration; exit 0, or 2 with every problem listed."""
    from monitor.config import load_config
    from monitor.pipeline.match import build_matcher

    try:
        config = load_config(ctx.config_path)
        matcher = build_matcher(config.topics, config.term_lists, config.topics_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from exc
    refused = _feeds_the_guard_refuses(config)
    if refused:
        click.echo(f"error: {counted(len(refused), 'feed')} will never be fetched:", err=True)
        for line in refused:
            click.echo(f"  - {line}", err=True)
        raise SystemExit(EXIT_CONFIG)
    click.echo(
        f"configuration OK: {config.settings_path} — {counted(len(config.feeds), 'feed')}, "
        f"{counted(len(matcher.topics), 'topic')}, database {config.settings.database.url.split('://')[0]}"
    )


def _feeds_the_guard_refuses(config: Config) -> list[str]:
    """``file: url: why`` for each feed the egress guard refuses whatever DNS answers
    (loopback or private literals without ``http.allow_private_networks``, say)."""
    from monitor.pipeline.addresses import EgressPolicy, refusal_before_dns

    policy = EgressPolicy.of(config.settings.http)
    refused = []
    for spec in config.feeds:
        reason = refusal_before_dns(spec.url, policy)
        if reason:
            refused.append(f"{config.feeds_path}: {spec.url}: {reason}")
    return refused


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@pass_context
def upgrade(ctx: CliContext) -> None:
    """Create the database or apply its migrations (the daemon also does this when it starts)."""
    from monitor.storage.engine import current_revision
    from monitor.storage.store import Store

    store = Store.open(ctx.config().settings.database.url)
    try:
        click.echo(f"database at revision {current_revision(store.engine)}")
    finally:
        store.close()


@db.command()
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace DEST if it exists.")
@pass_context
def backup(ctx: CliContext, dest: Path, force: bool) -> None:
    """Copy the SQLite database to DEST: a consistent copy, safe while the daemon runs.

    The copy is checked before it takes DEST's place, so DEST is never half a copy. To
    restore it, stop monitor, delete the database's -wal and -shm files, and put DEST at
    the database's path. On PostgreSQL, use pg_dump.
    """
    from monitor.storage.sqlite_file import backup_file, sqlite_path

    url = ctx.config().settings.database.url
    source = sqlite_path(url)
    if source is None:
        click.echo(
            "error: database.url is not a SQLite file; back a PostgreSQL database up with "
            f"pg_dump, e.g. pg_dump --format=custom --file={dest} --dbname=DATABASE_URL",
            err=True,
        )
        raise SystemExit(1)
    started = time.monotonic()
    try:
        size = backup_file(source, dest, force=force)
    except FileExistsError as exc:
        click.echo(f"error: {dest} already exists; name another file, or add --force", err=True)
        raise SystemExit(1) from exc
    except OSError as exc:  # DEST's folder is missing or read-only, the disk is full ...
        click.echo(f"error: cannot write the backup {dest}: {exc}", err=True)
        raise SystemExit(1) from exc
    click.echo(
        f"backed up {source} to {dest}: {size / 1e6:,.1f} MB in {time.monotonic() - started:.1f} s"
    )


@db.command("copy")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL",
    help="The database to copy into, e.g. postgresql://monitor@db/monitor; migrated first.",
)
@click.option(
    "--from",
    "source",
    default=None,
    metavar="URL",
    help="The database to copy from (default: database.url from the settings).",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Delete the rows already in the target's monitor tables, in the copy's transaction.",
)
@pass_context
def copy(ctx: CliContext, target: str, source: str | None, replace: bool) -> None:
    """Copy every row of one database into another, e.g. SQLite to PostgreSQL.

    Stop the daemon first. The source must be at the current schema revision (`monitor db
    upgrade`) and is only read; the target is migrated, must be empty (or use --replace),
    and is written in one transaction, keeping every id. Row counts are compared at the
    end: exit 0 when every table matches, 1 when one does not or the copy is refused.
    """
    from monitor.errors import CopyError
    from monitor.storage.copy import copy_database, shown
    from monitor.storage.copy_tables import Progress

    source_url = source or ctx.config().settings.database.url
    live = sys.stderr.isatty()

    def report(step: Progress) -> None:
        if step.finished:
            if live:
                click.echo("\r\033[K", nl=False, err=True)
            click.echo(f"  {step.table:<16} {step.copied:>12,} rows")
        elif live:
            click.echo(
                f"\r  {step.table:<16} {step.copied:>12,} / {step.total:,}", nl=False, err=True
            )

    click.echo(f"copying {shown(source_url)} → {shown(target)}")
    try:
        result = copy_database(source_url, target, replace=replace, progress=report)
    except CopyError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from exc
    click.echo(f"verification (schema revision {result.revision}): rows in source / target")
    for count in result.tables:
        verdict = "ok" if count.ok else "DIFFERENT"
        click.echo(f"  {count.table:<16} {count.source:>12,} / {count.target:<12,} {verdict}")
    if not result.ok:
        different = ", ".join(c.table for c in result.tables if not c.ok)
        click.echo(
            f"error: the row counts differ in {different}; do not switch to {result.target} "
            "yet: run the copy again with --replace",
            err=True,
        )
        raise SystemExit(1)
    click.echo(
        f"done: {result.rows:,} rows in {len(result.tables)} tables in {result.seconds:.1f} s. "
        f"Set database.url (or MONITOR_DATABASE__URL) to {result.target} and start the workers."
    )
