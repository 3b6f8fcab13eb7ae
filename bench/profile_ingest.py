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
            raw = tmp / "profile.txt"
            command = [
                py_spy,
                "record",
                "--subprocesses",
                "--format",
                "raw",
                "--rate",
                str(args.rate),
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
            summary = json.loads(
                next(line for line in result.stdout.splitlines() if line.startswith("{"))
            )
            stacks = raw.read_text(encoding="utf-8").splitlines()
        finally:
            ctx.web.close()
    text = render(stacks, summary, wall, args)
    args.output.write_text(text, encoding="utf-8")
    print(text)


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


def render(
    stacks: list[str], summary: dict[str, object], wall: float, args: argparse.Namespace
) -> str:
    per_process: Counter[str] = Counter()
    main_pid: str | None = None
    main_stacks: list[tuple[list[str], int]] = []
    commands: dict[str, str] = {}
    for line in stacks:
        if not line.strip():
            continue
        frames, count = _frames(line)
        # Child processes' stacks come after their ancestors' "process" frames.
        depth = max(i for i, frame in enumerate(frames) if PROCESS.match(frame) or i == 0)
        match = PROCESS.match(frames[depth])
        pid, command = (match.group(1), match.group(2)) if match else ("?", "?")
        commands[pid] = ("worker " if depth >= 2 else "") + command
        per_process[pid] += count
        if depth == 0 and main_pid is None:
            main_pid = pid  # the root: the monitor command itself
        if pid == main_pid:
            main_stacks.append((frames[depth + 1 :], count))
    total_main = sum(count for _, count in main_stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    for frames, count in main_stacks:
        short = [_short(frame) for frame in frames]
        if short:
            own[short[-1]] += count
            leaf = short[-1]
            module = leaf[leaf.rfind("(") + 1 : -1] if "(" in leaf else leaf
            modules[module.split("/")[0]] += count
        for frame in set(short):
            inclusive[frame] += count
    total = sum(per_process.values()) or 1
    lines = [
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
        "## Samples per process",
        "",
        "| process | samples | share |",
        "| --- | ---: | ---: |",
    ]
    for pid, count in per_process.most_common():
        label = "**main (monitor)**" if pid == main_pid else _process_label(commands[pid])
        lines.append(f"| {label} (pid {pid}) | {count:,} | {count / total:.0%} |")
    lines += [
        "",
        "## Main process: by package of the innermost frame",
        "",
        "| package | share of main |",
        "| --- | ---: |",
    ]
    for module, count in modules.most_common(15):
        lines.append(f"| {module} | {count / total_main:.1%} |")
    lines += [
        "",
        "## Main process: top functions by own time",
        "",
        "| function | own | inclusive |",
        "| --- | ---: | ---: |",
    ]
    for frame, count in own.most_common(25):
        lines.append(
            f"| `{frame}` | {count / total_main:.1%} | {inclusive[frame] / total_main:.1%} |"
        )
    lines += [
        "",
        "## Main process: top functions by inclusive time (monitor's own code)",
        "",
        "| function | inclusive |",
        "| --- | ---: |",
    ]
    ours = [(f, c) for f, c in inclusive.most_common() if "(monitor/" in f]
    for frame, count in ours[:30]:
        lines.append(f"| `{frame}` | {count / total_main:.1%} |")
    return "\n".join(lines) + "\n"


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
