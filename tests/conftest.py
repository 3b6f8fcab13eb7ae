"""Shared fixtures: the pass's database (SQLite or PostgreSQL), real files, the local web.

The suite runs once per database: ``MONITOR_TEST_DATABASE=sqlite`` (the default) or
``postgresql``. ``database_url`` (and ``config_dir``, which writes it into monitor.yaml)
gives a fresh, empty database of the pass's kind: a SQLite file, or a PostgreSQL schema
of its own that is dropped afterwards. Tests about SQLite itself (file locks, busy
timeouts, paths) ask for ``sqlite_url`` or carry ``@pytest.mark.sqlite_only(reason)``;
tests that need the PostgreSQL pass (the workers) carry ``@pytest.mark.postgres_pass``.
Each pass deselects what the other runs (``_runs_in_this_pass``), so neither skips.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import hypothesis
import pytest

pytest_plugins = ["tests.support.fixtures"]

# CI replays the same examples every run, so a red build is reproducible; locally each run
# explores new ones.
hypothesis.settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "MONITOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DATABASES = ("sqlite", "postgresql")
TEST_DATABASE = os.environ.get("MONITOR_TEST_DATABASE", "").strip().lower() or "sqlite"


def _postgres_available() -> str | None:
    """None when the server answers, else why not (the reason shown on skipped tests)."""
    try:
        import psycopg

        with psycopg.connect(
            PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3, autocommit=True
        ):
            return None
    except Exception as exc:  # any failure to connect means: skip with the reason
        return f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}"


_PG_UNAVAILABLE = _postgres_available()


def pytest_configure(config: pytest.Config) -> None:
    if TEST_DATABASE not in DATABASES:
        raise pytest.UsageError(
            f"MONITOR_TEST_DATABASE={TEST_DATABASE!r}: expected one of {', '.join(DATABASES)}"
        )


def pytest_report_header(config: pytest.Config) -> str:
    where = "a fresh SQLite file"
    if TEST_DATABASE == "postgresql":
        where = f"a fresh schema in {PG_ADMIN_URL}"
    return f"database: {TEST_DATABASE} (MONITOR_TEST_DATABASE), each test on {where}"


_PASS_DATABASE_FIXTURES = {"database_url", "new_database", "config_dir"}


def _runs_in_this_pass(item: pytest.Item) -> bool:
    """Whether this pass runs the test; the other pass runs every test this one leaves out.

    The SQLite pass runs everything but what needs the PostgreSQL pass (the workers). The
    PostgreSQL pass runs only what depends on the pass's database: the same test there
    would repeat the SQLite pass exactly (matching, parsing, rendering), and storage tests
    on ``store_url`` already ran on both databases in the SQLite pass.
    """
    if item.get_closest_marker("postgres_pass") is not None:
        return TEST_DATABASE == "postgresql"
    if TEST_DATABASE == "sqlite":
        return True
    fixtures = set(getattr(item, "fixturenames", ()))
    if item.get_closest_marker("sqlite_only") is not None or "sqlite_url" in fixtures:
        return False
    return bool(fixtures & _PASS_DATABASE_FIXTURES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out (deselect, not skip) what the other pass runs; mark what needs the server.

    What uses the pass's database in the PostgreSQL pass is marked ``postgres``, like the
    PostgreSQL storage tests, so ``-m "not postgres"`` leaves out whatever needs the server.
    """
    kept = [item for item in items if _runs_in_this_pass(item)]
    left = [item for item in items if not _runs_in_this_pass(item)]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept
    if TEST_DATABASE == "postgresql":
        for item in kept:
            item.add_marker(pytest.mark.postgres)


@contextmanager
def _postgres_schema() -> Iterator[str]:
    """A URL whose connections see only a fresh, empty schema, dropped afterwards."""
    if _PG_UNAVAILABLE:
        if os.environ.get("CI"):
            pytest.fail(_PG_UNAVAILABLE)
        pytest.skip(_PG_UNAVAILABLE)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        # Commits need not wait for the server's disk: that only matters if the server
        # itself crashes, which no test does, and it makes the PostgreSQL pass much faster.
        options = f"-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"
        yield f"{PG_ADMIN_URL}?options={options}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file, in every pass: for tests about SQLite itself (skipped on PostgreSQL)."""
    return f"sqlite:///{tmp_path / 'monitor.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections see only a fresh, empty schema, dropped afterwards."""
    with _postgres_schema() as url:
        yield url


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Make fresh, empty databases of the pass's kind: ``new_database("reference")``.

    SQLite: ``<tmp_path>/data/<name>.db``; PostgreSQL: a schema of its own, dropped
    at the end of the test.
    """
    with ExitStack() as stack:

        def make(name: str) -> str:
            if TEST_DATABASE == "sqlite":
                return f"sqlite:///{tmp_path / 'data' / f'{name}.db'}"
            return stack.enter_context(_postgres_schema())

        yield make


@pytest.fixture
def database_url(new_database: Callable[[str], str]) -> str:
    """The test's database in this pass (MONITOR_TEST_DATABASE): SQLite or PostgreSQL."""
    return new_database("monitor")


_STORE_PARAMS = [pytest.param("postgresql", marks=pytest.mark.postgres)]
if TEST_DATABASE == "sqlite":
    _STORE_PARAMS.insert(0, pytest.param("sqlite"))


@pytest.fixture(params=_STORE_PARAMS)
def store_url(request: pytest.FixtureRequest) -> str:
    """A storage test on both databases in the SQLite pass; on PostgreSQL alone in the other."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def config_dir(tmp_path: Path, database_url: str) -> Path:
    """A copy of the shipped topics with empty feeds and the pass's database, ready for a
    test to fill in."""
    directory = tmp_path / "config"
    directory.mkdir()
    shutil.copy(REPO / "config" / "topics.yaml", directory / "topics.yaml")
    shutil.copytree(REPO / "seeds", tmp_path / "seeds")
    (directory / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    (directory / "monitor.yaml").write_text(
        "feeds: feeds.yaml\ntopics: topics.yaml\n"
        f"database:\n  url: {database_url}\n"
        "http:\n  allow_private_networks: true\n"
        "extraction:\n  workers: 1\n",
        encoding="utf-8",
    )
    return directory
