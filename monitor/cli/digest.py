"""`monitor digest preview|send`: render a subscriber's digest, or send it now."""

# Libraries are imported inside the commands that use them: monitor/cli/__init__.py says why.
from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from email.message import EmailMessage

    from monitor.digest.run import Digests


@click.group()
def digest() -> None:
    """Digest mails: preview what a subscriber would get, or send it now."""


@digest.command()
@click.option("--subscriber", "name", default=None, help="One subscriber (default: all).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the HTML part here (FILE-NAME.html per subscriber when there are several).",
)
@pass_context
def preview(ctx: CliContext, name: str | None, out: Path | None) -> None:
    """Render the digest without sending it or marking anything as sent."""
    from monitor.digest.run import Digests

    store = ctx.store()
    try:
        digests = Digests(store, ctx.config())
        names = _names(digests, name)
        for each in names:
            message = digests.preview(each)
            if out is None:
                click.echo(f"Subject: {message['Subject']}\nTo: {message['To']}\n")
                click.echo(_part(message, "plain"))
                continue
            target = out if len(names) == 1 else out.with_name(f"{out.stem}-{each}{out.suffix}")
            page = _part(message, "html") or f"<pre>{html.escape(_part(message, 'plain'))}</pre>"
            target.write_text(page, encoding="utf-8")
            click.echo(f"{each}: {message['Subject']} → {target}")
    finally:
        store.close()


@digest.command()
@click.option("--subscriber", "name", default=None, help="One subscriber (default: all).")
@pass_context
def send(ctx: CliContext, name: str | None) -> None:
    """Send now, whatever the schedule, every story not yet sent (nothing when none)."""
    import asyncio

    from monitor.digest.run import Digests

    ctx.setup_logging()
    store = ctx.store()
    failed = 0
    try:
        digests = Digests(store, ctx.config())
        for each in _names(digests, name):
            report = asyncio.run(digests.run(each, scheduled=False))
            click.echo(
                f"{each}: {report.sent} sent, {report.retrying} to retry, {report.failed} refused"
            )
            failed += report.failed + report.retrying
    finally:
        store.close()
    if failed:
        raise SystemExit(1)


def _names(digests: Digests, name: str | None) -> list[str]:
    from monitor.digest.run import UnknownSubscriberError

    if name is None:
        names = [s.name for s in digests.subscribers]
        if not names:
            raise click.UsageError("no subscribers in the settings (add `subscribers:`)")
        return names
    try:
        return [digests.subscriber(name).name]
    except UnknownSubscriberError as exc:
        raise click.BadParameter(str(exc), param_hint="--subscriber") from exc


def _part(message: EmailMessage, subtype: str) -> str:
    from email.message import EmailMessage

    part = message.get_body((subtype,))
    return str(part.get_content()) if isinstance(part, EmailMessage) else ""
