"""The `monitor` command line. Nothing imports this package; it imports everything.

Heavy libraries (trafilatura, SQLAlchemy, httpx, asyncio, ...) are imported inside the
commands that need them, so that ``monitor --help`` loads none of them, nor the
configuration (pydantic), and ``monitor check`` loads only the configuration and the
matcher; ``tests/test_startup.py`` keeps it so. Annotations import under TYPE_CHECKING.
"""

from __future__ import annotations

import sys

import click

from monitor.cli.context import CliContext, pass_context
from monitor.errors import StorageError

GLOBAL_OPTIONS_WITH_VALUE = ("--config", "--log-format")
GLOBAL_FLAGS = ("-v", "--verbose")


def hoist_global_options(args: list[str]) -> list[str]:
    """``monitor check --config X`` read as ``monitor --config X check``: the global
    options are accepted after the command too, where users type them. No command has
    an option of the same name; ``--`` ends the search."""
    index = 0
    while index < len(args) and args[index].startswith("-"):  # the options before it
        index += 2 if args[index] in GLOBAL_OPTIONS_WITH_VALUE else 1
    before, after = args[: index + 1], args[index + 1 :]
    hoisted: list[str] = []
    kept: list[str] = []
    valued = tuple(f"{option}=" for option in GLOBAL_OPTIONS_WITH_VALUE)
    position = 0
    while position < len(after):
        arg = after[position]
        if arg == "--":
            kept += after[position:]
            break
        if arg in GLOBAL_OPTIONS_WITH_VALUE and position + 1 < len(after):
            hoisted += after[position : position + 2]
            position += 2
            continue
        (hoisted if arg in GLOBAL_FLAGS or arg.startswith(valued) else kept).append(arg)
        position += 1
    return [*hoisted, *before, *kept]


class MonitorGroup(click.Group):
    """Ends every command the same way when the database fails: what is wrong and what
    to do, on stderr, and exit 1; never a traceback full of SQL. Takes the global
    options after the command too (`hoist_global_options`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except StorageError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from exc


@click.group(cls=MonitorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Settings file (default: $MONITOR_CONFIG or config/monitor.yaml).",
)
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    default=None,
    help="Log line format (default: logging.format in the settings).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
@click.pass_context
def main(
    ctx: click.Context, config_path: str | None, log_format: str | None, verbose: bool
) -> None:
    """Follow a developing story across many outlets: feeds in, related articles out.

    The options above may also follow the command: `monitor check --config FILE`."""
    ctx.obj = CliContext(config_path=config_path, log_format=log_format, verbose=verbose)


def _register() -> None:
    from monitor.cli import articles, digest, export, feeds, ops, scale, topics

    for command in (
        ops.run,
        ops.poll,
        ops.check,
        ops.db,
        scale.worker,
        scale.scheduler,
        scale.health,
        articles.articles,
        topics.topics,
        feeds.feeds,
        digest.digest,
        export.export,
    ):
        main.add_command(command)


_register()

__all__ = ["CliContext", "main", "pass_context"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
