"""`monitor digest preview|send` and `monitor export atom` as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import load_config
from monitor.digest.run import Digests
from monitor.models import utcnow
from monitor.settings import SubscriberSettings
from monitor.storage import digests as db
from monitor.storage.store import Store
from testkit.smtp import LocalSMTP
from tests.support.digest_data import SAMPLES, T0, digest_config, stored_samples
from tests.test_cli_e2e import MONITOR


@pytest.fixture
def smtp() -> Iterator[LocalSMTP]:
    with LocalSMTP() as server:
        yield server


@pytest.fixture
def config_path(config_dir: Path, database_url: str, smtp: LocalSMTP) -> Path:
    digest_config(config_dir, database_url, smtp.port)
    store = Store.open(database_url)
    try:
        stored_samples(store)
    finally:
        store.close()
    return config_dir / "monitor.yaml"


def cli(config_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--config", str(config_path), *args])
    return result.exit_code, result.output


def test_preview_renders_without_sending_or_marking(
    config_path: Path, smtp: LocalSMTP, database_url: str, tmp_path: Path
) -> None:
    code, output = cli(config_path, "digest", "preview", "--subscriber", "ana")
    assert code == 0, output
    assert "North Korean troops reach the Kursk front" in output
    out = tmp_path / "preview.html"
    code, output = cli(config_path, "digest", "preview", "--out", str(out))
    assert code == 0, output
    assert "<mark" in out.read_text(encoding="utf-8")
    store = Store.open(database_url)
    try:
        assert db.outbox_counts(store) == {}
    finally:
        store.close()
    assert smtp.received == []


def test_preview_says_when_nothing_would_be_sent(config_path: Path, smtp: LocalSMTP) -> None:
    code, output = cli(config_path, "digest", "send", "--subscriber", "ana")
    assert code == 0, output
    code, output = cli(config_path, "digest", "preview", "--subscriber", "ana")
    assert code == 0, output
    assert output.startswith("ana: nothing new since the last digest: `digest send` would send")
    assert "Subject:" not in output  # no mail that would never be sent


def test_send_sends_at_once_and_then_nothing(config_path: Path, smtp: LocalSMTP) -> None:
    code, output = cli(config_path, "digest", "send", "--subscriber", "ana")
    assert code == 0, output
    assert "ana: 1 sent" in output
    code, output = cli(config_path, "digest", "send")
    assert code == 0 and "ana: 0 sent" in output
    assert len(smtp.received) == 1


def test_send_reports_a_refusal_with_exit_status_1(config_path: Path, smtp: LocalSMTP) -> None:
    smtp.fail_next("550")
    code, output = cli(config_path, "digest", "send")
    assert code == 1 and "1 refused" in output


def test_an_unknown_subscriber_is_a_usage_error(config_path: Path) -> None:
    code, output = cli(config_path, "digest", "preview", "--subscriber", "bob")
    assert code == 2 and "no subscriber 'bob'" in output


def test_export_atom_writes_one_entry_per_story(config_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "troops.xml"
    code, output = cli(config_path, "export", "atom", "--topic", "nk-troops", "--out", str(out))
    assert code == 0, output
    feed = ET.parse(out).getroot()
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.findtext("a:title", namespaces=ns) for e in feed.findall("a:entry", ns)]
    assert titles == ["北朝鮮兵、ロシア西部に展開か", "North Korean troops reach the Kursk front"]
    code, output = cli(config_path, "export", "atom", "--topic", "nope")
    assert code == 2


BO = "  - name: bo\n    email: bo@desk.test\n    topics: [nk-troops]\n    timezone: Etc/GMT+12\n"


def _at(moment: datetime) -> float:
    return (moment - T0) / timedelta(hours=1)


# As an older version stored them: year 1 shifted west, year 9999 east, overflowed.
OLD_DATES = (
    replace(SAMPLES[0], key="year-1", hours=_at(datetime(1, 1, 1, 6, tzinfo=UTC))),
    replace(SAMPLES[0], key="year-9999", hours=_at(datetime(9999, 12, 31, 20, tzinfo=UTC))),
)


def test_dates_stored_by_an_older_version_render_in_every_zone(
    config_dir: Path, database_url: str, smtp: LocalSMTP
) -> None:
    digest_config(config_dir, database_url, smtp.port, extra=BO)
    store = Store.open(database_url)
    try:
        stored_samples(store, SAMPLES + OLD_DATES)
    finally:
        store.close()
    code, output = cli(config_dir / "monitor.yaml", "digest", "send")
    assert code == 0, output
    assert "ana: 1 sent" in output and "bo: 1 sent" in output
    assert len(smtp.received) == 2


def test_one_subscribers_failure_does_not_stop_the_others(
    config_dir: Path, database_url: str, smtp: LocalSMTP, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest_config(config_dir, database_url, smtp.port, extra=BO)
    store = Store.open(database_url)
    try:
        stored_samples(store)
    finally:
        store.close()
    compose = Digests.compose

    def failing_for_ana(
        self: Digests, subscriber: SubscriberSettings, *args: Any, **kwargs: Any
    ) -> EmailMessage:
        if subscriber.name == "ana":  # the one fault injected: a bug in composing for one
            raise RuntimeError("template broke")
        return compose(self, subscriber, *args, **kwargs)

    monkeypatch.setattr(Digests, "compose", failing_for_ana)
    code, output = cli(config_dir / "monitor.yaml", "digest", "send")
    assert code == 1, output
    assert "ana: not sent: RuntimeError: template broke" in output
    assert "bo: 1 sent" in output and "for ana" in output
    assert [m["To"].addresses[0].username for m in smtp.parsed()] == ["bo"]


def test_a_rerun_within_a_lease_says_which_message_waits_and_till_when(
    config_path: Path, smtp: LocalSMTP, database_url: str
) -> None:
    store = Store.open(database_url)
    try:
        outbox_id = Digests(store, load_config(config_path)).enqueue("ana")
        # what a `digest send` killed (SIGKILL) between claiming and sending leaves
        assert db.claim_due(store, utcnow(), timedelta(minutes=5))
    finally:
        store.close()
    code, output = cli(config_path, "digest", "send")
    assert code == 1, output
    assert f"ana: message {outbox_id} (digest) not sent: held by an attempt" in output
    assert " UTC; it goes after that" in output
    assert smtp.received == []


def test_sigterm_stops_digest_send_safely_and_the_next_run_sends(
    config_path: Path, smtp: LocalSMTP
) -> None:
    smtp.handler.stall_seconds = 2
    smtp.fail_next("slow_rcpt")
    process = subprocess.Popen(
        [MONITOR, "--config", str(config_path), "digest", "send"],
        env={k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not smtp.rcpts and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 1 and "ana: stopped by a signal" in output, output[-3000:]
    assert smtp.received == []
    code, output = cli(config_path, "digest", "send")
    assert code == 0 and "ana: 1 sent" in output, output
    assert len(smtp.received) == 1
