"""`monitor articles`: what has been stored and matched, one line per story by default."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.context import CliContext, pass_context
from monitor.text import counted

if TYPE_CHECKING:
    from monitor.models import ArticleView

DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """``30m``, ``2h``, ``2d``, ``1w`` back from now, or an ISO date/time."""
    if not value:
        return None
    now = now or datetime.now(UTC)
    match = DURATION.match(value.strip().lower())
    if match:
        return now - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r}: use a duration such as 30m, 2h, 2d, 1w or a date such as 2025-01-31"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.group(invoke_without_command=True)
@click.option("--topic", default=None, help="Only articles that matched this topic id.")
@click.option(
    "--since",
    default=None,
    help="Only articles published since (fetched, when the feed gave no date): 2d, 12h, "
    "2025-01-31 …",
)
@click.option("--all", "include_all", is_flag=True, help="Every article, duplicates and unmatched.")
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=200,
    show_default=True,
    help="At most this many articles (the newest); a note on stderr says when more match.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per article.")
@click.pass_context
def articles(
    click_ctx: click.Context,
    topic: str | None,
    since: str | None,
    include_all: bool,
    limit: int,
    as_json: bool,
) -> None:
    """Stored articles, newest first: one line per story, with its outlets and copies."""
    if click_ctx.invoked_subcommand is not None:
        return
    ctx: CliContext = click_ctx.obj
    if topic and topic not in {t.id for t in ctx.config().topics}:
        raise click.BadParameter(
            f"no topic {topic!r} in {ctx.config().topics_path}", param_hint="--topic"
        )
    store = ctx.store()
    try:
        # One more than asked: whether the list was cut is said, not left to guess.
        views = store.articles(
            topic=topic, since=parse_since(since), include_all=include_all, limit=limit + 1
        )
        cut = len(views) > limit
        views = views[:limit]
        copies = store.copies_of([v.id for v in views]) if not include_all else {}
    finally:
        store.close()
    if as_json:
        for view in views:
            click.echo(json.dumps(to_json(view), ensure_ascii=False))
    elif include_all:
        for view in views:
            click.echo(_line(view, []))
    else:
        for group in _by_story(views):
            lead, others = group[0], group[1:]
            folded = [c for v in group for c in copies.get(v.id, [])]
            click.echo(_line(lead, [*others, *folded]))
    if cut:
        click.echo(
            f"(the newest {counted(limit, 'article')} shown; more match: raise --limit or "
            "narrow with --since or --topic)",
            err=True,
        )


@articles.command("show")
@click.argument("article_id", type=int)
@pass_context
def show(ctx: CliContext, article_id: int) -> None:
    """One article with its duplicates and its story."""
    store = ctx.store()
    try:
        found = store.articles_by_id([article_id])
        if not found:
            raise click.ClickException(f"no article {article_id}")
        view = found[0]
        copies = store.copies_of([view.id]).get(view.id, [])
        story = store.story(view.story_id) if view.story_id else None
    finally:
        store.close()
    click.echo(f"#{view.id}  {view.title}")
    click.echo(
        f"  {view.outlet} · {_when(view)} · {view.language or '?'} · {view.text_chars} chars"
    )
    click.echo(f"  {view.url}")
    if view.topics:
        click.echo("  topics: " + ", ".join(f"{t} ({s:.1f})" for t, s in view.topics.items()))
    if view.extract_error:
        click.echo(f"  extraction: {view.extract_error}")
    if view.duplicate_of:
        click.echo(f"  duplicate of #{view.duplicate_of}: {view.duplicate_reason}")
    for copy in copies:
        click.echo(f"  copy #{copy.id} {copy.outlet}: {copy.duplicate_reason} — {copy.url}")
    if story:
        click.echo(f"  story #{story[0].id}: {story[0].title} ({counted(len(story), 'article')})")
        for member in story:
            if member.id != view.id:
                click.echo(f"    #{member.id} {member.outlet}: {member.title}")


def to_json(view: ArticleView) -> dict[str, Any]:
    return {
        "id": view.id,
        "url": view.url,
        "title": view.title,
        "outlet": view.outlet,
        "published": view.published.isoformat() if view.published else None,
        "language": view.language,
        "topics": view.topics,
        "duplicate_of": view.duplicate_of,
        "story_id": view.story_id,
        "text_chars": view.text_chars,
        "fetched_at": view.fetched_at.isoformat(),
    }


def _by_story(views: list[ArticleView]) -> list[list[ArticleView]]:
    groups: dict[Any, list[ArticleView]] = {}
    for view in views:
        groups.setdefault(view.story_id or f"article:{view.id}", []).append(view)
    return list(groups.values())


def _line(view: ArticleView, others: list[ArticleView]) -> str:
    topics = ",".join(view.topics) or "-"
    extra = ""
    if others:
        outlets = {o.outlet for o in others} - {view.outlet}
        extra = f"  (+{counted(len(outlets), 'outlet')}, {counted(len(others), 'more article')})"
    return f"{_when(view)}  #{view.id:<6} [{topics}] {view.title} — {view.outlet}{extra}"


def _when(view: ArticleView) -> str:
    moment = view.published or view.fetched_at
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
