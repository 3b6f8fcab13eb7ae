"""`monitor topics`: list the topics, test texts against them, measure them, draft new ones.

The decisions live in `monitor.pipeline.match`; this module reads input and prints. It
imports the match stage inside the commands, so that ``monitor --help`` does not load it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from monitor.cli.context import EXIT_CONFIG, CliContext, pass_context
from monitor.errors import TopicQueryError
from monitor.models import Document, TopicDefinition, TopicMatch

if TYPE_CHECKING:
    from monitor.pipeline.match import Matcher
    from monitor.pipeline.match.metrics import Tally

EXIT_INPUT = 2
TITLE_WIDTH = 60


@click.group()
def topics() -> None:
    """Topics: list them, test texts against them, measure them, draft new ones."""


# --- list -----------------------------------------------------------------


@topics.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per topic.")
@pass_context
def list_topics(ctx: CliContext, as_json: bool) -> None:
    """Every topic with its query as written and with its term lists spelled out."""
    config = ctx.config()
    ctx.matcher()  # refuse to list topics whose queries do not compile
    counts: dict[str, dict[str, int]] = {}
    store = ctx.store_if_exists()
    if store is not None:
        try:
            now = datetime.now(UTC)
            windows = {"day": now - timedelta(days=1), "week": now - timedelta(7)}
            counts = store.match_counts(windows)
        finally:
            store.close()
    for row in topic_rows(config.topics, config.term_lists, counts):
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        click.echo(f"{row['id']}  {row['name']}  (min_score {row['min_score']:g})")
        click.echo(f"  query:    {row['query']}")
        if row["exclude"]:
            click.echo(f"  exclude:  {row['exclude']}")
        click.echo(f"  expanded: {row['expanded']}")
        if "matches" in row:
            counts = row["matches"]
            click.echo(f"  matches:  {counts['day']} in the last day, {counts['week']} in the week")
        click.echo()


def topic_rows(
    definitions: Sequence[TopicDefinition],
    term_lists: Mapping[str, Sequence[str]],
    match_counts: Mapping[str, Mapping[str, int]] | None = None,
) -> list[dict[str, Any]]:
    """What ``topics list`` shows; ``match_counts`` (topic id -> {"day", "week"}) once stored."""
    from monitor.pipeline.match import expand_query
    from monitor.pipeline.match.explain import expand_text

    rows = []
    for topic in definitions:
        row: dict[str, Any] = {
            "id": topic.id,
            "name": topic.name,
            "description": topic.description,
            "query": " ".join(topic.query.split()),
            "expanded": " ".join(expand_query(topic, term_lists).split()),
            "exclude": " ".join(topic.exclude.split()) if topic.exclude else None,
            "min_score": topic.min_score,
        }
        if topic.exclude:
            row["exclude_expanded"] = expand_text(topic.exclude, topic.id, term_lists)
        if match_counts is not None:
            row["matches"] = {"day": 0, "week": 0} | dict(match_counts.get(topic.id, {}))
        rows.append(row)
    return rows


# --- test -----------------------------------------------------------------


@topics.command("test")
@click.argument("source", required=False, default="-")
@click.option(
    "--jsonl",
    "jsonl",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help='Batch: one {"id", "title", "text", "language"?} object per line (- for stdin).',
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def test_topics(ctx: CliContext, source: str, jsonl: TextIO | None, as_json: bool) -> None:
    """How a text matches each topic: FILE (first line the title), - for stdin, or a URL."""
    from monitor.pipeline.match.explain import match_dict

    matcher = ctx.matcher()
    if jsonl is not None:
        failed = _test_batch(matcher, jsonl)
        raise SystemExit(1 if failed else 0)
    if source.startswith(("http://", "https://")):
        doc = _fetch_document(ctx, source)
    else:
        doc = _read_document(source)
    results = matcher.match(doc, explain=True)
    minimums = {topic.id: topic.min_score for topic in matcher.topics}
    if as_json:
        shown = [match_dict(r, minimums[r.topic_id]) for r in results]
        payload = {"title": doc.title, "topics": shown}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    for result in results:
        _print_result(result, minimums[result.topic_id])


def _fetch_document(ctx: CliContext, url: str) -> Document:
    """The page's main text, fetched and extracted exactly as the pipeline does it."""
    from monitor.errors import ExtractError, FetchError

    try:
        body, final_url = ctx.fetch_page(url)
        page = ctx.extract_page(body, final_url)
    except (FetchError, ExtractError) as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_INPUT) from exc
    return Document(page.title or final_url, page.text, page.language)


def _read_document(source: str) -> Document:
    if source == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"error: cannot read {source}: {exc}", err=True)
            raise SystemExit(EXIT_INPUT) from exc
    title, _, body = text.lstrip("\ufeff").partition("\n")
    return Document(title.strip(), body.strip())


def _print_result(result: TopicMatch, min_score: float) -> None:
    verdict = "MATCH" if result.matched else "no match"
    click.echo(f"{result.topic_id}: {verdict}, score {result.score:g} (min_score {min_score:g})")
    if result.reason:
        click.echo(f"  why: {result.reason}")
    if result.evidence:
        click.echo(f"  score: {result.evidence}")
    for hit in result.hits:
        click.echo(f"  {hit.field:<5} {hit.term!r}: «{hit.context}»")
    click.echo()


def _test_batch(matcher: Matcher, lines: TextIO) -> int:
    """One output line per input line; a bad line gives an ``error`` line. Returns failures."""
    from monitor.errors import LabelError

    failed = 0
    for number, record in _json_lines(lines):
        if isinstance(record, str):
            failed += 1
            click.echo(json.dumps({"id": None, "error": f"line {number}: {record}"}))
            click.echo(f"line {number}: {record}", err=True)
            continue
        try:
            doc = _batch_document(record)
        except LabelError as exc:
            failed += 1
            click.echo(json.dumps({"id": record.get("id"), "error": f"line {number}: {exc}"}))
            click.echo(f"line {number}: {exc}", err=True)
            continue
        results = matcher.match(doc)
        row = {
            "id": record["id"],
            "matched": [r.topic_id for r in results if r.matched],
            "scores": {r.topic_id: r.score for r in results},
        }
        click.echo(json.dumps(row, ensure_ascii=False))
    return failed


def _batch_document(record: Mapping[str, Any]) -> Document:
    from monitor.errors import LabelError

    for name in ("id", "title", "text"):
        if name not in record:
            raise LabelError(f"field {name!r} is missing")
    if not isinstance(record["title"], str) or not isinstance(record["text"], str):
        raise LabelError("'title' and 'text' must be strings")
    language = record.get("language")
    return Document(
        record["title"], record["text"], language if isinstance(language, str) else None
    )


def _json_lines(lines: TextIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Each non-blank line as an object, or as the reason it is not one."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"not JSON ({exc.msg})"
            continue
        yield number, record if isinstance(record, dict) else "not a JSON object"


# --- eval -----------------------------------------------------------------


@topics.command("eval")
@click.argument("labelled", type=click.File("r", encoding="utf-8"))
@click.option(
    "--label-map",
    default="",
    help="Rename label fields to topic ids, e.g. troops=nk-troops,pact=nk-russia-pact.",
)
@click.option("--by-language", is_flag=True, help="Also measure each language apart.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@pass_context
def eval_topics(
    ctx: CliContext, labelled: TextIO, label_map: str, by_language: bool, as_json: bool
) -> None:
    """Precision, recall and F1 of each topic on labelled articles, with what it got wrong."""
    from monitor.errors import LabelError
    from monitor.pipeline.match.metrics import (
        example_from_record,
        parse_label_map,
        tally,
    )

    matcher = ctx.matcher()
    try:
        renames = parse_label_map(label_map)
        topic_ids = [topic.id for topic in matcher.topics]
        examples = []
        for number, record in _json_lines(labelled):
            if isinstance(record, str):
                raise LabelError(f"line {number}: {record}")
            try:
                examples.append(example_from_record(record, topic_ids, renames))
            except LabelError as exc:
                raise LabelError(f"line {number}: {exc}") from exc
    except LabelError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_INPUT) from exc
    tallies = tally(examples, matcher.match, by_language)
    if not tallies:
        click.echo("error: no record carries a label for any topic; see --label-map", err=True)
        raise SystemExit(EXIT_INPUT)
    if as_json:
        click.echo(json.dumps({"tallies": [t.as_dict() for t in tallies]}, ensure_ascii=False))
        return
    _print_tallies(tallies)


def _print_tallies(tallies: Sequence[Tally]) -> None:
    header = f"{'topic':<20} {'lang':<5} {'n':>4} {'TP':>4} {'FP':>4} {'FN':>4} "
    click.echo(header + f"{'precision':>9} {'recall':>7} {'F1':>6}")
    for t in tallies:
        n = t.true_positives + t.false_positives + t.false_negatives + t.true_negatives
        click.echo(
            f"{t.topic_id:<20} {t.language:<5} {n:>4} {t.true_positives:>4} "
            f"{t.false_positives:>4} {t.false_negatives:>4} "
            f"{t.precision:>9.3f} {t.recall:>7.3f} {t.f1:>6.3f}"
        )
    for t in tallies:
        if t.language != "all" or not t.misses:
            continue
        click.echo(f"\n{t.topic_id}: what it got wrong")
        for miss in t.misses:
            kind = "FP" if miss.match.matched else "FN"
            title = miss.example.document.title[:TITLE_WIDTH]
            click.echo(f"  {kind} {miss.example.id}  score {miss.match.score:g}  {title}")
            if miss.match.reason:
                click.echo(f"       why: {miss.match.reason}")


# --- suggest --------------------------------------------------------------


@topics.command("suggest")
@click.argument("seed", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--id", "topic_id", default=None, help="Id of the drafted topic (default: from the file name)."
)
@pass_context
def suggest(ctx: CliContext, seed: Path, topic_id: str | None) -> None:
    """Draft a topic (YAML) from a seed story: names, numbers, phrases and matching lists."""
    from monitor.pipeline.match.suggest import suggest_topic

    config = ctx.config()
    text = seed.read_text(encoding="utf-8")
    draft_id = topic_id or _slug(seed.stem)
    try:
        suggestion = suggest_topic(text, config.term_lists, draft_id)
    except TopicQueryError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from exc
    seed_path = os.path.relpath(seed.resolve(), config.topics_path.resolve().parent)
    click.echo(suggestion.to_yaml(seed_path), nl=False)


def _slug(name: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return "-".join(part for part in slug.split("-") if part) or "new-topic"


# --- backtest -------------------------------------------------------------


@topics.command("backtest")
@click.option("--since", default="30d", show_default=True, help="How far back: 7d, 30d, a date.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per change.")
@pass_context
def backtest(ctx: CliContext, since: str, as_json: bool) -> None:
    """Re-run the current topics over stored articles: what would be added or dropped.

    Run it after editing the topic file and before restarting the daemon. Unmatched
    articles keep their text for storage.retention_days, so that is how far back it sees.
    """
    from monitor.cli.articles import parse_since

    matcher = ctx.matcher()
    store = ctx.store()
    changes: list[dict[str, Any]] = []
    checked = 0
    try:
        start = parse_since(since) or datetime.now(UTC) - timedelta(days=30)
        for stored in store.stored_texts(start):
            checked += 1
            before = set(store.matches_for([stored.id]).get(stored.id, {}))
            doc = Document(stored.title, stored.text, stored.language)
            after = {m.topic_id: m for m in matcher.match(doc) if m.matched}
            for topic_id in sorted(after.keys() - before):
                changes.append(_change("added", stored.id, stored.title, after[topic_id]))
            for topic_id in sorted(before - after.keys()):
                changes.append(
                    {"change": "dropped", "id": stored.id, "title": stored.title, "topic": topic_id}
                )
    finally:
        store.close()
    if as_json:
        for change in changes:
            click.echo(json.dumps(change, ensure_ascii=False))
        return
    for change in changes:
        sign = "+" if change["change"] == "added" else "-"
        score = f" ({change['score']:.1f})" if "score" in change else ""
        click.echo(f"{sign} {change['topic']:<16} #{change['id']:<6} {change['title']}{score}")
    added = sum(1 for c in changes if c["change"] == "added")
    click.echo(
        f"{checked} stored articles since {start:%Y-%m-%d}: "
        f"{added} matches would be added, {len(changes) - added} dropped"
    )


def _change(kind: str, article_id: int, title: str, match: TopicMatch) -> dict[str, Any]:
    return {
        "change": kind,
        "id": article_id,
        "title": title,
        "topic": match.topic_id,
        "score": round(match.score, 3),
        "terms": list(match.terms),
    }
