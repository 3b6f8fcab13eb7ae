"""Benchmark of the match stage: articles per second on one core.

    .venv/bin/python bench/bench_match.py            # about a minute
    .venv/bin/python bench/bench_match.py --quick    # fewer articles, rougher figures

Writes the table as markdown to bench/results/match.md (and prints it).

Articles: about 5 KB each, built from the sentences of the labelled dev set
(tests/data/topic-devset.jsonl) in its eight languages and scripts (Latin, Cyrillic,
Hangul, Japanese), with one word in four replaced by an invented word (Zipf-distributed,
30,000 per script) so that the vocabulary keeps growing as in real news. The "newsroom
feed": eight in ten articles from the set's easy negatives (sport, markets, weather,
culture), one in ten from its hard negatives (same vocabulary, other story), one in
ten from its positives. The worst case: every dev article padded to 5 KB, all of them
on or near the story.

Topics: the two shipped in config/topics.yaml, and 200 generated ones: 80 term lists
of 10-40 entries each (words, stems with ``*`` and two-word phrases taken from the
same text, several languages per list), combined by five query shapes with NEAR,
AND, OR, NOT, title: and sloppy phrases.

Baseline, in the same run: the naive matcher, one compiled case-insensitive regular
expression per distinct term of the topics, each searched over title and body for
all its occurrences (no folding, no query evaluation: a lower bound on its cost).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.config import load_topic_file  # noqa: E402
from monitor.models import Document, TopicDefinition  # noqa: E402
from monitor.pipeline.match import Matcher, build_matcher  # noqa: E402

DEVSET = ROOT / "tests" / "data" / "topic-devset.jsonl"
TOPICS = ROOT / "config" / "topics.yaml"
RESULTS = ROOT / "bench" / "results" / "match.md"
ARTICLE_BYTES = 5_000
LANGUAGE_SHARE = {"en": 0.5, "de": 0.08, "fr": 0.08, "es": 0.08, "ru": 0.07, "uk": 0.05}
LANGUAGE_SHARE |= {"ko": 0.07, "ja": 0.07}
SENTENCE_END = re.compile(r"(?<=[.!?。])\s*")


def load_devset() -> list[dict[str, object]]:
    with DEVSET.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def sentence_pools(records: Sequence[dict[str, object]]) -> dict[tuple[str, str], list[str]]:
    """Sentences by kind of article (easy, hard, positive) and language."""
    pools: dict[tuple[str, str], list[str]] = {}
    for record in records:
        kind = str(record["note"]).split()[0].lower()  # "easy", "hard" or "positive"
        text = str(record["text"]).replace("\n\n", " ")
        pool = pools.setdefault((kind, str(record["language"])), [])
        pool.extend(s for s in SENTENCE_END.split(text) if len(s) > 20)
    return pools


class InventedWords:
    """Zipf-distributed made-up words per script, so that every article brings new words
    (as real news does) and no cache sees only the dev set's small vocabulary."""

    ALPHABETS: ClassVar[dict[str, str]] = {
        "latin": "etaoinshrdlcumwfgypbvkjxqz",
        "cyrillic": "оеаинтсрвлкмдпуяыьгзбчйхжшюцщэф",
        "hangul": "".join(chr(c) for c in range(0xAC00, 0xAC00 + 11172, 37)),
        "kanji": "".join(chr(c) for c in range(0x4E00, 0x9FA0, 23)),
    }

    def __init__(self, rng: random.Random, size: int = 30_000) -> None:
        self.rng = rng
        self.words = {
            script: [self._word(letters, script) for _ in range(size)]
            for script, letters in self.ALPHABETS.items()
        }
        self.weights = [1 / rank for rank in range(1, size + 1)]

    def _word(self, letters: str, script: str) -> str:
        short = script in {"hangul", "kanji"}
        length = self.rng.randint(2, 4) if short else self.rng.randint(3, 11)
        return "".join(self.rng.choice(letters) for _ in range(length))

    def pick(self, script: str) -> str:
        return self.rng.choices(self.words[script], self.weights)[0]


SCRIPTS = {"ru": "cyrillic", "uk": "cyrillic", "ko": "hangul", "ja": "kanji"}


def noisy(sentence: str, language: str, invented: InventedWords, rng: random.Random) -> str:
    """About one word in four replaced by an invented word of the same script."""
    script = SCRIPTS.get(language, "latin")
    if script == "kanji":
        at = rng.randrange(len(sentence))
        return sentence[:at] + invented.pick(script) + sentence[at:]
    words = sentence.split(" ")
    return " ".join(invented.pick(script) if rng.random() < 0.25 else w for w in words)


def feed_articles(
    records: Sequence[dict[str, object]], count: int, invented: InventedWords, rng: random.Random
) -> list[Document]:
    """A newsroom feed of ~5 KB articles: eight in ten unrelated (sport, markets,
    weather...), one in ten sharing the story's vocabulary, one in ten on the story."""
    pools = sentence_pools(records)
    languages = list(LANGUAGE_SHARE)
    weights = list(LANGUAGE_SHARE.values())
    articles = []
    for number in range(count):
        language = rng.choices(languages, weights)[0]
        kind = {0: "positive", 1: "hard"}.get(number % 10, "easy")
        pool = pools[(kind, language)]
        sentences: list[str] = []
        while len(" ".join(sentences).encode()) < ARTICLE_BYTES:
            sentences.append(noisy(rng.choice(pool), language, invented, rng))
            if len(sentences) % 4 == 0:
                sentences.append("\n\n")
        title = " ".join(rng.choice(pool).split()[:10])
        articles.append(Document(title, " ".join(sentences), language))
    return articles


def padded_devset(records: Sequence[dict[str, object]]) -> list[Document]:
    """Every dev article, repeated to about 5 KB: the worst case, all on the story."""
    articles = []
    for record in records:
        text = str(record["text"])
        while len(text.encode()) < ARTICLE_BYTES:
            text += "\n\n" + str(record["text"])
        articles.append(Document(str(record["title"]), text, str(record["language"])))
    return articles


def candidate_terms(records: Sequence[dict[str, object]]) -> dict[str, list[str]]:
    """Words a topic might name, per language: ones found in at most four dev articles
    (names, places, specific nouns), with Korean and Japanese cut to word-sized pieces."""
    found: dict[str, Counter[str]] = {}
    for record in records:
        text = str(record["title"]) + " " + str(record["text"])
        language = str(record["language"])
        if language == "ja":
            words = {
                run[:n]
                for run in re.findall(r"[\u4e00-\u9fff\u30a0-\u30ff]{2,}", text)
                for n in (2, 3)
            }
        elif language == "ko":
            words = {w[:3] for w in re.findall(r"[\uac00-\ud7a3]{2,}", text)}
        else:
            words = set(re.findall(r"[^\W\d_]{5,}", text))
        found.setdefault(language, Counter()).update(words)
    return {lang: sorted(w for w, n in counts.items() if n <= 4) for lang, counts in found.items()}


def generated_topics(
    records: Sequence[dict[str, object]], invented: InventedWords, rng: random.Random
) -> tuple[list[TopicDefinition], dict[str, list[str]]]:
    """200 topics over 80 term lists of 10-40 entries in several languages each.

    Three entries in ten are words of the dev set, the rest invented words (which the
    articles use too, most of them rarely): topics about many other stories, as a
    newsroom follows them, sharing part of their vocabulary with this one.
    """
    words = candidate_terms(records)
    languages = sorted(words)
    lists: dict[str, list[str]] = {}
    for number in range(80):
        entries: set[str] = set()
        for _ in range(rng.randint(10, 40)):
            language = rng.choice(languages)
            pool = words[language]
            if rng.random() < 0.7:
                pool = invented.words[SCRIPTS.get(language, "latin")]
            word = rng.choice(pool)
            shape = rng.random()
            cyrillic = "\u0400" <= word[0] <= "\u04ff"  # inflected: lists hold stems
            if cyrillic or (shape < 0.2 and len(word) > 6 and word.isascii()):
                entries.add(word[: max(4, len(word) - 3)] + "*")
            elif shape < 0.35:
                entries.add(f"{word} {rng.choice(pool)}")
            else:
                entries.add(word)
        lists[f"list{number}"] = sorted(entries)
    names = list(lists)
    shapes: list[Callable[[list[str]], str]] = [
        lambda n: f"(@{n[0]} NEAR/{rng.randint(5, 30)} @{n[1]}) AND (@{n[2]} OR @{n[3]})",
        lambda n: f"@{n[0]} AND @{n[1]} AND NOT @{n[2]}",
        lambda n: f"(@{n[0]} OR @{n[1]}) NEAR/10 @{n[2]}",
        lambda n: f"title:@{n[0]} OR (@{n[1]} AND @{n[2]}^2)",
        lambda n: f'"{_first(lists[n[0]], rng)} {_first(lists[n[1]], rng)}"~8 OR @{n[2]}',
    ]
    topics = []
    for number in range(200):
        query = shapes[number % len(shapes)](rng.sample(names, 4))
        min_score = rng.choice([1.0, 2.0, 3.0])
        topics.append(TopicDefinition(f"topic-{number}", query, min_score=min_score))
    return topics, lists


def _first(entries: list[str], rng: random.Random) -> str:
    return rng.choice(entries).split()[0].rstrip("*")


class NaiveMatcher:
    """One compiled regular expression per distinct term, each searched in turn."""

    def __init__(self, term_lists: dict[str, list[str]], topics: Sequence[TopicDefinition]) -> None:
        terms = {
            term for name, entries in term_lists.items() for term in entries if _used(name, topics)
        }
        terms |= {word for topic in topics for word in re.findall(r'"([^"]+)"', topic.query)}
        self.patterns = [re.compile(_regex(term), re.IGNORECASE) for term in sorted(terms)]

    def match(self, doc: Document) -> list[tuple[int, int, int]]:
        found = []
        for number, pattern in enumerate(self.patterns):
            for text in (doc.title, doc.text):
                found.extend((number, m.start(), m.end()) for m in pattern.finditer(text))
        return found


def _used(name: str, topics: Sequence[TopicDefinition]) -> bool:
    return any(re.search(rf"@{name}\b", topic.query) for topic in topics)


def _regex(term: str) -> str:
    parts = []
    for word in term.split():
        stem = re.escape(word.rstrip("*")) + (r"\w*" if word.endswith("*") else "")
        parts.append(stem)
    body = r"\W+".join(parts)
    if re.search(r"[\u3040-\u9fff]", term):
        return body
    return rf"(?<!\w){body}(?!\w)"


def rate(match: Callable[[Document], object], articles: Sequence[Document], rounds: int) -> float:
    """Articles per CPU second of this process, best of ``rounds`` passes over ``articles``.

    CPU time rather than wall time, so that other work on the machine does not count;
    the matcher is single-threaded, so this is the rate of one core.
    """
    best = 0.0
    for _ in range(rounds):
        started = time.process_time()
        for article in articles:
            match(article)
        best = max(best, len(articles) / max(time.process_time() - started, 1e-9))
    return best


def matched_share(matcher: Matcher, articles: Sequence[Document]) -> float:
    hits = sum(any(m.matched for m in matcher.match(a)) for a in articles)
    return hits / len(articles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer articles and rounds")
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help=f"markdown file to write (default {RESULTS})"
    )
    args = parser.parse_args()
    count, rounds = (300, 2) if args.quick else (1500, 3)
    rng = random.Random(11)
    records = load_devset()
    invented = InventedWords(rng)
    feed = feed_articles(records, count, invented, rng)
    dense = padded_devset(records)

    problems: list[object] = []
    shipped, shipped_lists = load_topic_file(TOPICS, problems)  # type: ignore[arg-type]
    many, many_lists = generated_topics(records, invented, rng)
    setups = [
        ("2 shipped topics", list(shipped), dict(shipped_lists)),
        ("200 generated topics", many, many_lists),
    ]
    rows = []
    started = time.perf_counter()
    for label, topics, lists in setups:
        engine = build_matcher(topics, lists)
        naive = NaiveMatcher({k: list(v) for k, v in lists.items()}, topics)
        for corpus_label, corpus in (("newsroom feed", feed), ("all on the story", dense)):
            sample = corpus if label.startswith("2") else corpus[: max(100, len(corpus) // 3)]
            ours = rate(engine.match, sample, rounds)
            theirs = rate(naive.match, sample[: max(60, len(sample) // 5)], 1)
            share = matched_share(engine, sample)
            rows.append((label, corpus_label, len(naive.patterns), ours, theirs, share))
            print(f"{label:22} {corpus_label:18} {ours:8.0f}/s  naive {theirs:8.0f}/s", flush=True)
    write(rows, time.perf_counter() - started, len(feed), args.quick, args.output)


def write(
    rows: list[tuple[str, str, int, float, float, float]],
    seconds: float,
    articles: int,
    quick: bool,
    output: Path = RESULTS,
) -> None:
    command = "bench/bench_match.py" + (" --quick" if quick else "")
    lines = [
        "# Topic matching: measurements",
        "",
        f"Written by `.venv/bin/python {command}` in {seconds:.0f} s on one core of a "
        f"{platform.machine()} machine, Python {platform.python_version()}. "
        f"Articles of about 5 KB: a newsroom feed of {articles} (eight languages; eight in ten "
        "unrelated, one in ten sharing the story's vocabulary, one in ten on the story) and the "
        "120 dev articles padded to 5 KB (all on or near the story). "
        "Best of several passes; higher is better.",
        "",
        "| topics | articles | distinct terms | monitor articles/s | naive regex articles/s "
        "| ratio | matched |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, corpus, terms, ours, theirs, share in rows:
        lines.append(
            f"| {label} | {corpus} | {terms:,} | **{ours:,.0f}** | {theirs:,.0f} | "
            f"{ours / theirs:,.1f}× | {share:.0%} |"
        )
    lines += [
        "",
        "The naive baseline only finds terms (one `re.finditer` per term over title and body); "
        "it does no folding, proximity, scoring or explanation, so the ratio understates the gap "
        "for equal work. monitor scans each text once for the terms of all topics together, so "
        "its cost grows with the text, not with the number of terms.",
        "",
        "Rates are articles per CPU second of the benchmark process (`time.process_time`), so "
        "other work on the machine counts little; on a shared two-core machine repeated runs "
        "still varied by about 15%. The 200 generated topics are loose (random lists, shapes "
        "such as `title:@a OR ...`), so nearly every article matches one of them: a stress "
        "test of evaluation, not a picture of real topics. Japanese articles cost about three "
        "times an English one (each character is a token).",
    ]
    text = "\n".join(lines) + "\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print()
    print(text)


if __name__ == "__main__":
    main()
