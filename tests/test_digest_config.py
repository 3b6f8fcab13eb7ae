"""Subscriber settings are validated at load, with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.settings import schedule_crontab


def add_subscribers(config_dir: Path, yaml: str) -> Path:
    path = config_dir / "monitor.yaml"
    path.write_text(path.read_text(encoding="utf-8") + yaml, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("schedule", "time", "crontab"),
    [
        ("daily", "07:00", "0 7 * * *"),
        ("daily", "18:05", "5 18 * * *"),
        ("daily 07:30", "07:00", "30 7 * * *"),
        ("hourly", "07:00", "0 * * * *"),
        ("hourly :15", "07:00", "15 * * * *"),
        ("0 7 * * 1-5", "07:00", "0 7 * * 1-5"),
    ],
)
def test_schedules_become_crontabs(schedule: str, time: str, crontab: str) -> None:
    assert schedule_crontab(schedule, time) == crontab


def test_a_valid_subscriber_loads(config_dir: Path) -> None:
    path = add_subscribers(
        config_dir,
        "subscribers:\n"
        "  - name: desk\n"
        "    email: desk@news.test\n"
        "    topics: [nk-troops]\n"
        "    schedule: '0 6 * * 1-5'\n"
        "    timezone: Europe/Berlin\n"
        "    format: text\n"
        "    max_stories: 10\n"
        "    alerts:\n"
        "      - topic: nk-troops\n"
        "        min_score: 5\n",
    )
    [subscriber] = load_config(path).settings.subscribers
    assert subscriber.crontab == "0 6 * * 1-5" and subscriber.alerts[0].min_score == 5


def test_every_subscriber_problem_is_listed_with_its_line(config_dir: Path) -> None:
    path = add_subscribers(
        config_dir,
        "subscribers:\n"
        "  - name: desk\n"
        "    email: not-an-address\n"
        "    topics: [nk-troops]\n"
        "    schedule: '61 * * * *'\n"
        "    timezone: Mars/Olympus\n"
        "  - name: ana\n"
        "    email: ana@desk.test\n"
        "    topics: [nk-troops, no-such-topic]\n"
        "    alerts:\n"
        "      - topic: also-missing\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "subscribers[0].email" in text and "e-mail address" in text
    assert "subscribers[0].schedule" in text and "crontab" in text
    assert "subscribers[0].timezone" in text and "Mars/Olympus" in text
    # the topic cross-check runs only once the settings themselves are valid
    assert "no-such-topic" not in text


def test_unknown_topics_in_a_subscription_are_config_problems(config_dir: Path) -> None:
    path = add_subscribers(
        config_dir,
        "subscribers:\n"
        "  - name: ana\n"
        "    email: ana@desk.test\n"
        "    topics: [nk-troops, no-such-topic]\n"
        "    alerts:\n"
        "      - topic: also-missing\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = [str(p) for p in caught.value.problems]
    assert any(
        "monitor.yaml:" in p and "subscribers[0].topics[1]" in p and "no-such-topic" in p
        for p in lines
    ), lines
    assert any("subscribers[0].alerts[0].topic" in p and "also-missing" in p for p in lines)
