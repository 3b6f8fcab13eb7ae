"""Configuration: validated once, every problem listed with file, line and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write_config(tmp_path: Path, settings: str, feeds: str = "feeds: []\n") -> Path:
    (tmp_path / "monitor.yaml").write_text(settings, encoding="utf-8")
    (tmp_path / "feeds.yaml").write_text(feeds, encoding="utf-8")
    shutil.copy(REPO / "config" / "topics.yaml", tmp_path / "topics.yaml")
    seeds = tmp_path.parent / "seeds"
    if not seeds.exists():
        shutil.copytree(REPO / "seeds", seeds)
    return tmp_path / "monitor.yaml"


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(problem) for problem in caught.value.problems]


def test_shipped_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    config = load_config(REPO / "config" / "monitor.yaml")
    assert 25 <= len(config.feeds) <= 40
    assert {topic.id for topic in config.topics} >= {"nk-troops", "nk-russia-pact"}
    # relative to the settings file: the repository's data/, wherever it is started from
    assert config.settings.database.url == f"sqlite:///{REPO}/data/monitor.db"


def test_every_problem_is_listed_with_line_and_key(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "feeds: feeds.yaml\ntopics: topics.yaml\n"
        "polling:\n  interval_minutes: 0\n  intervall: 5\n"
        "http:\n  max_redirects: lots\n",
    )
    problems = problems_of(path)
    assert len(problems) == 3
    joined = "\n".join(problems)
    assert f"{path}:4: polling.interval_minutes:" in joined
    assert f"{path}:5: polling.intervall: unknown key" in joined
    assert f"{path}:7: http.max_redirects:" in joined


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "feeds: feeds.yaml\npolling: [unclosed\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:")
    assert "invalid YAML" in problem


def test_feed_problems_point_into_the_feed_file(tmp_path: Path) -> None:
    feeds = (
        "feeds:\n"
        "  - url: https://example.org/rss\n"
        "  - url: ftp://example.org/feed\n"
        "  - url: https://example.org/rss\n"
    )
    path = write_config(tmp_path, "feeds: feeds.yaml\n", feeds)
    problems = problems_of(path)
    assert any("feeds.yaml:3: feeds[1].url:" in p and "http://" in p for p in problems)
    assert any("listed twice" in p for p in problems)


def test_password_in_file_is_refused_and_env_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, "smtp:\n  password: hunter2\n")
    (problem,) = problems_of(path)
    assert "MONITOR_SMTP__PASSWORD" in problem
    assert "hunter2" not in problem

    write_config(tmp_path, "smtp:\n  host: mail.example.org\n")
    monkeypatch.setenv("MONITOR_SMTP__PASSWORD", "s3cret")
    monkeypatch.setenv("MONITOR_SMTP__PORT", "2525")
    monkeypatch.setenv("MONITOR_DATABASE__URL", "sqlite:////tmp/other.db")
    config = load_config(path)
    assert config.settings.smtp.password is not None
    assert config.settings.smtp.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config.settings)
    assert config.settings.smtp.port == 2525
    assert config.settings.database.url == "sqlite:////tmp/other.db"


def test_env_override_with_a_wrong_value_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, "feeds: feeds.yaml\n")
    monkeypatch.setenv("MONITOR_POLLING__CONCURRENCY", "many")
    (problem,) = problems_of(path)
    assert problem.startswith("environment variable MONITOR_POLLING__CONCURRENCY: ")
    assert "polling.concurrency" in problem and "'many'" in problem


def test_an_unknown_key_from_the_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, "feeds: feeds.yaml\npolling:\n  interval_minutes: 15\n")
    monkeypatch.setenv("MONITOR_POLLING__INTERVL", "3")
    (problem,) = problems_of(path)
    assert problem.startswith("environment variable MONITOR_POLLING__INTERVL: polling.intervl:")
    assert "monitor.yaml" not in problem


def test_the_sqlite_file_is_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path in the settings file is relative to that file, as it says."""
    (tmp_path / "cfg").mkdir()
    path = write_config(tmp_path / "cfg", "database:\n  url: sqlite:///data/m.db\n")
    urls = set()
    for folder in (tmp_path, tmp_path / "cfg", Path("/")):
        monkeypatch.chdir(folder)
        urls.add(load_config(path).settings.database.url)
    assert urls == {f"sqlite:///{tmp_path / 'cfg' / 'data' / 'm.db'}"}


def test_paths_from_the_environment_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cfg").mkdir()
    path = write_config(tmp_path / "cfg", "feeds: feeds.yaml\n")
    shutil.copy(tmp_path / "cfg" / "topics.yaml", tmp_path / "cfg" / "topics-edit.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MONITOR_TOPICS", "cfg/topics-edit.yaml")
    monkeypatch.setenv("MONITOR_DATABASE__URL", "sqlite:///here.db")
    monkeypatch.setenv("MONITOR_DIGEST__ATOM_DIR", "atom")
    config = load_config(path)
    assert config.topics_path == Path("cfg/topics-edit.yaml")
    assert config.topics
    assert config.settings.database.url == f"sqlite:///{tmp_path / 'here.db'}"
    assert config.settings.digest.atom_dir == str(tmp_path / "atom")


def test_env_points_at_other_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, "feeds: feeds.yaml\n")
    other = tmp_path / "other-feeds.yaml"
    other.write_text("feeds:\n  - url: https://example.net/atom.xml\n    name: Other\n")
    monkeypatch.setenv("MONITOR_CONFIG", str(path))
    monkeypatch.setenv("MONITOR_FEEDS", str(other))
    config = load_config()
    assert [feed.url for feed in config.feeds] == ["https://example.net/atom.xml"]


def test_missing_files_are_problems_not_crashes(tmp_path: Path) -> None:
    (tmp_path / "monitor.yaml").write_text("feeds: nowhere.yaml\ntopics: nothing.yaml\n")
    problems = problems_of(tmp_path / "monitor.yaml")
    assert len(problems) == 2
    assert all("file not found" in p for p in problems)


def test_opml_feed_list(tmp_path: Path) -> None:
    path = write_config(tmp_path, "feeds: feeds.opml\n")
    (tmp_path / "feeds.opml").write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>'
        '<outline text="News"><outline text="A" type="rss" xmlUrl="https://a.example/rss"/>'
        "</outline></body></opml>"
    )
    config = load_config(path)
    assert [(f.url, f.name) for f in config.feeds] == [("https://a.example/rss", "A")]


def test_smtp_user_without_a_password_in_the_environment_is_a_problem(tmp_path: Path) -> None:
    path = write_config(tmp_path, "smtp:\n  host: mail.example.org\n  user: monitor\n")
    (problem,) = problems_of(path)
    assert f"{path}:3: smtp.password:" in problem
    assert "MONITOR_SMTP__PASSWORD" in problem


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A few hundred bytes that expand to ``width ** levels`` values through aliases."""
    lines = ["x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"x{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("where", ["feeds", "topics", "settings"])
def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path, where: str) -> None:
    bomb = _alias_bomb()
    path = write_config(tmp_path, "feeds: feeds.yaml\ntopics: topics.yaml\n")
    target = {"feeds": "feeds.yaml", "topics": "topics.yaml", "settings": "monitor.yaml"}
    file = tmp_path / target[where]
    file.write_text(file.read_text(encoding="utf-8") + bomb, encoding="utf-8")
    problems = problems_of(path)
    (problem,) = [p for p in problems if "alias" in p]
    assert problem.startswith(f"{file}:")
    assert "more than 100,000 values" in problem


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, "feeds: feeds.yaml\ntopics: topics.yaml\nloop: &l [*l]\n")
    (problem,) = [p for p in problems_of(path) if "alias" in p]
    assert "refers to itself" in problem


def test_a_few_aliases_still_work(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "feeds: feeds.yaml\ntopics: topics.yaml\n",
        "feeds:\n  - &first {url: 'https://example.org/a.xml', language: en}\n"
        "  - {<<: *first, url: 'https://example.org/b.xml'}\n",
    )
    config = load_config(path)
    assert [feed.language for feed in config.feeds] == ["en", "en"]


def test_a_database_left_where_earlier_versions_looked_is_named_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cfg").mkdir()
    path = write_config(tmp_path / "cfg", "database:\n  url: sqlite:///data/m.db\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "m.db").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:2: database.url: ")
    assert str(tmp_path / "data" / "m.db") in problem and "move it" in problem


def test_every_problem_is_listed_at_once_with_the_nearest_names(tmp_path: Path) -> None:
    """A misspelt setting does not hide a missing seed file, a query error or an unknown
    subscriber topic: each is listed with its line, and a typo with the name it missed."""
    (tmp_path / "cfg").mkdir()
    path = write_config(
        tmp_path / "cfg",
        "feeds: feeds.yaml\ntopics: topics.yaml\npolling:\n  interval_minuts: 5\n"
        "subscribers:\n  - name: a\n    email: a@desk.test\n    topics: [nk-trops]\n",
    )
    topics = path.parent / "topics.yaml"
    text = topics.read_text(encoding="utf-8")
    text = text.replace("../seeds/nk-troops-russia.txt", "../seeds/missing.txt", 1)
    text = text.replace("@north_korea NEAR/15 @troops", "north korea NEAR/15 @troops", 1)
    text = text.replace(
        "AND (@russia OR @nk_russia)\n    exclude", "AND (@russia OR @nk_rusia)\n    exclude"
    )
    topics.write_text(text, encoding="utf-8")
    found = problems_of(path)
    assert len(found) == 5, found
    typo, query, unknown_list, seed, subscriber = sorted(found, key=_kind)
    assert typo.endswith("polling.interval_minuts: unknown key; did you mean `interval_minutes`?")
    assert "topics[0].query (topic nk-troops):" in query
    assert 'quote them: "north korea"' in query
    assert "topics[1].query (topic nk-russia-pact):" in unknown_list
    assert "did you mean @nk_russia?" in unknown_list
    assert "cannot read seed document" in seed and "missing.txt" in seed
    assert "no topic 'nk-trops' in the topic file (did you mean 'nk-troops'?" in subscriber
    for problem in found:  # each names its file and line
        assert problem.split(": ")[0].rsplit(":", 1)[1].isdigit(), problem


def _kind(problem: str) -> int:
    order = ("interval_minuts", "topics[0].query", "topics[1].query", "seeds", "subscribers")
    return next(i for i, word in enumerate(order) if word in problem)
