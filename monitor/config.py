"""The only reader of configuration files and the environment.

Three files make a configuration: the settings (``config/monitor.yaml``), the feed
list (YAML or OPML) and the topic file. They are read and validated once, at
start-up; every problem is collected and raised together as a `ConfigError`
naming the file, the line (where the YAML parser gives one) and the key.

Every setting can be overridden by ``MONITOR_<SECTION>__<KEY>``; ``MONITOR_CONFIG``,
``MONITOR_FEEDS`` and ``MONITOR_TOPICS`` point at other files. Secrets (the SMTP
password) are accepted from the environment only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from monitor.errors import ConfigError, ConfigProblem
from monitor.models import FeedSpec, TopicDefinition
from monitor.settings import FeedFile, Settings, TopicFile
from monitor.yaml_file import LineIndex, read_yaml, where

DEFAULT_CONFIG_PATH = Path("config/monitor.yaml")
ENV_PREFIX = "MONITOR_"
SECRET_KEYS = {("smtp", "password")}


@dataclass(frozen=True)
class Config:
    """Everything the program was configured with, validated."""

    settings: Settings
    feeds: tuple[FeedSpec, ...]
    topics: tuple[TopicDefinition, ...]
    term_lists: Mapping[str, tuple[str, ...]]
    settings_path: Path
    feeds_path: Path
    topics_path: Path


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The settings file: the explicit path, else ``$MONITOR_CONFIG``, else the default."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("MONITOR_CONFIG") or DEFAULT_CONFIG_PATH)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read, merge and validate all configuration; raise `ConfigError` listing every problem."""
    settings_path = config_path(path)
    problems: list[ConfigProblem] = []
    raw, lines = read_yaml(settings_path, problems)
    raw = raw if isinstance(raw, dict) else {}
    for key in SECRET_KEYS:
        if _dig(raw, key) not in (None, ""):
            problems.append(
                ConfigProblem(
                    where(settings_path, lines, key),
                    ".".join(key),
                    "secrets are not read from files; remove it and set "
                    f"{ENV_PREFIX}{'__'.join(k.upper() for k in key)} in the environment",
                )
            )
            _pop(raw, key)
    from_env = _apply_env_overrides(raw, os.environ)
    settings = _validate(Settings, raw, settings_path, lines, problems, from_env)
    base = settings_path.parent
    if settings is not None:
        written = settings.database.url
        settings = _anchor_paths(settings, base, from_env)
        _check_database_moved(written, settings.database.url, settings_path, lines, problems)
    feeds_path = _file_path("MONITOR_FEEDS", base, settings and settings.feeds)
    topics_path = _file_path("MONITOR_TOPICS", base, settings and settings.topics)
    feeds = load_feed_file(feeds_path, problems) if feeds_path else ()
    topics, term_lists = load_topic_file(topics_path, problems) if topics_path else ((), {})
    if settings is not None and topics_path is not None:
        _check_subscriptions(settings, {t.id for t in topics}, settings_path, lines, problems)
    if settings is not None and settings.smtp.user and settings.smtp.password is None:
        problems.append(
            ConfigProblem(
                where(settings_path, lines, ("smtp", "user")),
                "smtp.password",
                "smtp.user is set but no password was given; set MONITOR_SMTP__PASSWORD",
            )
        )
    if problems or settings is None or feeds_path is None or topics_path is None:
        raise ConfigError(problems)
    return Config(settings, feeds, topics, term_lists, settings_path, feeds_path, topics_path)


def _check_subscriptions(
    settings: Settings,
    topic_ids: set[str],
    path: Path,
    lines: LineIndex,
    problems: list[ConfigProblem],
) -> None:
    """Every topic a subscriber follows or is alerted on exists; names are unique."""
    seen: set[str] = set()
    for index, subscriber in enumerate(settings.subscribers):
        if subscriber.name in seen:
            key: tuple[str | int, ...] = ("subscribers", index, "name")
            problems.append(
                ConfigProblem(
                    where(path, lines, key),
                    f"subscribers[{index}].name",
                    f"subscriber name {subscriber.name!r} is used twice; names must be unique",
                )
            )
        seen.add(subscriber.name)
        wanted = [("topics", i, t) for i, t in enumerate(subscriber.topics)]
        wanted += [("alerts", i, a.topic) for i, a in enumerate(subscriber.alerts)]
        for field, position, topic in wanted:
            if topic in topic_ids:
                continue
            key = ("subscribers", index, field, position)
            if field == "alerts":
                key = (*key, "topic")
            dotted = f"subscribers[{index}].{field}[{position}]" + (
                ".topic" if field == "alerts" else ""
            )
            known = ", ".join(sorted(topic_ids)) or "none"
            problems.append(
                ConfigProblem(
                    where(path, lines, key),
                    dotted,
                    f"no topic {topic!r} in the topic file (known: {known})",
                )
            )


def load_feed_file(
    path: Path, problems: list[ConfigProblem], *, text: str | None = None
) -> tuple[FeedSpec, ...]:
    """The feed list, from YAML or (by extension ``.opml``/``.xml``) OPML; ``text``, when
    given, is read as the YAML file's content (to check an edit before it is written)."""
    if path.suffix.lower() in {".opml", ".xml"}:
        from monitor.errors import OPMLError
        from monitor.opml import parse_opml

        try:
            feeds = tuple(parse_opml(path.read_bytes()))
        except OSError as exc:
            problems.append(ConfigProblem(str(path), "", f"cannot read the feed list: {exc}"))
            return ()
        except OPMLError as exc:
            problems.append(ConfigProblem(str(path), "", str(exc)))
            return ()
    else:
        raw, lines = read_yaml(path, problems, text)
        if raw is None and text is None and not path.exists():
            return ()
        parsed = _validate(FeedFile, raw if raw is not None else {}, path, lines, problems)
        items = raw.get("feeds") if isinstance(raw, dict) else None
        urls = [i.get("url") if isinstance(i, dict) else None for i in items or []]
        _check_duplicates(urls, path, lines, problems)
        return tuple(item.to_spec() for item in parsed.feeds) if parsed else ()
    _check_duplicates([feed.url for feed in feeds], path, {}, problems)
    return feeds


def _check_duplicates(
    urls: list[Any], path: Path, lines: LineIndex, problems: list[ConfigProblem]
) -> None:
    seen: dict[str, int] = {}
    for index, url in enumerate(urls):
        if not isinstance(url, str):
            continue
        if url in seen:
            problems.append(
                ConfigProblem(
                    where(path, lines, ("feeds", index, "url")),
                    f"feeds[{index}].url",
                    f"{url} is listed twice (also at feeds[{seen[url]}]); remove one",
                )
            )
        seen.setdefault(url, index)


def load_topic_file(
    path: Path, problems: list[ConfigProblem]
) -> tuple[tuple[TopicDefinition, ...], dict[str, tuple[str, ...]]]:
    """Topic definitions and term lists; seed files are read here, relative to the topic file."""
    raw, lines = read_yaml(path, problems)
    parsed = _validate(TopicFile, raw if raw is not None else {}, path, lines, problems)
    if parsed is None:
        return (), {}
    topics: list[TopicDefinition] = []
    seen: set[str] = set()
    for index, topic in enumerate(parsed.topics):
        if topic.id in seen:
            problems.append(
                ConfigProblem(
                    where(path, lines, ("topics", index, "id")),
                    f"topics[{index}].id",
                    f"topic id {topic.id!r} is used twice; ids must be unique",
                )
            )
        seen.add(topic.id)
        seeds = []
        for seed_index, seed in enumerate(topic.seeds):
            seed_path = _resolve(path.parent, seed)
            assert seed_path is not None
            try:
                seeds.append(seed_path.read_text(encoding="utf-8"))
            except OSError as exc:
                problems.append(
                    ConfigProblem(
                        where(path, lines, ("topics", index, "seeds", seed_index)),
                        f"topics[{index}].seeds[{seed_index}]",
                        f"cannot read seed document {seed_path}: {exc.strerror or exc}",
                    )
                )
        topics.append(topic.to_definition(tuple(seeds)))
    term_lists = {name: tuple(terms) for name, terms in parsed.term_lists.items()}
    return tuple(topics), term_lists


# --- helpers ----------------------------------------------------------------


def _validate(
    model: Any,
    raw: Any,
    path: Path,
    lines: LineIndex,
    problems: list[ConfigProblem],
    from_env: Mapping[tuple[str, ...], str] | None = None,
) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
            variable = _variable_for(loc, from_env or {})
            place = f"environment variable {variable}" if variable else where(path, lines, loc)
            problems.append(ConfigProblem(place, key.lstrip("."), _explain(error)))
        return None


def _variable_for(
    loc: tuple[str | int, ...], from_env: Mapping[tuple[str, ...], str]
) -> str | None:
    """The environment variable that set ``loc`` or a section above it, if one did."""
    for depth in range(len(loc), 0, -1):
        variable = from_env.get(tuple(str(part) for part in loc[:depth]))
        if variable is not None:
            return variable
    return None


def _explain(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key; check its spelling against the documented settings"
    if kind == "missing":
        return "required key is missing"
    got = error.get("input")
    shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    return f"{error['msg']} (got {shown})"


def _apply_env_overrides(
    raw: dict[str, Any], environ: Mapping[str, str]
) -> dict[tuple[str, ...], str]:
    """Fold ``MONITOR_SECTION__KEY=value`` into the raw settings, parsing values as YAML;
    which keys were set so, and by which variable (a problem with one names it)."""
    applied: dict[tuple[str, ...], str] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        if tuple(keys) in SECRET_KEYS or isinstance(parsed, dict | list):
            parsed = value  # secrets and structured-looking strings stay verbatim
        target = raw
        for key in keys[:-1]:
            child = target.get(key)
            if not isinstance(child, dict):
                child = {}
                target[key] = child
            target = child
        target[keys[-1]] = parsed if parsed is not None else value
        applied[tuple(keys)] = name
    return applied


def _dig(raw: Mapping[str, Any], key: tuple[str, ...]) -> Any:
    value: Any = raw
    for part in key:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _pop(raw: dict[str, Any], key: tuple[str, ...]) -> None:
    parent = _dig(raw, key[:-1])
    if isinstance(parent, dict):
        parent.pop(key[-1], None)


def _resolve(base: Path, value: str | os.PathLike[str] | None) -> Path | None:
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else base / path


def _file_path(variable: str, base: Path, from_settings: str | None) -> Path | None:
    """A file named by ``variable`` (relative to the working directory, as a shell user
    expects), else by the settings (relative to the settings file)."""
    named = os.environ.get(variable)
    if named:
        return Path(named)
    return _resolve(base, from_settings)


def _anchor_paths(
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


def _check_database_moved(
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
