"""The benchmark suite: every stage against its baseline, measured in the same run.

    make bench                                    # installs the bench extra, then this
    .venv/bin/python bench/run.py                 # everything (about 10 min on 2 cores)
    .venv/bin/python bench/run.py --quick         # smoke run, about 3 min, rough figures
    .venv/bin/python bench/run.py --only ingest,poll
    .venv/bin/python bench/run.py --list          # the stages and what each costs

Prints one table (stage, baseline, monitor's figure, ratio, goal, met?) and writes it,
with the machine, the date and notes per stage, to bench/results/summary.md (the README
includes that file). A `--quick` or `--only` run writes bench/results/tmp/summary.md
instead (git-ignored), unless `--output` says otherwise.

Everything runs on loopback: `testkit/news_site.py` generates news sites (article pages
of ~114 KB median shaped like real ones, RSS 2.0 feeds of 20-50 items) into a temporary
document root and `testkit/static_web.py` serves them on 127.0.0.1-127.0.0.16 with nginx
when installed or its own asyncio server, whichever is faster here. `monitor` runs as
users run it: the installed `.venv/bin/monitor` with a temporary configuration (SQLite in
a temporary directory, `http.allow_private_networks: true`, the shipped topics).

Stages (see `--list`): startup, extraction, ingest (with memory), poll, match, dedup.
The extraction-quality stage needs the scrapinghub article-extraction-benchmark (181 real
pages with ground truth); it is not in this repository. Get it once with

    git clone --depth 1 https://github.com/scrapinghub/article-extraction-benchmark \\
        bench/.data/article-extraction-benchmark

(bench/.data/ is git-ignored) or pass `--extraction-set DIR`; without it that stage is
skipped with a message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO))

from testkit.articles import article_sources  # noqa: E402
from testkit.news_site import (  # noqa: E402
    FeedFile,
    NewsSite,
    build_news_site,
    iter_pages,
    publish_feed,
    publish_poll_feeds,
)
from testkit.static_web import Web, loopback_hosts, nginx_binary, reserve_port, start_web  # noqa: E402

RESULTS = BENCH / "results"
DEFAULT_DATASET = BENCH / ".data" / "article-extraction-benchmark"
STAGES = ("startup", "extraction", "ingest", "poll", "match", "dedup")
COSTS = {
    "startup": "~15 s: `monitor --help` and `monitor check`, 9 runs each",
    "extraction": "~1 min: 181 real pages × 9 trafilatura settings (needs the dataset)",
    "ingest": "~4 min: 2,000-page site, bare trafilatura and newspaper4k loops, "
    "`monitor poll --once` over 1,000 then 2,000 articles with memory sampling",
    "poll": "~3 min: 5,000 feeds, priming passes, then timed passes of monitor, httpx, aiohttp",
    "match": "~30 s: bench/bench_match.py --quick",
    "dedup": "~1 min: bench/bench_dedup.py --quick (index up to 100,000 articles)",
}
HOSTS = 16


# --- the table ----------------------------------------------------------------------


@dataclass
class Row:
    stage: str
    baseline: str
    figure: str
    ratio: float | None = None
    goal: str = "—"
    met: bool | None = None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # markdown sections

    def add(self, other: Report) -> None:
        self.rows += other.rows
        self.notes += other.notes


def _fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:,.2f}×"


def _fmt_met(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "**no**")


def render_table(rows: Sequence[Row]) -> str:
    lines = [
        "| stage | baseline | monitor | ratio | goal | met? |",
        "| --- | --- | --- | ---: | --- | --- |",
    ]
    lines += [
        f"| {r.stage} | {r.baseline} | {r.figure} | {_fmt_ratio(r.ratio)} | {r.goal} | "
        f"{_fmt_met(r.met)} |"
        for r in rows
    ]
    return "\n".join(lines)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    nginx = nginx_binary()
    nginx_version = "not installed"
    if nginx:
        probe = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
        nginx_version = probe.stderr.strip().split("/")[-1] or "?"
    libraries = (
        "trafilatura",
        "lxml",
        "httpx",
        "feedparser",
        "SQLAlchemy",
        "rensa",
        "newspaper4k",
        "aiohttp",
        "uvloop",
    )
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": _mem_total(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "libraries": ", ".join(f"{name} {_version(name)}" for name in libraries)
        + f", nginx {nginx_version}",
    }


def _mem_total() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GB"
    return "?"


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


# --- process-tree memory ---------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _tree(pid: int) -> list[int]:
    children = _children_map()
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def _kb(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreeMemory(threading.Thread):
    """Samples the RSS (and PSS) summed over a process and all its descendants."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss_kb = self.peak_pss_kb = self.peak_main_kb = 0
        self.peak_processes = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            pids = _tree(self.pid)
            rss = sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids)
            pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
            main = _kb(f"/proc/{self.pid}/status", "VmRSS:")
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.peak_main_kb = max(self.peak_main_kb, main)
            self.peak_processes = max(self.peak_processes, len(pids))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


# --- running monitor ----------------------------------------------------------------------


def monitor_binary() -> str:
    found = shutil.which("monitor", path=str(Path(sys.executable).parent))
    if not found:
        raise SystemExit("the `monitor` command is not installed in this environment")
    return found


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}


def write_config(
    directory: Path, feed_urls: Sequence[str], extra: str = "", workers: int = 2
) -> Path:
    """A config dir: the shipped topics, these feeds, SQLite in ``directory``."""
    config = directory / "config"
    config.mkdir(parents=True)
    shutil.copy(REPO / "config" / "topics.yaml", config / "topics.yaml")
    if not (directory / "seeds").exists():
        shutil.copytree(REPO / "seeds", directory / "seeds")
    (config / "feeds.yaml").write_text(
        "feeds:\n" + "".join(f"  - url: {url}\n" for url in feed_urls), encoding="utf-8"
    )
    (config / "monitor.yaml").write_text(
        f"database:\n  url: sqlite:///{directory / 'monitor.db'}\n"
        "http:\n  allow_private_networks: true\n"
        f"extraction:\n  workers: {workers}\n" + extra,
        encoding="utf-8",
    )
    return config / "monitor.yaml"


@dataclass
class PollRun:
    summary: dict[str, Any]
    wall: float
    peak_rss_mb: float
    peak_pss_mb: float
    peak_main_mb: float
    processes: int
    probe: dict[str, Any] | None = None


def run_poll(config: Path, probe: bool = False) -> PollRun:
    """`monitor poll --once --json`, timed, with the process tree's memory sampled."""
    env = clean_env()
    probe_file = None
    if probe:
        handle, probe_file = tempfile.mkstemp(suffix=".json", prefix="probe-")
        os.close(handle)
        env["MONITOR_PROBE_OUT"] = probe_file
        command = [sys.executable, str(BENCH / "monitor_probe.py")]
    else:
        command = [monitor_binary()]
    command += ["--config", str(config), "poll", "--once", "--json"]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    sampler = TreeMemory(process.pid)
    sampler.start()
    out, err = process.communicate()
    wall = time.perf_counter() - started
    sampler.stop()
    if process.returncode != 0:
        raise RuntimeError(f"monitor poll exited {process.returncode}: {err[-2000:]}")
    probe_data = None
    if probe_file:
        probe_data = json.loads(Path(probe_file).read_text(encoding="utf-8"))
        os.unlink(probe_file)
    return PollRun(
        summary=json.loads(out.strip().splitlines()[-1]),
        wall=wall,
        peak_rss_mb=sampler.peak_rss_kb / 1024,
        peak_pss_mb=sampler.peak_pss_kb / 1024,
        peak_main_mb=sampler.peak_main_kb / 1024,
        processes=sampler.peak_processes,
        probe=probe_data,
    )


# --- the shared local web ---------------------------------------------------------------------


@dataclass
class Context:
    args: argparse.Namespace
    tmp: Path
    web: Web | None = None
    site: NewsSite | None = None
    poll_feeds: list[FeedFile] = field(default_factory=list)
    port: int = 0
    web_note: str = ""


def prepare_web(ctx: Context, articles: int, poll_feeds: int) -> None:
    """Generate the article site (and the poll feeds), then start the faster server."""
    args = ctx.args
    root = ctx.tmp / "www"
    root.mkdir()
    os.chmod(ctx.tmp, 0o755)
    os.chmod(root, 0o755)
    hosts = loopback_hosts(HOSTS)
    ctx.port = reserve_port(hosts)
    started = time.perf_counter()
    sources = article_sources(articles)
    ctx.site = build_news_site(root, hosts, ctx.port, sources)
    site_seconds = time.perf_counter() - started
    if poll_feeds:
        ctx.poll_feeds = build_poll_feeds(ctx, poll_feeds)
    sizes = sorted(len(body) for _, body in iter_pages(ctx.site))
    generated = time.perf_counter() - started
    ctx.web = start_web(root, hosts, args.server, ctx.port)
    check_server(ctx.web)
    rates = ", ".join(f"{name} {rate:,.0f} requests/s" for name, rate in ctx.web.rates.items())
    ctx.web_note = (
        f"Local web: {len(ctx.site.pages):,} article pages (median {_median_kb(sizes)} KB, "
        f"{sizes[0] / 1000:.0f}-{sizes[-1] / 1000:.0f} KB) behind {len(ctx.site.feeds)} RSS feeds"
        + (f", plus {len(ctx.poll_feeds):,} feeds for the poll pass" if ctx.poll_feeds else "")
        + f", on {HOSTS} loopback addresses; generated in {generated:.0f} s "
        f"(pages {site_seconds:.0f} s). Served by **{ctx.web.backend}**"
        + (f" (measured: {rates}; the faster kept)" if rates else " (chosen with --server)")
        + "; ETag, Last-Modified and 304 checked before the benchmarks."
    )
    print(ctx.web_note, flush=True)


def _median_kb(sizes: Sequence[int]) -> str:
    return f"{statistics.median(sizes) / 1000:.0f}"


def check_server(web: Web) -> None:
    """The server must send validators, honour them, and ignore them under /nv/."""
    import httpx

    sample = next(web.root.rglob("*.xml"))
    path = "/" + str(sample.relative_to(web.root))
    with httpx.Client(trust_env=False) as client:
        first = client.get(web.url(path))
        etag, modified = first.headers.get("etag"), first.headers.get("last-modified")
        if first.status_code != 200 or not etag or not modified:
            raise RuntimeError(f"{web.backend}: no validators on {path}")
        again = client.get(web.url(path), headers={"If-None-Match": etag})
        since = client.get(web.url(path), headers={"If-Modified-Since": modified})
        if again.status_code != 304 or since.status_code != 304:
            raise RuntimeError(f"{web.backend}: conditional GET not answered with 304")
        nv = next((p for p in web.root.glob("nv/**/*.xml")), None)
        if nv is not None:
            nv_path = "/" + str(nv.relative_to(web.root))
            plain = client.get(web.url(nv_path))
            cond = client.get(
                web.url(nv_path),
                headers={"If-Modified-Since": plain.headers.get("last-modified", "")},
            )
            if cond.status_code != 200 or "etag" in cond.headers:
                raise RuntimeError(f"{web.backend}: /nv/ must ignore conditional requests")


# --- stage: start-up ---------------------------------------------------------------------------


def _median_wall(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True, env=clean_env())
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def stage_startup(ctx: Context) -> Report:
    runs = 3 if ctx.args.quick else 9
    monitor = monitor_binary()
    config = REPO / "config" / "monitor.yaml"
    baseline = _median_wall([sys.executable, "-c", "pass"], runs)
    help_s = _median_wall([monitor, "--help"], runs)
    check_s = _median_wall([monitor, "--config", str(config), "check"], runs)
    imports = _import_times([sys.executable, "-X", "importtime", monitor, "--help"])
    check_imports = _import_times(
        [sys.executable, "-X", "importtime", monitor, "--config", str(config), "check"]
    )
    rows = [
        Row(
            "Start-up: `monitor --help`",
            f"`python -c pass` {baseline:.3f} s",
            f"{help_s:.3f} s",
            help_s / baseline,
            "< 0.3 s",
            help_s < 0.3,
        ),
        Row(
            "Start-up: `monitor check` (shipped config)",
            f"`python -c pass` {baseline:.3f} s",
            f"{check_s:.3f} s",
            check_s / baseline,
            "< 1 s",
            check_s < 1.0,
        ),
    ]
    note = [
        "### Start-up",
        "",
        f"Median wall time of {runs} runs each, from the benchmark process "
        "(`subprocess.run`), shipped `config/`. Where the import time goes "
        "(`python -X importtime`, one run each; the modules' own times summed by top-level "
        "package; `monitor` is monitor's own modules):",
        "",
        "| `monitor --help` | ms | `monitor check` | ms |",
        "| --- | ---: | --- | ---: |",
    ]
    for (name_a, ms_a), (name_b, ms_b) in zip(imports[:8], check_imports[:8], strict=False):
        note.append(f"| {name_a} | {ms_a:.0f} | {name_b} | {ms_b:.0f} |")
    return Report(rows, ["\n".join(note)])


def _import_times(command: list[str]) -> list[tuple[str, float]]:
    """Import time (ms) by top-level package: the sum of its modules' own ("self")
    times, so a library imported from inside monitor counts for the library."""
    result = subprocess.run(command, capture_output=True, text=True, env=clean_env())
    totals: dict[str, float] = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s*(\S+)", line)
        if not match:
            continue
        top = match.group(3).split(".")[0]
        totals[top] = totals.get(top, 0.0) + int(match.group(1)) / 1000
    return sorted(totals.items(), key=lambda item: item[1], reverse=True)


# --- stage: extraction quality --------------------------------------------------------------------


_TOKEN = re.compile(r"\w+", re.UNICODE)


def _shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    return Counter(
        tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n]
    )


def _tp_fp_fn(true: Counter[Any], pred: Counter[Any]) -> tuple[float, float, float]:
    tp = float(sum((true & pred).values()))
    fp = float(sum((pred - true).values()))
    fn = float(sum((true - pred).values()))
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _prf(triples: Sequence[tuple[float, float, float]]) -> tuple[float, float, float]:
    """evaluate.py of the article-extraction-benchmark: mean per-page P and R, then F1."""

    def precision(tp: float, fp: float, fn: float) -> float:
        if fp == fn == 0:
            return 1.0
        return 0.0 if tp == fp == 0 else tp / (tp + fp)

    def recall(tp: float, fp: float, fn: float) -> float:
        if fp == fn == 0:
            return 1.0
        return 0.0 if tp == fn == 0 else tp / (tp + fn)

    p = statistics.mean(precision(*t) for t in triples if t[0] + t[1] > 0)
    r = statistics.mean(recall(*t) for t in triples if t[0] + t[2] > 0)
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def extraction_settings() -> list[tuple[str, Callable[[bytes, str], str]]]:
    import trafilatura

    from monitor.errors import ExtractError
    from monitor.pipeline.extract import extract_page

    def plain(**options: Any) -> Callable[[bytes, str], str]:
        return lambda html, url: trafilatura.extract(html, url=url, **options) or ""

    def pipeline(html: bytes, url: str) -> str:
        try:
            return extract_page(html, url).text
        except ExtractError:
            return ""

    def pipeline_before(html: bytes, url: str) -> str:
        try:
            return extract_page(html, url, fast=False).text
        except ExtractError:
            return ""

    return [
        ("`extract()` default", plain()),
        ("`fast=True`", plain(fast=True)),
        ("`include_comments=False` (the benchmark's own run)", plain(include_comments=False)),
        ("`include_comments=False, fast=True`", plain(include_comments=False, fast=True)),
        ("`favor_precision=True`", plain(favor_precision=True)),
        ("`favor_recall=True`", plain(favor_recall=True)),
        ("`deduplicate=True`", plain(deduplicate=True)),
        ("`include_tables=False`", plain(include_tables=False)),
        ("**monitor's `extract_page`** (bare_extraction + metadata, no comments/tables)", pipeline),
        ("monitor's settings before, without `fast=True`", pipeline_before),
    ]


@dataclass
class ExtractionSet:
    """The benchmark's pages with their ground truth, read once for every setting."""

    keys: list[str]
    urls: dict[str, str]
    pages: dict[str, bytes]
    expected: dict[str, Counter[tuple[str, ...]]]  # 4-token shingles of the article body
    expected_words: dict[str, Counter[str]]


class Scored(NamedTuple):
    label: str
    precision: float
    recall: float
    f1: float
    bow_f1: float
    pages_per_s: float
    pages_per_cpu_s: float
    empty: int


def stage_extraction(ctx: Context) -> Report:
    dataset = Path(ctx.args.extraction_set)
    if not (dataset / "ground-truth.json").exists() or not (dataset / "html").is_dir():
        return _extraction_skipped(dataset)
    pages = load_extraction_set(dataset, ctx.args.quick)
    settings = extraction_settings()
    first = pages.keys[0]
    settings[0][1](pages.pages[first], pages.urls[first])  # warm-up: imports, caches
    results = [score_setting(label, extract, pages) for label, extract in settings]
    rows = _extraction_rows(results, len(pages.keys), ctx.args.quick)
    return Report(rows, [_extraction_note(results, len(pages.keys))])


def _extraction_skipped(dataset: Path) -> Report:
    message = (
        f"skipped: no dataset at {dataset} (html/*.html.gz and ground-truth.json of "
        "github.com/scrapinghub/article-extraction-benchmark; see `bench/run.py --help`)"
    )
    print("extraction: " + message, flush=True)
    return Report(
        [Row("Extraction quality (F1)", "—", message)],
        ["### Extraction quality\n\n" + message],
    )


def load_extraction_set(dataset: Path, quick: bool) -> ExtractionSet:
    """Every page (every fourth with ``quick``), decompressed, and its expected text."""
    truth = json.loads((dataset / "ground-truth.json").read_text(encoding="utf-8"))
    keys = sorted(truth)
    if quick:
        keys = keys[::4]
    bodies = {k: truth[k].get("articleBody", "") for k in keys}
    return ExtractionSet(
        keys=keys,
        urls={k: truth[k].get("url", "") for k in keys},
        pages={k: gzip.decompress((dataset / "html" / f"{k}.html.gz").read_bytes()) for k in keys},
        expected={k: _shingles(bodies[k]) for k in keys},
        expected_words={k: Counter(_TOKEN.findall(bodies[k])) for k in keys},
    )


def score_setting(label: str, extract: Callable[[bytes, str], str], pages: ExtractionSet) -> Scored:
    """One setting over every page: the benchmark's F1, bag-of-words F1 and speed."""
    keys = pages.keys
    started = time.perf_counter()
    cpu = time.process_time()
    texts = {k: extract(pages.pages[k], pages.urls[k]) for k in keys}
    wall = time.perf_counter() - started
    cpu_s = time.process_time() - cpu
    p, r, f1 = _prf([_tp_fp_fn(pages.expected[k], _shingles(texts[k])) for k in keys])
    words = [_tp_fp_fn(pages.expected_words[k], Counter(_TOKEN.findall(texts[k]))) for k in keys]
    bow = _prf(words)
    empty = sum(1 for t in texts.values() if not t.strip())
    print(f"extraction: {label}: F1 {f1:.3f}, {len(keys) / cpu_s:.1f} pages/CPU-s", flush=True)
    return Scored(label, p, r, f1, bow[2], len(keys) / wall, len(keys) / cpu_s, empty)


def _extraction_rows(results: Sequence[Scored], pages: int, quick: bool) -> list[Row]:
    default = results[0]
    ours = next(row for row in results if row.label.startswith("**monitor"))
    before = next(r for r in results if r.label == "monitor's settings before, without `fast=True`")
    return [
        Row(
            "Extraction quality: F1 on 181 real pages"
            if not quick
            else f"Extraction quality: F1 on {pages} real pages (quick)",
            f"trafilatura default F1 {default.f1:.3f}, {default.pages_per_cpu_s:.0f} pages/CPU-s",
            f"monitor's settings F1 {ours.f1:.3f}, {ours.pages_per_cpu_s:.0f} pages/CPU-s",
            ours.f1 / default.f1,
            "F1 ≥ default",
            ours.f1 >= default.f1 - 0.005,
        ),
        Row(
            "Extraction speed, same F1? monitor's settings before and after `fast=True`",
            f"before: {before.pages_per_cpu_s:.0f} pages/CPU-s, F1 {before.f1:.3f}",
            f"after: {ours.pages_per_cpu_s:.0f} pages/CPU-s, F1 {ours.f1:.3f}",
            ours.pages_per_cpu_s / before.pages_per_cpu_s,
            "—",
            None,
        ),
    ]


def _extraction_note(results: Sequence[Scored], pages: int) -> str:
    note = [
        "### Extraction quality and speed",
        "",
        f"{pages} pages of the scrapinghub article-extraction-benchmark (real news and "
        "blog pages with their article text as ground truth; median 114 KB), bytes passed as "
        "the pipeline passes them. *F1*: the benchmark's own measure (`evaluate.py`: 4-token "
        "shingles of `\\w+` tokens, per-page precision and recall normalised per page, "
        "averaged, then F1); *bag-of-words F1*: the same over single tokens. Speed: one "
        "process, pages per wall second and per CPU second.",
        "",
        "| setting | precision | recall | F1 | bag-of-words F1 | pages/s | pages/CPU-s | empty |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, p, r, f1, bow_f1, rate, cpu_rate, empty in results:
        note.append(
            f"| {label} | {p:.3f} | {r:.3f} | {f1:.3f} | {bow_f1:.3f} | {rate:.1f} | "
            f"{cpu_rate:.1f} | {empty} |"
        )
    return "\n".join(note)


# --- stage: ingest and memory -------------------------------------------------------------------


def _sample(items: Sequence[Any], count: int) -> list[Any]:
    if count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def bare_trafilatura(pages: Sequence[tuple[str, bytes]]) -> tuple[float, float]:
    """pages/s of `trafilatura.extract` in this process: per wall and per CPU second."""
    import trafilatura

    trafilatura.extract(pages[0][1], url=pages[0][0])  # warm-up
    started, cpu = time.perf_counter(), time.process_time()
    for url, page in pages:
        trafilatura.extract(page, url=url)
    return len(pages) / (time.perf_counter() - started), len(pages) / (time.process_time() - cpu)


def offline_tldextract() -> None:
    """newspaper4k's tldextract would fetch the public suffix list from the internet;
    use the snapshot it ships instead (nothing leaves loopback)."""
    import tldextract
    import tldextract.tldextract as module

    module.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def bare_newspaper(urls: Sequence[str]) -> tuple[float, int, int]:
    """pages/s of newspaper4k's download-and-parse loop; pages with text; pages failed."""
    offline_tldextract()
    from newspaper import Article  # type: ignore[import-untyped,unused-ignore]

    warm = Article(urls[0], fetch_images=False)
    warm.download()
    warm.parse()
    started = time.perf_counter()
    with_text = failed = 0
    for url in urls:
        article = Article(url, fetch_images=False)
        try:
            article.download()
            article.parse()
        except Exception:  # e.g. Korean pages need nltk, which the bench does not install
            failed += 1
            continue
        with_text += bool(article.text.strip())
    return len(urls) / (time.perf_counter() - started), with_text, failed


def _feeds_covering(site: NewsSite, articles: int) -> list[FeedFile]:
    chosen, total = [], 0
    for feed in site.feeds:
        if total >= articles:
            break
        chosen.append(feed)
        total += len(feed.items)
    return chosen


@dataclass
class IngestBaselines:
    """The bare loops over the same pages, in this process."""

    pages: int  # of the trafilatura loop
    rate: float  # pages per wall second
    cpu_rate: float  # pages per CPU second
    news_pages: int  # of the newspaper4k loop
    news_rate: float  # 0 when newspaper4k is not installed
    news_text: int
    news_failed: int


@dataclass
class IngestRuns:
    """`monitor poll --once` over about half the articles, then over all of them."""

    half: PollRun
    full: PollRun
    feeds: int  # of the full run

    @property
    def new_full(self) -> int:
        return int(self.full.summary["entries_new"])

    @property
    def new_half(self) -> int:
        return int(self.half.summary["entries_new"])

    @property
    def rate(self) -> float:
        """New articles per second of the full pass."""
        return self.new_full / float(self.full.summary["seconds"])

    @property
    def growth_mb(self) -> float:
        """Peak RSS growth per 1,000 articles between the two runs."""
        if self.new_full <= self.new_half:
            return 0.0
        grown = self.full.peak_rss_mb - self.half.peak_rss_mb
        return grown / (self.new_full - self.new_half) * 1000


def stage_ingest(ctx: Context) -> Report:
    assert ctx.site is not None and ctx.web is not None
    site, web = ctx.site, ctx.web
    pages = [(site.page_url(web, i), body) for i, (_, body) in enumerate(iter_pages(site))]
    bare = ingest_baselines(ctx.args, pages)
    runs = ingest_runs(ctx)
    return Report(_ingest_rows(bare, runs), [_ingest_note(bare, runs)])


def ingest_baselines(
    args: argparse.Namespace, pages: Sequence[tuple[str, bytes]]
) -> IngestBaselines:
    sample = _sample(pages, args.baseline_pages)
    print(f"ingest: bare trafilatura.extract over {len(sample)} pages ...", flush=True)
    rate, cpu_rate = bare_trafilatura(sample)
    news_urls = [url for url, _ in _sample(pages, args.newspaper_pages)]
    print(f"ingest: newspaper4k over {len(news_urls)} pages ...", flush=True)
    try:
        news_rate, news_text, news_failed = bare_newspaper(news_urls)
    except ImportError:
        news_rate, news_text, news_failed = 0.0, 0, 0
    return IngestBaselines(
        len(sample), rate, cpu_rate, len(news_urls), news_rate, news_text, news_failed
    )


def ingest_runs(ctx: Context) -> IngestRuns:
    """Each run on a store of its own, with the feeds that cover its number of articles."""
    assert ctx.site is not None and ctx.web is not None
    site, web = ctx.site, ctx.web
    runs: dict[str, PollRun] = {}
    for label, count in (("half", max(1, ctx.args.articles // 2)), ("full", ctx.args.articles)):
        feeds = _feeds_covering(site, count)
        directory = ctx.tmp / f"ingest-{label}"
        config = write_config(directory, [site.feed_url(web, f) for f in feeds])
        items = sum(len(f.items) for f in feeds)
        print(f"ingest: monitor poll --once over {items} articles ...", flush=True)
        runs[label] = run_poll(config)
    return IngestRuns(runs["half"], runs["full"], len(_feeds_covering(site, ctx.args.articles)))


def _ingest_rows(bare: IngestBaselines, runs: IngestRuns) -> list[Row]:
    full, rate, news_rate = runs.full, runs.rate, bare.news_rate
    goal_memory = 400  # for 2,000 articles; a smaller run is held to it too
    return [
        Row(
            f"Ingest: {runs.new_full:,} new articles, whole pipeline (2 extraction workers)",
            f"bare `trafilatura.extract`, 1 process: {bare.rate:.1f} pages/s",
            f"{rate:.1f} articles/s",
            rate / bare.rate,
            "≥ 1.5×",
            rate / bare.rate >= 1.5,
        ),
        Row(
            "Ingest vs newspaper4k",
            f"newspaper4k download + parse: {news_rate:.1f} pages/s"
            if news_rate
            else "newspaper4k not installed",
            f"{rate:.1f} articles/s",
            rate / news_rate if news_rate else None,
            "≥ 10×",
            rate / news_rate >= 10 if news_rate else None,
        ),
        Row(
            f"Memory: peak RSS, {runs.new_full:,}-article ingest (process + workers)",
            "—",
            f"{full.peak_rss_mb:.0f} MB (PSS {full.peak_pss_mb:.0f} MB)",
            None,
            f"< {goal_memory:.0f} MB",
            full.peak_rss_mb < goal_memory,
        ),
        Row(
            "Memory: growth per 1,000 articles",
            f"{runs.new_half:,} articles: {runs.half.peak_rss_mb:.0f} MB",
            f"{runs.growth_mb:+.0f} MB",
            None,
            "—",
            None,
        ),
    ]


def _ingest_note(bare: IngestBaselines, runs: IngestRuns) -> str:
    full, part, s = runs.full, runs.half, runs.full.summary
    wall_rate = runs.new_full / full.wall
    note = [
        "### Ingest and memory",
        "",
        f"`monitor poll --once --json` (the installed command, 2 extraction workers, SQLite in "
        f"a temporary directory, shipped topics) over {runs.feeds}"
        f" RSS feeds of 20-50 items on {HOSTS} loopback hosts; every article new. The rate is "
        "new articles per second of the pass (`seconds` in the JSON summary, which leaves out "
        "process start-up and opening the store); per wall second of the whole command it is "
        f"{wall_rate:.1f} articles/s ({full.wall:.1f} s wall, {s['seconds']:.1f} s pass).",
        "",
        f"- Stored {s['articles_stored']:,}, matched {s['articles_matched']:,}, duplicates "
        f"{s['duplicates']:,}, failed feeds {s['feeds_failed']}.",
        f"- Bare trafilatura: `trafilatura.extract(page, url=url)` over {bare.pages} of the "
        f"same pages (evenly spread over the site, bytes read from the document "
        f"root), one process: {bare.rate:.1f} pages/s per wall second, {bare.cpu_rate:.1f} per "
        "CPU second. On 2 cores the physical limit of the pipeline is about twice that.",
        f"- newspaper4k {_version('newspaper4k')}: `Article(url, fetch_images=False)`, "
        f"`.download()`, `.parse()` over {bare.news_pages} of the pages (a subset: it is "
        f"slow), served by the same local server; {bare.news_text} of them gave text, "
        f"{bare.news_failed} raised (non-English pages that need nltk, not installed here).",
        f"- Memory: RSS summed over `monitor` and all its descendants (forkserver and "
        f"extraction workers), sampled every 0.2 s; peak {full.peak_rss_mb:.0f} MB "
        f"(main process alone {full.peak_main_mb:.0f} MB; proportional set size, which "
        f"counts shared pages once, {full.peak_pss_mb:.0f} MB; {full.processes} processes). "
        f"The {runs.new_half:,}-article run peaked at {part.peak_rss_mb:.0f} MB "
        f"(main {part.peak_main_mb:.0f} MB); growth per 1,000 articles is the difference "
        "scaled.",
    ]
    return "\n".join(note)


# --- stage: poll pass --------------------------------------------------------------------------


def build_poll_feeds(ctx: Context, count: int) -> list[FeedFile]:
    """``count`` RSS feeds of 20-50 items whose links point at already-served pages.

    One in ten is served under /nv/ (no ETag, conditional requests ignored). Every
    item links to one of the first 200 article pages, so a priming pass fetches at most
    200 pages and records the rest as duplicates by URL.
    """
    assert ctx.site is not None
    return publish_poll_feeds(
        ctx.site,
        loopback_hosts(HOSTS),
        ctx.port,
        count,
        ctx.site.pages[:200],
        seed=23,
        tag="poll",
    )


def change_feeds(ctx: Context, feeds: Sequence[FeedFile]) -> None:
    """Publish a new top item in each feed, linking to a page already stored."""
    assert ctx.site is not None
    hosts = loopback_hosts(HOSTS)
    for feed in feeds:
        newest = max(article.published for article, _, _ in feed.items)
        article, guid, link = feed.items[1]
        update = replace(
            article,
            id=guid + ":new",
            title=article.title + " (update)",
            published=newest + timedelta(hours=1),
        )
        feed.items.insert(0, (update, guid + ":new", link))
        publish_feed(ctx.site, feed, f"http://{hosts[feed.host]}:{ctx.port}", bump=True)


async def _bare_httpx(
    urls: Sequence[str], validators: dict[str, tuple[str | None, str | None]], concurrency: int
) -> tuple[float, Counter[int], dict[str, tuple[str | None, str | None]]]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    seen: dict[str, tuple[str | None, str | None]] = {}
    statuses: Counter[int] = Counter()
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60, trust_env=False) as client:

        async def one(url: str) -> None:
            headers = _conditional(validators.get(url))
            async with gate:
                response = await client.get(url, headers=headers)
                await response.aread()
            statuses[response.status_code] += 1
            seen[url] = (response.headers.get("etag"), response.headers.get("last-modified"))

        started = time.perf_counter()
        await asyncio.gather(*(one(url) for url in urls))
        return time.perf_counter() - started, statuses, seen


async def _bare_aiohttp(
    urls: Sequence[str], validators: dict[str, tuple[str | None, str | None]], concurrency: int
) -> tuple[float, Counter[int]]:
    import aiohttp

    statuses: Counter[int] = Counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def one(url: str) -> None:
            async with session.get(url, headers=_conditional(validators.get(url))) as response:
                await response.read()
                statuses[response.status] += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(url) for url in urls))
        return time.perf_counter() - started, statuses


def _conditional(pair: tuple[str | None, str | None] | None) -> dict[str, str]:
    headers = {}
    if pair and pair[0]:
        headers["If-None-Match"] = pair[0]
    if pair and pair[1]:
        headers["If-Modified-Since"] = pair[1]
    return headers


@dataclass
class PollPasses:
    """The poll stage's measurements: monitor's passes and the bare clients' over the
    same feeds, after 10% of them changed."""

    urls: list[str]
    changed_urls: set[str]
    concurrency: int
    priming: PollRun
    timed: PollRun
    httpx_s: float
    httpx_statuses: Counter[int]
    aiohttp_s: float | None  # None when aiohttp is not installed
    aiohttp_statuses: Counter[int]

    @property
    def rate(self) -> float:
        return len(self.urls) / float(self.timed.summary["seconds"])

    @property
    def bare_rate(self) -> float:
        return len(self.urls) / self.httpx_s


def stage_poll(ctx: Context) -> Report:
    passes = poll_passes(ctx)
    check = _check_parser(passes.timed.probe or {}, set(passes.urls), passes.changed_urls)
    return Report(_poll_rows(passes, check), [_poll_note(ctx, passes, check)])


def poll_passes(ctx: Context) -> PollPasses:
    """Prime monitor and the bare httpx client, change 10% of the feeds, then time all."""
    assert ctx.site is not None and ctx.web is not None
    web, feeds = ctx.web, ctx.poll_feeds
    urls = [ctx.site.feed_url(web, feed) for feed in feeds]
    concurrency = 20  # monitor's default polling.concurrency
    directory = ctx.tmp / "poll"
    config = write_config(directory, urls, "polling:\n  max_entries_per_pass: 1\n")
    print(f"poll: priming pass of monitor over {len(urls):,} feeds ...", flush=True)
    priming = run_poll(config, probe=True)
    print(f"poll: priming done in {priming.wall:.0f} s; priming the bare clients ...", flush=True)
    _, _, validators = asyncio.run(_bare_httpx(urls, {}, concurrency))
    rng = random.Random(5)
    changed = set(rng.sample(range(len(feeds)), len(feeds) // 10))
    change_feeds(ctx, [feeds[i] for i in sorted(changed)])
    print("poll: timed passes ...", flush=True)
    httpx_s, httpx_statuses, _ = asyncio.run(_bare_httpx(urls, validators, concurrency))
    aiohttp_s: float | None = None
    try:
        aiohttp_s, aiohttp_statuses = asyncio.run(_bare_aiohttp(urls, validators, concurrency))
    except ImportError:
        aiohttp_statuses = Counter()
    timed = run_poll(config, probe=True)
    return PollPasses(
        urls,
        {urls[i] for i in changed},
        concurrency,
        priming,
        timed,
        httpx_s,
        httpx_statuses,
        aiohttp_s,
        aiohttp_statuses,
    )


def _poll_rows(passes: PollPasses, check: dict[str, int]) -> list[Row]:
    urls, changed_urls = passes.urls, passes.changed_urls
    rate, bare_rate = passes.rate, passes.bare_rate
    return [
        Row(
            f"Poll pass: {len(urls):,} feeds, 10% changed",
            f"bare httpx AsyncClient, {passes.concurrency} concurrent: {bare_rate:,.0f} feeds/s",
            f"{rate:,.0f} feeds/s",
            rate / bare_rate,
            "≥ 0.7×",
            rate / bare_rate >= 0.7,
        ),
        Row(
            "Poll pass: 304s and unchanged bodies that reached the parser",
            f"{check['not_modified']:,} × 304, {check['unchanged_200']:,} unchanged 200s",
            f"{check['parsed_304'] + check['parsed_unchanged']} parsed "
            f"(changed feeds parsed: {check['parsed_changed']} of {len(changed_urls)})",
            None,
            "0",
            check["parsed_304"] + check["parsed_unchanged"] == 0
            and check["parsed_changed"] == len(changed_urls),
        ),
    ]


def _poll_note(ctx: Context, passes: PollPasses, check: dict[str, int]) -> str:
    urls, changed_urls, priming, timed = (
        passes.urls,
        passes.changed_urls,
        passes.priming,
        passes.timed,
    )
    s = timed.summary
    aiohttp_line = (
        f"aiohttp {_version('aiohttp')} with the same concurrency and headers: "
        f"{len(urls) / passes.aiohttp_s:,.0f} feeds/s ({dict(passes.aiohttp_statuses)})."
        if passes.aiohttp_s
        else "aiohttp is not installed."
    )
    note = [
        "### Poll pass",
        "",
        f"{len(urls):,} RSS feeds of 20-50 items (median {_median_kb(_feed_sizes(ctx))} KB) "
        f"on {HOSTS} loopback hosts; one in ten is served by a location that sends no ETag "
        "and ignores conditional requests (so an unchanged feed comes back as a full 200). "
        "First a priming pass (untimed; monitor stores every feed's validators and body "
        f"hash: {priming.wall:.0f} s wall, {priming.summary['entries_new']:,} entries, "
        f"{priming.summary['duplicates']:,} duplicates by URL); `polling.max_entries_per_pass: "
        "1` keeps the priming to one entry per feed, so it fetches at most 200 pages instead "
        f"of ingesting ~{35 * len(urls):,} articles. Then {len(changed_urls)} feeds (10%) get "
        "a new top item linking to an article already stored (a duplicate by URL: no page "
        "fetch), and the timed passes run over the same server state:",
        "",
        f"- monitor: {s['seconds']:.1f} s pass ({timed.wall:.1f} s wall with start-up): "
        f"{passes.rate:,.0f} feeds/s; {s['entries_new']} new entries, {s['duplicates']} "
        f"duplicates, {s['articles_stored']} stored, {s['feeds_failed']} failed; peak RSS "
        f"{timed.peak_rss_mb:.0f} MB.",
        f"- bare httpx {_version('httpx')} `AsyncClient` (one client, {passes.concurrency} "
        "requests at a time, the validators it saw in its own priming pass as If-None-Match / "
        f"If-Modified-Since; reads the body, nothing else): {passes.httpx_s:.1f} s, "
        f"{passes.bare_rate:,.0f} feeds/s ({dict(passes.httpx_statuses)}).",
        f"- {aiohttp_line}",
        f"- Parser check (`bench/monitor_probe.py` wraps `Fetcher.get` and the `parse_feed` "
        f"the pipeline calls): of the timed pass's responses {check['not_modified']:,} were "
        f"304 and {check['unchanged_200']:,} were 200s with an unchanged body; parsed: "
        f"{check['parsed_304']} of the 304s, {check['parsed_unchanged']} of the unchanged, "
        f"{check['parsed_changed']} of the {len(changed_urls)} changed; page fetches "
        f"{check['page_gets']}.",
    ]
    return "\n".join(note)


def _feed_sizes(ctx: Context) -> list[int]:
    assert ctx.site is not None
    return [ctx.site.file(feed.path).stat().st_size for feed in ctx.poll_feeds[:500]]


def _check_parser(probe: dict[str, Any], feed_urls: set[str], changed: set[str]) -> dict[str, int]:
    responses = probe.get("responses", [])
    parsed = Counter(probe.get("parsed", []))
    feed_responses = [r for r in responses if r[0] in feed_urls]
    not_modified = [r[0] for r in feed_responses if r[1] == 304]
    unchanged = [r[0] for r in feed_responses if r[1] == 200 and r[0] not in changed]
    return {
        "not_modified": len(not_modified),
        "unchanged_200": len(unchanged),
        "parsed_304": sum(parsed[url] for url in not_modified),
        "parsed_unchanged": sum(parsed[url] for url in unchanged),
        "parsed_changed": sum(1 for url in changed if parsed[url]),
        "page_gets": sum(1 for r in responses if r[0] not in feed_urls),
    }


# --- stages: match and dedup (their own benchmarks) -------------------------------------------


def _run_script(script: str, output: Path) -> None:
    command = [sys.executable, str(BENCH / script), "--quick", "--output", str(output)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def _table_rows(text: str, first_cell: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0].startswith(first_cell):
            rows.append(cells)
    return rows


def _number(cell: str) -> float:
    return float(re.sub(r"[^0-9.]", "", cell))


def stage_match(ctx: Context) -> Report:
    output = RESULTS / "tmp" / "match-quick.md"
    print("match: bench/bench_match.py --quick ...", flush=True)
    _run_script("bench_match.py", output)
    text = output.read_text(encoding="utf-8")
    rows = []
    for cells in _table_rows(text, "2 shipped") + _table_rows(text, "200 generated"):
        topics, corpus, _terms, ours, naive, _ratio, _share = cells[:7]
        ours_rate, naive_rate = _number(ours), _number(naive)
        shipped = topics.startswith("2 ")
        rows.append(
            Row(
                f"Match: {topics}, {corpus}",
                f"naive regex loop {naive_rate:,.0f} articles/s",
                f"{ours_rate:,.0f} articles/s (1 core)",
                ours_rate / naive_rate,
                "≥ 2,000/s" if shipped else "—",
                ours_rate >= 2000 if shipped else None,
            )
        )
    note = (
        "### Matching\n\n`bench/bench_match.py --quick` (300 articles of ~5 KB, fewer rounds "
        "than its full run, whose figures are in bench/results/match.md); rates per CPU second "
        "of one core. Goal from issue 3: 2,000 articles/s with the two shipped topics."
    )
    return Report(rows, [note])


def stage_dedup(ctx: Context) -> Report:
    output = RESULTS / "tmp" / "dedup-quick.md"
    print("dedup: bench/bench_dedup.py --quick ...", flush=True)
    _run_script("bench_dedup.py", output)
    text = output.read_text(encoding="utf-8")
    growth = [cells for cells in _table_rows(text, "") if cells[0].replace(",", "").isdigit()]
    last = growth[-1]
    size, total_ms = last[0], _number(last[5])
    copies, false = last[7], last[8]
    datasketch = next(
        (_number(c[1]) for c in _table_rows(text, "datasketch MinHash") if c[1].endswith("ms")),
        None,
    )
    rows = [
        Row(
            f"Dedup: near-duplicate check per new article, {size} indexed",
            f"datasketch MinHash alone {datasketch:.3f} ms" if datasketch else "—",
            f"{total_ms:.2f} ms (copies found {copies}, false {false})",
            datasketch / total_ms if datasketch else None,
            "< 2 ms",
            total_ms < 2.0,
        )
    ]
    note = (
        "### Deduplication\n\n`bench/bench_dedup.py --quick` (index filled to 100,000 "
        "synthetic articles; the full run to 1,000,000 is in bench/results/dedup.md). The "
        "figure is signature + LSH query + amortised add per new article; the baseline is only "
        "the MinHash signature of the same text with datasketch, the library one would pick, "
        "so the ratio is how many of our whole checks fit in its signature alone. Goal from "
        "issue 4: under 2 ms per article (and under 1 GB at a million: see dedup.md)."
    )
    return Report(rows, [note])


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated stages to run: {', '.join(STAGES)}"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--list", action="store_true", help="list the stages and their cost")
    parser.add_argument("--articles", type=int, help="ingest size (default 2000; quick 200)")
    parser.add_argument("--feeds", type=int, help="poll-pass feeds (default 5000; quick 500)")
    parser.add_argument(
        "--baseline-pages", type=int, help="pages for the bare trafilatura loop (default 500)"
    )
    parser.add_argument(
        "--newspaper-pages", type=int, help="pages for the newspaper4k loop (default 100)"
    )
    parser.add_argument(
        "--server",
        default="auto",
        choices=("auto", "nginx", "python"),
        help="local web server (auto: the faster of those available)",
    )
    parser.add_argument(
        "--extraction-set",
        default=str(DEFAULT_DATASET),
        help=f"the article-extraction-benchmark checkout (default {DEFAULT_DATASET})",
    )
    parser.add_argument("--output", type=Path, help="markdown file to write")
    args = parser.parse_args(argv)
    args.stages = [s.strip() for s in args.only.split(",") if s.strip()] or list(STAGES)
    if "memory" in args.stages:  # measured by the ingest runs
        args.stages = [s if s != "memory" else "ingest" for s in args.stages]
    unknown = set(args.stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(sorted(unknown))}; known: {', '.join(STAGES)}")
    quick = args.quick
    args.articles = args.articles or (200 if quick else 2000)
    args.feeds = args.feeds or (500 if quick else 5000)
    args.baseline_pages = args.baseline_pages or (100 if quick else 500)
    args.newspaper_pages = args.newspaper_pages or (20 if quick else 100)
    if args.output is None:
        partial = quick or set(args.stages) != set(STAGES)
        args.output = RESULTS / ("tmp/summary.md" if partial else "summary.md")
    return args


@contextlib.contextmanager
def context(args: argparse.Namespace) -> Iterator[Context]:
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
        ctx = Context(args=args, tmp=Path(tmp))
        try:
            yield ctx
        finally:
            if ctx.web is not None:
                ctx.web.close()


RUNNERS: dict[str, Callable[[Context], Report]] = {
    "startup": stage_startup,
    "extraction": stage_extraction,
    "ingest": stage_ingest,
    "poll": stage_poll,
    "match": stage_match,
    "dedup": stage_dedup,
}


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.list:
        for stage in STAGES:
            print(f"{stage:11} {COSTS[stage]}")
        return
    started = time.perf_counter()
    info = machine()
    load_before = load_average()
    when = datetime.now(UTC)
    timings: dict[str, float] = {}
    with context(args) as ctx:
        prepare_stages(ctx, timings)
        report = run_stages(ctx, timings)
        web_note = ctx.web_note
    elapsed = time.perf_counter() - started
    text = render(args, info, when, elapsed, load_before, report, web_note, timings)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print()
    print(render_table(report.rows))
    shown = args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output
    print(f"\nwritten to {shown}")


def prepare_stages(ctx: Context, timings: dict[str, float]) -> None:
    """The local web, when a stage that needs it runs: sized for the ingest stage, with
    the poll stage's feeds."""
    args = ctx.args
    if not {"ingest", "poll"} & set(args.stages):
        return
    poll_feeds = args.feeds if "poll" in args.stages else 0
    articles = args.articles if "ingest" in args.stages else 200
    t0 = time.perf_counter()
    prepare_web(ctx, articles, poll_feeds)
    timings["local web"] = time.perf_counter() - t0


def run_stages(ctx: Context, timings: dict[str, float]) -> Report:
    """The chosen stages in their order; a stage that fails is reported as a row."""
    report = Report()
    for stage in STAGES:
        if stage not in ctx.args.stages:
            continue
        t0 = time.perf_counter()
        try:
            report.add(RUNNERS[stage](ctx))
        except Exception as exc:  # one broken stage must not hide the others
            print(f"{stage}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            report.add(
                Report(
                    [Row(f"{stage}", "—", f"failed: {type(exc).__name__}: {exc}"[:200])],
                    [],
                )
            )
        timings[stage] = time.perf_counter() - t0
    return report


def render(
    args: argparse.Namespace,
    info: dict[str, str],
    when: datetime,
    elapsed: float,
    load_before: str,
    report: Report,
    web_note: str,
    timings: dict[str, float],
) -> str:
    lines = [
        *_render_header(args, info, when, elapsed, load_before, timings),
        render_table(report.rows),
        "",
        "Ratios: monitor's figure over the baseline (for times, monitor's time over the "
        "baseline's). *met?* compares monitor's figure with the goal of issue 8 (matching "
        "and dedup: the goals of their own issues).",
        "",
    ]
    if web_note:
        lines += [web_note, ""]
    for note in report.notes:
        lines += [note, ""]
    lines += REPRODUCE
    return "\n".join(lines) + "\n"


def _render_header(
    args: argparse.Namespace,
    info: dict[str, str],
    when: datetime,
    elapsed: float,
    load_before: str,
    timings: dict[str, float],
) -> list[str]:
    """The title, the command, the machine and its load."""
    command = (
        "make bench"
        if not args.quick and set(args.stages) == set(STAGES)
        else ("bench/run.py " + " ".join(sys.argv[1:]))
    )
    cost = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
    return [
        "# Benchmarks",
        "",
        f"Written by `{command}` (`.venv/bin/python bench/run.py`) on "
        f"{when:%Y-%m-%d %H:%M} UTC in {elapsed / 60:.1f} min ({cost}).",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']} RAM, "
        f"{info['system']}, Python {info['python']}. Libraries: {info['libraries']}.",
        f"Load average (1, 5, 15 min) before: {load_before}; after: {load_average()}. "
        "Figures drift by ±15% between runs on a shared 2-core machine; every ratio compares "
        "two figures taken minutes apart in the same run.",
        "",
    ]


REPRODUCE = [
    "### Reproduce",
    "",
    "```sh",
    "make bench                                 # the whole suite, writes this file",
    ".venv/bin/python bench/run.py --quick      # smoke run (bench/results/tmp/summary.md)",
    ".venv/bin/python bench/run.py --only poll  # one stage; --list shows them all",
    "```",
    "",
    "nginx is used when installed (`apt-get install nginx-light`), else the suite's own "
    "asyncio server. The extraction-quality stage needs the scrapinghub "
    "article-extraction-benchmark in bench/.data/ (see `bench/run.py --help`).",
]


if __name__ == "__main__":
    main()
