"""The real-coverage evaluation: the shipped topics on news text nobody here wrote.

    .venv/bin/python bench/eval_topics.py                  # the tuning split
    .venv/bin/python bench/eval_topics.py --split test     # the held-back split (report it)
    .venv/bin/python bench/eval_topics.py --split all --json results.json

`make eval-topics` runs the held-back split. The labels are committed
(bench/data/topic-real-labels.jsonl: URL, language, how the text was found, the
labels and the labeller's reason); the texts, published by others, are not. They
live in the git-ignored bench/data/topic-real-texts/texts.jsonl, rebuilt with
``rebuild`` from the answers of the search that found them (see bench/data/README.md).

The texts were collected and labelled by helper sessions that never saw the topics
or the matcher (their brief: bench/data/topic-real-brief.md). Rows are split in two
by a hash of their URL: ``tune`` (topics and scores were adjusted looking at it) and
``test`` (looked at once, to report). Rows collected after a report are added with
``build --as fresh`` (then ``fresh2``): a split of their own, scored once.

Prints precision, recall and F1 per topic and per language, and every miss with the
matcher's reason.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from monitor.config import load_topic_file
from monitor.errors import ConfigError, ConfigProblem
from monitor.models import Document
from monitor.pipeline.match import Matcher, build_matcher
from monitor.pipeline.match.metrics import Example, Tally, tally

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "bench" / "data"
LABELS = DATA / "topic-real-labels.jsonl"
TEXTS = DATA / "topic-real-texts" / "texts.jsonl"
EXCLUDE = REPO.parent / "shared" / "data" / "eval-exclude-urls.txt"
TOPICS = {"troops": "nk-troops", "pact": "nk-russia-pact"}
SPLITS = ("tune", "test", "fresh", "fresh2")  # the last two: gathered after a report
LABEL_FIELDS = ("id", "url", "language", "script", "troops", "pact", "kind", "note", "query")


def split_of(url: str) -> str:
    """Half the rows tune, half test, by URL: stable whatever order rows arrive in."""
    return "tune" if hashlib.sha256(url.encode()).digest()[0] % 2 == 0 else "test"


def excluded_urls() -> set[str]:
    if not EXCLUDE.exists():
        return set()
    lines = EXCLUDE.read_text(encoding="utf-8").splitlines()
    return {_url_key(line) for line in lines if line.strip() and not line.startswith("#")}


def _url_key(url: str) -> str:
    url = url.strip().lower().removesuffix("/")
    for scheme in ("https://", "http://"):
        url = url.removeprefix(scheme)
    return url.removeprefix("www.")


def build(incoming: list[Path], split: str | None = None) -> None:
    """Add labelled rows from helper files to the labels and the texts files.

    Rows already in the labels keep their ids; new ones are numbered after them. Their
    split is ``split`` when given (rows gathered after a report), else `split_of`.
    """
    excluded = excluded_urls()
    labels = _read_jsonl(LABELS) if LABELS.exists() else []
    texts = {row["id"]: row for row in _read_jsonl(TEXTS)} if TEXTS.exists() else {}
    urls = {_url_key(row["url"]) for row in labels}
    texts_seen = {_text_key(row["text"]) for row in texts.values()}
    added: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    for path in incoming:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                dropped["not JSON"] += 1
                print(f"{path}:{number}: not JSON, left out", file=sys.stderr)
                continue
            key, text_key = _url_key(row["url"]), _text_key(row["text"])
            if key in excluded:
                dropped["on the exclusion list"] += 1
            elif key in urls:
                dropped["URL already there"] += 1
            elif text_key in texts_seen:
                dropped["same text twice"] += 1
            else:
                urls.add(key)
                texts_seen.add(text_key)
                added.append(row)
    last = max((int(row["id"].removeprefix("real-")) for row in labels), default=0)
    for number, row in enumerate(sorted(added, key=lambda r: (r["language"], r["url"])), last + 1):
        row_id = f"real-{number:04d}"
        label = {name: row.get(name, "") for name in LABEL_FIELDS[1:]}
        labels.append({"id": row_id, **label, "split": split or split_of(row["url"])})
        texts[row_id] = {"id": row_id, "url": row["url"], "text": row["text"]}
    _write_jsonl(LABELS, labels)
    TEXTS.parent.mkdir(parents=True, exist_ok=True)
    _write_jsonl(TEXTS, [texts[row["id"]] for row in labels if row["id"] in texts])
    print(f"{len(added)} rows added, {len(labels)} in all; left out: {dict(dropped) or 'none'}")


def _text_key(text: str) -> str:
    return " ".join(text.split())[:200]


def rebuild(answers: Path) -> None:
    """Rebuild the texts from saved answers of the search that found them.

    ``answers`` is a folder of JSON files, each one answer of the search tool's
    ``pages`` corpus (``{"results": [{"url", "excerpt"}, ...]}``), for the queries
    listed in the labels file.
    """
    labels = _read_jsonl(LABELS)
    wanted = {_url_key(row["url"]): row for row in labels}
    found: dict[str, dict[str, str]] = {}
    for path in sorted(answers.glob("*.json")):
        answer = json.loads(path.read_text(encoding="utf-8"))
        for result in answer.get("results", []):
            row = wanted.get(_url_key(result.get("url", "")))
            if row is not None and row["id"] not in found:
                found[row["id"]] = {"id": row["id"], "url": row["url"], "text": result["excerpt"]}
    kept = {row["id"]: row for row in _read_jsonl(TEXTS)} if TEXTS.exists() else {}
    kept.update(found)  # texts already here (rows added since) stay
    TEXTS.parent.mkdir(parents=True, exist_ok=True)
    _write_jsonl(TEXTS, [kept[row["id"]] for row in labels if row["id"] in kept])
    print(f"{len(found)} of {len(labels)} rows came back; {len(kept)} texts in {TEXTS}")


def load_examples(split: str) -> list[Example]:
    if not TEXTS.exists():
        sys.exit(f"{TEXTS} is missing: rebuild it first (see bench/data/README.md)")
    texts = {row["id"]: row["text"] for row in _read_jsonl(TEXTS)}
    examples = []
    for row in _read_jsonl(LABELS):
        if split != "all" and row["split"] != split:
            continue
        if row["id"] not in texts:
            continue
        document = Document("", texts[row["id"]], row["language"])
        labels = {topic: bool(row[name]) for name, topic in TOPICS.items()}
        examples.append(Example(row["id"], document, labels))
    return examples


def shipped_matcher(topics_path: Path, open_scores: bool = False) -> Matcher:
    """The topics of ``topics_path`` compiled; with ``open_scores``, every min_score 0."""
    problems: list[ConfigProblem] = []
    topics, term_lists = load_topic_file(topics_path, problems)
    if problems:
        sys.exit("\n".join(str(p) for p in problems))
    if open_scores:
        topics = tuple(replace(topic, min_score=0.0) for topic in topics)
    try:
        return build_matcher(topics, term_lists, topics_path)
    except ConfigError as exc:
        sys.exit(str(exc))


def evaluate(split: str, topics_path: Path) -> list[Tally]:
    matcher = shipped_matcher(topics_path)
    examples = load_examples(split)
    return tally(examples, lambda doc: matcher.match(doc, explain=True), by_language=True)


def sweep(split: str, topics_path: Path) -> str:
    """Precision, recall and F1 of each topic at a range of ``min_score`` values: the
    evidence for the thresholds (scores are the matcher's, the query must hold)."""
    matcher = shipped_matcher(topics_path, open_scores=True)
    shipped = shipped_matcher(topics_path).topics
    scored: dict[str, list[tuple[float, bool]]] = {}
    for example in load_examples(split):
        for result in matcher.match(example.document):
            if result.topic_id in example.labels:
                score = result.score if result.matched else -1.0
                scored.setdefault(result.topic_id, []).append(
                    (score, example.labels[result.topic_id])
                )
    lines = [f"{'topic':<16} {'min_score':>9} {'prec':>5} {'rec':>5} {'F1':>5}"]
    for topic in shipped:
        pairs = scored.get(topic.id, [])
        for threshold in (1.0, 1.25, 1.5, 1.6, 1.75, 2.0, 2.25, 2.5, 3.0):
            tp = sum(1 for s, label in pairs if s >= threshold and label)
            fp = sum(1 for s, label in pairs if s >= threshold and not label)
            fn = sum(1 for s, label in pairs if s < threshold and label)
            p = tp / (tp + fp) if tp + fp else 1.0
            r = tp / (tp + fn) if tp + fn else 1.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            mark = " <- shipped" if abs(threshold - topic.min_score) < 1e-9 else ""
            lines.append(f"{topic.id:<16} {threshold:>9.2f} {p:>5.2f} {r:>5.2f} {f1:>5.2f}{mark}")
    return "\n".join(lines)


def report(tallies: list[Tally], split: str, misses: bool) -> str:
    lines = [
        f"split: {split}",
        f"{'topic':<16} {'lang':<5} {'pos':>4} {'neg':>4} {'prec':>5} {'rec':>5} {'F1':>5}",
    ]
    for t in tallies:
        positives = t.true_positives + t.false_negatives
        negatives = t.false_positives + t.true_negatives
        lines.append(
            f"{t.topic_id:<16} {t.language:<5} {positives:>4} {negatives:>4} "
            f"{t.precision:>5.2f} {t.recall:>5.2f} {t.f1:>5.2f}"
        )
    if misses:
        lines.append("")
        for t in tallies:
            if t.language != "all":
                continue
            for miss in t.misses:
                kind = "FP" if miss.match.matched else "FN"
                doc = miss.example.document
                snippet = " ".join(doc.text.split())[:160]
                lines.append(
                    f"{kind} {t.topic_id} {miss.example.id} [{doc.language}] "
                    f"score {miss.match.score}: {miss.match.reason or 'matched'}\n"
                    f"    {miss.match.evidence or ''}\n    «{snippet}»"
                )
    return "\n".join(lines)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    path.write_text(body, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    merge = sub.add_parser("build", help="merge helpers' labelled rows (JSONL files)")
    merge.add_argument("files", nargs="+", type=Path)
    merge.add_argument("--as", dest="as_split", choices=SPLITS, help="the new rows' split")
    again = sub.add_parser("rebuild", help="rebuild the texts from saved search answers")
    again.add_argument("answers", type=Path)
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="tune")
    parser.add_argument("--topics", type=Path, default=REPO / "config" / "topics.yaml")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--no-misses", action="store_true", help="figures only")
    parser.add_argument(
        "--sweep", action="store_true", help="figures at a range of min_score values instead"
    )
    args = parser.parse_args()
    if args.command == "build":
        build(args.files, args.as_split)
        return
    if args.command == "rebuild":
        rebuild(args.answers)
        return
    if args.sweep:
        print(sweep(args.split, args.topics))
        return
    tallies = evaluate(args.split, args.topics)
    print(report(tallies, args.split, not args.no_misses))
    if args.json:
        figures = [t.as_dict() for t in tallies]
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
