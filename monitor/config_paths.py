"""Where the files and the database named in the configuration are.

A path written in the settings file is relative to that file; one given in the
environment is relative to the working directory, as a shell user expects. Every
relative path is made absolute once, here, so that where a process is started from
never changes which files it uses.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from monitor.errors import ConfigProblem
from monitor.settings import Settings
from monitor.yaml_file import LineIndex, where


def resolve(base: Path, value: str | os.PathLike[str] | None) -> Path | None:
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else base / path


def file_path(variable: str, base: Path, from_settings: str | None) -> Path | None:
    """A file named by ``variable`` (relative to the working directory, as a shell user
    expects), else by the settings (relative to the settings file)."""
    named = os.environ.get(variable)
    if named:
        return Path(named)
    return resolve(base, from_settings)


def anchor_paths(
    settings: Settings, base: Path, from_env: Mapping[tuple[str, ...], str]
) -> Settings:
    """The settings with every relative path made absolute: against the settings file's
    folder when the file gave it, against the working directory when the environment did,
    so that where the daemon is started from never changes which files it uses."""
    database, digest = settings.database, settings.digest
    url = make_url_absolute(database.url, Path.cwd() if ("database", "url") in from_env else base)
    if url != database.url:
        database = database.model_copy(update={"url": url})
    atom_dir = digest.atom_dir
    if atom_dir and not Path(atom_dir).is_absolute():
        anchor = Path.cwd() if ("digest", "atom_dir") in from_env else base
        digest = digest.model_copy(update={"atom_dir": str((anchor / atom_dir).resolve())})
    return settings.model_copy(update={"database": database, "digest": digest})


_SQLITE_URL = re.compile(r"(?P<scheme>sqlite(?:\+\w+)?):///(?P<path>[^?]*)(?P<query>\?.*)?", re.S)


def make_url_absolute(url: str, base: Path) -> str:
    """A SQLite URL with a relative file path made absolute against ``base``; any other
    URL (PostgreSQL, in-memory SQLite, an absolute path) unchanged. Read without
    SQLAlchemy, which `monitor check` does not load."""
    database = _sqlite_file(url)
    if database is None or database.is_absolute():
        return url
    found = _SQLITE_URL.fullmatch(url)
    assert found is not None  # _sqlite_file matched it
    return f"{found['scheme']}:///{(base / database).resolve()}{found['query'] or ''}"


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for any other database or for memory."""
    found = _SQLITE_URL.fullmatch(url)
    if found is None or found["path"] in ("", ":memory:") or found["path"].startswith("file:"):
        return None
    return Path(found["path"])


def check_database_moved(
    written: str, anchored: str, path: Path, lines: LineIndex, problems: list[ConfigProblem]
) -> None:
    """Refuse to start on a new, empty database beside the settings file while the one
    an earlier version used (the same path, relative to the working directory) exists:
    the stored articles would seem lost, and the next digest would re-send old news."""
    if written == anchored:
        return
    old_file = _sqlite_file(make_url_absolute(written, Path.cwd()))
    new_file = _sqlite_file(anchored)
    if old_file is None or new_file is None or old_file == new_file:
        return
    if old_file.exists() and not new_file.exists():
        problems.append(
            ConfigProblem(
                where(path, lines, ("database", "url")),
                "database.url",
                f"a relative SQLite path is relative to the settings file, so this names "
                f"{new_file}, which does not exist; the database is at {old_file} (relative "
                "to the working directory, as earlier versions read it): move it there, or "
                "give its absolute path",
            )
        )
