"""Shared fixtures: real SQLite files, a fresh PostgreSQL schema per test, the local web."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
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


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'monitor.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
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
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """Run a storage test on both SQLite and PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of the shipped topics with empty feeds, ready for a test to fill in."""
    directory = tmp_path / "config"
    directory.mkdir()
    shutil.copy(REPO / "config" / "topics.yaml", directory / "topics.yaml")
    shutil.copytree(REPO / "seeds", tmp_path / "seeds")
    (directory / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    (directory / "monitor.yaml").write_text(
        "feeds: feeds.yaml\ntopics: topics.yaml\n"
        f"database:\n  url: sqlite:///{tmp_path / 'data' / 'monitor.db'}\n"
        "http:\n  allow_private_networks: true\n"
        "extraction:\n  workers: 1\n",
        encoding="utf-8",
    )
    return directory
