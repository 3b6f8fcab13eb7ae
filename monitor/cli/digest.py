"""`monitor digest preview|send`: render a subscriber's digest, or send it now."""

# Libraries are imported inside the commands that use them: monitor/cli/__init__.py says why.
from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from monitor.cli.context import CliContext, pass_context

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from email.message import EmailMessage

    from monitor.digest.run import Digests

T = TypeVar("T")


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
            if not digests.stories_waiting(each):
                empty = digests.sends_empty(each)
                click.echo(
                    f"{each}: nothing new since the last digest: `digest send` would send "
                    "nothing, "
                    + (
                        "the scheduled digest says so (send_empty is on):"
                        if empty
                        else "nor would the scheduled digest (send_empty is off)"
                    )
                )
                if not empty:
                    continue
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
    """Send now, whatever the schedule, every story not yet sent (nothing when none).

    One subscriber's failure does not stop the others. The exit status is 1 when any
    message was refused, is waiting for a retry, is held by an attempt that has not ended
    (another process sending it, or one stopped mid-send: it says until when), or could
    not be composed or sent. SIGTERM or Ctrl-C stops the send in flight safely (see
    `monitor.digest.send`), frees the rest for the next run and exits 1."""
    from monitor.digest.run import Digests

    ctx.setup_logging()
    store = ctx.store()
    failed: list[str] = []
    try:
        digests = Digests(store, ctx.config())
        for each in _names(digests, name):
            if not _send_one(digests, each):
                failed.append(each)
    finally:
        store.close()
    if failed:
        click.echo(f"error: not all sent, for {', '.join(failed)} (see above)", err=True)
        raise SystemExit(1)


def _send_one(digests: Digests, name: str) -> bool:
    """Send ``name``'s digest and say how it went; whether everything due went out."""
    import asyncio

    from monitor.errors import StorageError
    from monitor.log import get_logger

    try:
        report = asyncio.run(_until_signal(digests.run(name, scheduled=False)))
    except asyncio.CancelledError:
        click.echo(f"{name}: stopped by a signal; what was not sent goes on the next run")
        raise SystemExit(1) from None
    except StorageError:
        raise  # the database: every subscriber would fail the same way
    except Exception as exc:  # composing or sending this one: the next subscriber still goes
        reason = f"{type(exc).__name__}: {exc}"
        log = get_logger("monitor.digest")
        log.error("digest.subscriber_failed", subscriber=name, error=reason)
        click.echo(f"{name}: not sent: {reason}")
        return False
    click.echo(f"{name}: {report.sent} sent, {report.retrying} to retry, {report.failed} refused")
    for lease in report.leased:
        click.echo(
            f"{name}: message {lease.id} ({lease.kind}) not sent: held by an attempt that "
            f"has not ended (another process sending it, or one that was stopped) until "
            f"{lease.until:%Y-%m-%d %H:%M:%S} UTC; it goes after that, with the daemon or "
            "when this is run again"
        )
    return not (report.failed or report.retrying or report.leased)


async def _until_signal(work: Awaitable[T]) -> T:
    """``work``, cancelled by SIGTERM or SIGINT so that it can stop safely."""
    import asyncio
    import signal

    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    assert task is not None
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        return await work
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _names(digests: Digests, name: str | None) -> list[str]:
    from monitor.errors import UnknownSubscriberError

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
