"""`monitor feeds`: list with health, add, import and export OPML, discover a site's feeds."""

# Libraries are imported inside the commands that use them: monitor/cli/__init__.py says why.
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.context import EXIT_CONFIG, CliContext, pass_context
from monitor.errors import ConfigProblem, FetchError
from monitor.models import FeedSpec
from monitor.text import counted

if TYPE_CHECKING:
    from monitor.models import FeedRecord


@click.group()
def feeds() -> None:
    """The feed list (config/feeds.yaml or an OPML file) and each feed's health."""


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed.")
@pass_context
def list_feeds(ctx: CliContext, as_json: bool) -> None:
    """Every configured feed with its health, last status and last error."""
    config = ctx.config()
    store = ctx.store_if_exists()  # none yet: every feed is new
    try:
        records = {r.url: r for r in store.feeds(f.url for f in config.feeds)} if store else {}
    finally:
        if store is not None:
            store.close()
    rows = [_feed_row(spec, records.get(spec.url)) for spec in config.feeds]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    click.echo(_feed_table(rows))


def _feed_row(spec: FeedSpec, record: FeedRecord | None) -> dict[str, Any]:
    state = record.state if record else None
    return {
        "url": spec.url,
        "name": spec.name,
        "language": spec.language,
        "health": state.health if state else "new",
        "last_status": state.last_status if state else None,
        "failures": state.consecutive_failures if state else 0,
        "last_success": _iso(state.last_success_at if state else None),
        "next_poll": _iso(state.next_poll_at if state else None),
        "last_error": state.last_error if state else None,
        "moved_to": state.moved_to if state else None,
        "redirect_target": state.redirect_target if state else None,
        "redirect_count": state.redirect_count if state else 0,
    }


FEED_COLUMNS = ("HEALTH", "STATUS", "LAST SUCCESS (UTC)", "NEXT POLL (UTC)", "NAME", "URL")


def _feed_table(rows: list[dict[str, Any]]) -> str:
    """Aligned columns under a header, each feed's error or move on a line below it."""
    cells = [
        [
            str(row["health"]),
            str(row["last_status"] or "-"),
            _minute(row["last_success"]),
            _minute(row["next_poll"]),
            row["name"] or "-",
            row["url"],
        ]
        for row in rows
    ]
    widths = [max(len(c[i]) for c in [list(FEED_COLUMNS), *cells]) for i in range(5)]

    def line(values: list[str]) -> str:
        padded = (value.ljust(width) for value, width in zip(values, widths, strict=False))
        return "  ".join([*padded, values[5]])

    lines = [line(list(FEED_COLUMNS))]
    for row, cell in zip(rows, cells, strict=True):
        lines.append(line(cell))
        if row["last_error"]:
            lines.append(f"    {row['last_error']}")
        if row["moved_to"]:
            lines.append(f"    moved to {row['moved_to']} (polled there; update the feed list)")
        elif row["redirect_target"]:
            polls = row["redirect_count"]
            seen = f"{polls} poll{'s' if polls != 1 else ''} in a row"
            lines.append(f"    permanently redirected to {row['redirect_target']} ({seen})")
    return "\n".join(line.rstrip() for line in lines)


def _minute(iso: str | None) -> str:
    """``2026-12-04T21:05:09+00:00`` as ``2026-12-04 21:05``; ``-`` for never."""
    return iso[:16].replace("T", " ") if iso else "-"


@feeds.command("add")
@click.argument("url")
@click.option("--name", default="", help="Outlet name shown in digests.")
@click.option("--language", default=None, help="ISO 639-1 code of the feed's language.")
@pass_context
def add_feed(ctx: CliContext, url: str, name: str, language: str | None) -> None:
    """Append a feed to the YAML feed list (comments and order are kept)."""
    path = _yaml_feed_file(ctx)
    if any(spec.url == url for spec in ctx.config().feeds):
        click.echo(f"{url} is already in {path}")
        return
    _append_feeds(path, [FeedSpec(url, name, language)])
    click.echo(f"added {url} to {path}")


@feeds.command("import")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False))
@pass_context
def import_feeds(ctx: CliContext, opml_file: str) -> None:
    """Add every feed of an OPML file that is not in the feed list yet."""
    from monitor.errors import OPMLError
    from monitor.opml import parse_opml

    path = _yaml_feed_file(ctx)
    try:
        found = parse_opml(Path(opml_file).read_bytes())
    except OPMLError as exc:
        click.echo(f"error: {opml_file}: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from exc
    known = {spec.url for spec in ctx.config().feeds}
    new = [spec for spec in found if spec.url not in known]
    if new:
        _append_feeds(path, new)
    click.echo(
        f"imported {counted(len(new), 'feed')} into {path} ({len(found) - len(new)} already there)"
    )


@feeds.command("export")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="File (default stdout).")
@pass_context
def export_feeds(ctx: CliContext, out: str | None) -> None:
    """Write the feed list as OPML 2.0."""
    from monitor.opml import write_opml

    document = write_opml(list(ctx.config().feeds), "monitor feeds")
    if out:
        Path(out).write_text(document, encoding="utf-8")
    else:
        click.echo(document, nl=False)


@feeds.command("discover")
@click.argument("url")
@pass_context
def discover(ctx: CliContext, url: str) -> None:
    """Find the feeds a site announces on its page, for `monitor feeds add`."""
    from monitor.pipeline.discover import discover_feeds

    try:
        body, final_url = ctx.fetch_page(url)
    except FetchError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from exc
    found = discover_feeds(body, final_url)
    if not found:
        click.echo(f"no feeds found on {final_url}", err=True)
        raise SystemExit(1)
    for feed in found:
        click.echo(f"{feed.kind:<5} {feed.url}  {feed.title or ''}".rstrip())


def _yaml_feed_file(ctx: CliContext) -> Path:
    path = ctx.config().feeds_path
    if path.suffix.lower() in {".opml", ".xml"}:
        click.echo(
            f"error: the feed list {path} is OPML; edit it with your reader, "
            "or switch `feeds:` in the settings to a YAML file",
            err=True,
        )
        raise SystemExit(EXIT_CONFIG)
    return path


def _append_feeds(path: Path, specs: list[FeedSpec]) -> None:
    """Add ``specs`` to the YAML feed list, keeping its comments, quoting and indentation.

    The edited text is checked as the daemon would read it before anything is written,
    and replaces the file in one rename, so a refused or interrupted edit leaves the
    file as it was."""
    from monitor.config import load_feed_file

    original = path.read_text(encoding="utf-8") if path.exists() else ""
    edited = _with_feeds(original, specs, path)
    problems: list[ConfigProblem] = []
    load_feed_file(path, problems, text=edited)
    if problems:
        raise click.ClickException(
            f"{path} was not changed: the feed list would be invalid: {problems[0]}"
        )
    _replace_file(path, edited)


def _with_feeds(original: str, specs: list[FeedSpec], path: Path) -> str:
    """``original`` with ``specs`` appended to its ``feeds:`` list, through a round-trip
    YAML editor (ruamel.yaml) that rewrites only what changed."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString as Quoted
    from ruamel.yaml.util import load_yaml_guess_indent

    editor = YAML()  # round-trip mode
    editor.preserve_quotes = True
    editor.width = 4096  # never fold a long URL
    try:
        _, indent, offset = load_yaml_guess_indent(original) if original else (None, None, None)
        data = editor.load(original) if original else None
    except YAMLError as exc:
        raise click.ClickException(f"{path} was not changed: it is not valid YAML: {exc}") from exc
    if indent is None:  # no block list to learn from: the layout of the shipped file
        indent, offset = 4, 2
    offset = offset or 0
    editor.indent(mapping=max(indent - offset, 2), sequence=indent, offset=offset)
    data_was_empty = data is None
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise click.ClickException(
            f"{path} was not changed: a feed list is a mapping with a `feeds:` list"
        )
    items = data.get("feeds")
    if items is None:
        items = data["feeds"] = CommentedSeq()
    if not isinstance(items, CommentedSeq):
        raise click.ClickException(f"{path} was not changed: its `feeds:` is not a list")
    if not items:
        items.fa.set_block_style()  # `feeds: []` becomes a block list, as in the docs
    for spec in specs:
        # Quoted, because the daemon reads YAML 1.1, where a plain `yes`, `no` or `on`
        # (a name like "Yes!" cut short, a language code `no`) is a boolean.
        item = CommentedMap(url=Quoted(spec.url))
        if spec.name:
            item["name"] = Quoted(spec.name)
        if spec.language:
            item["language"] = Quoted(spec.language)
        items.append(item)
    out = io.StringIO()
    if data_was_empty and original.strip():
        out.write(original if original.endswith("\n") else original + "\n")  # its comments
    editor.dump(data, out)
    return out.getvalue()


def _replace_file(path: Path, text: str) -> None:
    """Write ``text`` beside ``path`` and rename it over ``path`` (the target of a link),
    keeping the file's permissions."""
    import os
    import tempfile

    target = path.resolve()
    mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise click.ClickException(f"{path} was not changed: cannot write it: {exc}") from exc


def _iso(value: object) -> str | None:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else None
