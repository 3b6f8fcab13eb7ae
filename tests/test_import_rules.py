"""The rules of the layout, read from the imports (not by eye), so that a change that
breaks one fails CI. See the README's layout section.

- `storage/` imports nothing from `pipeline/`, `digest/`, the runtimes or `cli/`;
- the stages of `pipeline/` import no storage, except the modules that put storage at
  the stages' edge (`run.py`, the orchestrator, `page_retries.py` and `dedup_stage.py`);
- `digest/compose.py` and `digest/group.py` import no SQL module;
- `jobs.py` and everything under it import no runtime; nothing but `cli/` imports the
  runtimes (`runtime/`) or `cli/`;
- no module grows past 400 lines outside migrations.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import monitor

PACKAGE = Path(monitor.__file__).parent
RUNTIMES = ("monitor.runtime",)
STORAGE_AT_THE_EDGE = {
    "pipeline/run.py",
    "pipeline/page_retries.py",
    "pipeline/dedup_stage.py",
}
MAX_LINES = 400


def modules() -> dict[str, set[str]]:
    """Each module (path under monitor/) and the monitor modules it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
                imported.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
        found[path.relative_to(PACKAGE).as_posix()] = {
            m for m in imported if m == "monitor" or m.startswith("monitor.")
        }
    return found


def offenders(
    where: str, forbidden: tuple[str, ...], exempt: frozenset[str] = frozenset()
) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, imported in modules().items()
        if module.startswith(where) and module not in exempt
        for name in sorted(imported)
        if name.startswith(forbidden)
    ]


def test_storage_imports_no_stage_digest_runtime_or_command() -> None:
    forbidden = ("monitor.pipeline", "monitor.digest", "monitor.jobs", "monitor.cli", *RUNTIMES)
    assert offenders("storage/", forbidden) == []


def test_stages_import_no_storage() -> None:
    assert offenders("pipeline/", ("monitor.storage",), frozenset(STORAGE_AT_THE_EDGE)) == []


@pytest.mark.parametrize("module", ["digest/compose.py", "digest/group.py"])
def test_composing_a_digest_imports_no_sql(module: str) -> None:
    assert offenders(module, ("monitor.storage", "sqlalchemy")) == []


def test_only_the_command_line_imports_the_runtimes_and_the_commands() -> None:
    command_line = ("cli/", "__main__.py")
    runtimes = ("runtime/",)  # they may use one another
    wrong = [
        line
        for line in offenders("", (*RUNTIMES, "monitor.cli"))
        if not line.startswith(command_line)
        and not (line.startswith(runtimes) and " imports monitor.cli" not in line)
    ]
    assert wrong == []


def test_no_module_grows_past_the_limit() -> None:
    too_long = {}
    for path in PACKAGE.rglob("*.py"):
        module = path.relative_to(PACKAGE).as_posix()
        if "migrations/" in module:
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            too_long[module] = lines
    assert too_long == {}


def test_benchmarks_and_the_kit_import_nothing_from_the_tests() -> None:
    """`bench/` and the shared kit (`testkit/`) stand on their own: what both need is in
    `testkit/`, and `tests/` only uses it."""
    root = PACKAGE.parent
    wrong = []
    for folder in ("bench", "testkit"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                wrong += [
                    f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] == "tests"
                ]
    assert wrong == []
