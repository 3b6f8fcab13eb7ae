"""Profile one ingest pass with py-spy: where the main process spends its CPU.

Builds the benchmark's local web (testkit/news_site.py) with N new articles, runs the
installed `monitor poll --once --json` under `py-spy record --subprocesses` (raw
collapsed stacks), and writes bench/results/profile-ingest.md: the share of samples per
process, then the main process's top functions by own ("self") and inclusive time.

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile_ingest.py [--articles 1000] [--rate 200]

py-spy samples on-CPU stacks only (idle waits in the event loop are not counted), so the
percentages are shares of the CPU the process used.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as suite  # noqa: E402

OUTPUT = suite.RESULTS / "profile-ingest.md"
PROCESS = re.compile(r'^process (\d+):"?(.*?)"?$')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument("--server", default="auto", choices=("auto", "nginx", "python"))
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not py_spy:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    with tempfile.TemporaryDirectory(prefix="monitor-profile-") as tmp_name:
        tmp = Path(tmp_name)
        ctx = suite.Context(args=argparse.Namespace(server=args.server), tmp=tmp)
        suite.prepare_web(ctx, args.articles, 0)
        assert ctx.site is not None and ctx.web is not None
        try:
            urls = [ctx.site.feed_url(ctx.web, feed) for feed in ctx.site.feeds]
            config = suite.write_config(tmp / "run", urls)
            stacks, summary, wall = record(py_spy, args.rate, config, tmp / "profile.txt")
        finally:
            ctx.web.close()
    text = render(stacks, summary, wall, args)
    args.output.write_text(text, encoding="utf-8")
    print(text)


def record(
    py_spy: str, rate: int, config: Path, raw: Path
) -> tuple[list[str], dict[str, object], float]:
    """`monitor poll --once --json` under py-spy: the raw stacks, the pass's JSON summary,
    and the wall seconds."""
    command = [
        py_spy,
        "record",
        "--subprocesses",
        "--format",
        "raw",
        "--rate",
        str(rate),
        "--output",
        str(raw),
        "--",
        suite.monitor_binary(),
        "--config",
        str(config),
        "poll",
        "--once",
        "--json",
    ]
    started = time.perf_counter()
    result = subprocess.run(
        command, capture_output=True, text=True, env=suite.clean_env(), check=True
    )
    wall = time.perf_counter() - started
    summary = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("{")))
    return raw.read_text(encoding="utf-8").splitlines(), summary, wall


def _frames(line: str) -> tuple[list[str], int]:
    body, _, count = line.rpartition(" ")
    return body.split(";"), int(count)


def _short(frame: str) -> str:
    """``function (path/to/module.py:123)`` → ``function (module/path.py)`` without line."""
    match = re.match(r"^(.*) \((.*?):\d+\)$", frame)
    if not match:
        return frame
    function, path = match.groups()
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{function} ({path})"


@dataclass
class Samples:
    """py-spy's raw stacks, sorted by process."""

    per_process: Counter[str] = field(default_factory=Counter)  # pid → samples
    commands: dict[str, str] = field(default_factory=dict)  # pid → command line
    main_pid: str | None = None  # the monitor command itself
    main_stacks: list[tuple[list[str], int]] = field(default_factory=list)  # frames, samples


@dataclass
class MainProcess:
    """The main process's samples by function and by package of the innermost frame."""

    total: int
    own: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    modules: Counter[str] = field(default_factory=Counter)


def render(
    stacks: list[str], summary: dict[str, object], wall: float, args: argparse.Namespace
) -> str:
    samples = read_samples(stacks)
    main = main_process(samples)
    lines = [
        *_introduction(summary, wall, args),
        *_process_table(samples),
        *_module_table(main),
        *_own_table(main),
        *_inclusive_table(main),
    ]
    return "\n".join(lines) + "\n"


def read_samples(stacks: list[str]) -> Samples:
    samples = Samples()
    for line in stacks:
        if not line.strip():
            continue
        frames, count = _frames(line)
        # Child processes' stacks come after their ancestors' "process" frames.
        depth = max(i for i, frame in enumerate(frames) if PROCESS.match(frame) or i == 0)
        match = PROCESS.match(frames[depth])
        pid, command = (match.group(1), match.group(2)) if match else ("?", "?")
        samples.commands[pid] = ("worker " if depth >= 2 else "") + command
        samples.per_process[pid] += count
        if depth == 0 and samples.main_pid is None:
            samples.main_pid = pid  # the root: the monitor command itself
        if pid == samples.main_pid:
            samples.main_stacks.append((frames[depth + 1 :], count))
    return samples


def main_process(samples: Samples) -> MainProcess:
    main = MainProcess(total=sum(count for _, count in samples.main_stacks) or 1)
    for frames, count in samples.main_stacks:
        short = [_short(frame) for frame in frames]
        if short:
            main.own[short[-1]] += count
            leaf = short[-1]
            module = leaf[leaf.rfind("(") + 1 : -1] if "(" in leaf else leaf
            main.modules[module.split("/")[0]] += count
        for frame in set(short):
            main.inclusive[frame] += count
    return main


def _introduction(summary: dict[str, object], wall: float, args: argparse.Namespace) -> list[str]:
    return [
        "# Profile of one ingest pass",
        "",
        f"`.venv/bin/python bench/profile_ingest.py --articles {args.articles}`: "
        f"`py-spy record --subprocesses --rate {args.rate}` around the installed `monitor poll "
        f"--once --json` over the benchmark's local web ({args.articles} new articles of "
        f"~114 KB, 2 extraction workers), {wall:.1f} s wall under py-spy; the pass: "
        f"{summary.get('entries_new')} new, {summary.get('articles_stored')} stored, "
        f"{summary.get('seconds')} s. py-spy counts on-CPU samples only; percentages are "
        "shares of the samples of the process named.",
        "",
    ]


def _process_table(samples: Samples) -> list[str]:
    total = sum(samples.per_process.values()) or 1
    lines = ["## Samples per process", "", "| process | samples | share |", "| --- | ---: | ---: |"]
    for pid, count in samples.per_process.most_common():
        if pid == samples.main_pid:
            label = "**main (monitor)**"
        else:
            label = _process_label(samples.commands[pid])
        lines.append(f"| {label} (pid {pid}) | {count:,} | {count / total:.0%} |")
    return lines


def _module_table(main: MainProcess) -> list[str]:
    lines = [
        "",
        "## Main process: by package of the innermost frame",
        "",
        "| package | share of main |",
        "| --- | ---: |",
    ]
    for module, count in main.modules.most_common(15):
        lines.append(f"| {module} | {count / main.total:.1%} |")
    return lines


def _own_table(main: MainProcess) -> list[str]:
    lines = [
        "",
        "## Main process: top functions by own time",
        "",
        "| function | own | inclusive |",
        "| --- | ---: | ---: |",
    ]
    for frame, count in main.own.most_common(25):
        lines.append(
            f"| `{frame}` | {count / main.total:.1%} | {main.inclusive[frame] / main.total:.1%} |"
        )
    return lines


def _inclusive_table(main: MainProcess) -> list[str]:
    lines = [
        "",
        "## Main process: top functions by inclusive time (monitor's own code)",
        "",
        "| function | inclusive |",
        "| --- | ---: |",
    ]
    ours = [(f, c) for f, c in main.inclusive.most_common() if "(monitor/" in f]
    for frame, count in ours[:30]:
        lines.append(f"| `{frame}` | {count / main.total:.1%} |")
    return lines


def _process_label(command: str) -> str:
    if command.startswith("worker ") and "forkserver" in command:
        return "extraction worker"
    if "forkserver" in command:
        return "forkserver"
    if "spawn_main" in command or "multiprocessing" in command:
        return "extraction worker"
    return command[:60] or "?"


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("note: py-spy may need ptrace permission (root or CAP_SYS_PTRACE)", file=sys.stderr)
    main()
