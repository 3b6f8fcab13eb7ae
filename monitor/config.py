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

import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from monitor.config_paths import anchor_paths, check_database_moved, file_path, resolve
from monitor.errors import ConfigError, ConfigProblem
from monitor.models import FeedSpec, TopicDefinition
from monitor.pipeline.match.compile import compile_topic_queries
from monitor.settings import FeedFile, Settings, SubscriberSettings, TopicFile
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
        settings = anchor_paths(settings, base, from_env)
        check_database_moved(written, settings.database.url, settings_path, lines, problems)
    # The feed and topic files are read, and subscriptions checked, even when the
    # settings have problems: every problem is listed at once.
    feeds_path = file_path("MONITOR_FEEDS", base, _named(settings, raw, "feeds"))
    topics_path = file_path("MONITOR_TOPICS", base, _named(settings, raw, "topics"))
    feeds = load_feed_file(feeds_path, problems) if feeds_path else ()
    topics, term_lists = load_topic_file(topics_path, problems) if topics_path else ((), {})
    subscribers = settings.subscribers if settings is not None else _subscribers_alone(raw)
    if topics_path is not None:
        topic_ids = {t.id for t in topics}
        _check_subscriptions(subscribers, topic_ids, settings_path, lines, problems)
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


def _named(settings: Settings | None, raw: Mapping[str, Any], key: str) -> str | None:
    """The feed or topic file the settings name, or, when they failed validation, what
    the file says (else the default)."""
    if settings is not None:
        return str(getattr(settings, key))
    value = raw.get(key, Settings.model_fields[key].default)
    return value if isinstance(value, str) else None


def _subscribers_alone(raw: Mapping[str, Any]) -> list[SubscriberSettings]:
    """The subscribers when the rest of the settings failed validation (their own
    problems are listed already); none if they are wrong too."""
    try:
        return TypeAdapter(list[SubscriberSettings]).validate_python(raw.get("subscribers", []))
    except ValidationError:
        return []


def _check_subscriptions(
    subscribers: Sequence[SubscriberSettings],
    topic_ids: set[str],
    path: Path,
    lines: LineIndex,
    problems: list[ConfigProblem],
) -> None:
    """Every topic a subscriber follows or is alerted on exists; names are unique."""
    seen: set[str] = set()
    for index, subscriber in enumerate(subscribers):
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
            nearest = _nearest(topic, topic_ids)
            hint = f"did you mean {nearest!r}? " if nearest else ""
            problems.append(
                ConfigProblem(
                    where(path, lines, key),
                    dotted,
                    f"no topic {topic!r} in the topic file ({hint}known: {known})",
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
            seed_path = resolve(path.parent, seed)
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
    for index, definition in enumerate(topics):  # cheap: the term index is built later
        for part, message in compile_topic_queries(definition, term_lists)[1]:
            problems.append(
                ConfigProblem(
                    where(path, lines, ("topics", index, part)),
                    f"topics[{index}].{part} (topic {definition.id})",
                    message,
                )
            )
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
            message = _explain(error)
            nearest = _nearest_key(model, loc) if error["type"] == "extra_forbidden" else None
            if nearest:
                message = f"unknown key; did you mean `{nearest}`?"
            problems.append(ConfigProblem(place, key.lstrip("."), message))
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


def _nearest_key(model: Any, loc: tuple[str | int, ...]) -> str | None:
    """The known key nearest a misspelt one (``interval_minuts``: ``interval_minutes``)."""
    for part in loc[:-1]:  # down to the model that holds the unknown key
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        annotation = field.annotation if field is not None else None
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if hasattr(candidate, "model_fields"):
                model = candidate
                break
        else:
            return None
    return _nearest(str(loc[-1]), getattr(model, "model_fields", {}))


def _nearest(name: str, known: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


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
