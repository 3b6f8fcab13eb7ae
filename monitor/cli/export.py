"""`monitor export atom --topic ID`: a topic's stories as an Atom feed."""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli.context import CliContext, pass_context


@click.group()
def export() -> None:
    """Export stored stories in other formats."""


@export.command()
@click.option("--topic", "topic_id", required=True, help="The topic id.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the feed to this file (default: standard output).",
)
@pass_context
def atom(ctx: CliContext, topic_id: str, out: Path | None) -> None:
    """Write an Atom feed of the topic's stories, one entry per story."""
    from monitor.digest.atom import topic_feed, write_atomically

    config = ctx.config()
    if topic_id not in {t.id for t in config.topics}:
        raise click.BadParameter(
            f"no topic {topic_id!r} in {config.topics_path}", param_hint="--topic"
        )
    store = ctx.store()
    try:
        data = topic_feed(store, config, topic_id)
    finally:
        store.close()
    if out is None:
        click.echo(data.decode("utf-8"))
    else:
        write_atomically(out, data)
        click.echo(f"{topic_id}: wrote {out}", err=True)
