"""Start-up cost: what `monitor --help` and `monitor check` import, in a fresh interpreter.

The commands import heavy libraries inside the functions that need them; these tests
keep it so. They assert which modules are loaded, never how long it took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

# What only fetching, extracting, storing, mailing or the daemon need.
HEAVY = (
    "alembic",
    "apscheduler",
    "css_inline",
    "courlan",
    "datasketch",
    "feedparser",
    "httpx",
    "jinja2",
    "lxml",
    "numpy",
    "procrastinate",
    "prometheus_client",
    "psycopg",
    "rensa",
    "rich",
    "sqlalchemy",
    "structlog",
    "trafilatura",
)
# What validating the configuration and compiling the topics need, and --help does not.
CONFIG = ("pydantic", "yaml", "monitor.config", "monitor.pipeline.match")

PROBE = """
import json, sys
from monitor.cli import main
try:
    main(sys.argv[1:], prog_name="monitor")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def loaded_by(*args: str) -> tuple[str, set[str]]:
    """Run the command in a new interpreter: its standard output and the modules it loaded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stdout + done.stderr
    return done.stdout, set(report["modules"])


def imported(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if any(m == name or m.startswith(name + ".") for m in modules)]


@pytest.mark.parametrize(
    "args",
    [["--help"], ["topics", "--help"], ["feeds", "--help"], ["db", "--help"], ["run", "--help"]],
    ids=" ".join,
)
def test_help_loads_no_heavy_library_and_no_configuration(args: list[str]) -> None:
    out, modules = loaded_by(*args)
    assert "Usage: monitor" in out
    assert imported(modules, HEAVY) == []
    assert imported(modules, CONFIG) == []


def test_check_loads_the_configuration_and_matcher_only() -> None:
    out, modules = loaded_by("check")
    assert out.startswith("configuration OK")
    assert imported(modules, CONFIG) == list(CONFIG)  # the probe really validated
    assert imported(modules, HEAVY) == []
